"""Which process embeds which lines, and on which device.

Under ``torchrun`` (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK`` in the environment) every process
joins a gloo process group, used only to wait for the others before the main process
assembles the output: no tensors travel, so gloo serves CPU and GPU runs alike. Chunk ``k``
of the input belongs to rank ``k % world_size``; the chunks and their batches do not depend
on the number of processes, so neither does the output.
"""

import os
from dataclasses import dataclass
from datetime import timedelta
from typing import Mapping, Optional

import torch
import torch.distributed as dist

from ..errors import ElmoInputError, Errors
from ..pytorch.device import device_problem

#: How long a finished process waits for the slowest one (ranks can be hours apart).
BARRIER_TIMEOUT = timedelta(days=7)


@dataclass(frozen=True, kw_only=True)
class Shard:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def owns(self, chunk_index: int) -> bool:
        return chunk_index % self.world_size == self.rank

    def barrier(self) -> None:
        if self.world_size > 1:
            dist.barrier()


def shard_from_env(env: Optional[Mapping[str, str]] = None) -> Shard:
    """The process's place in a ``torchrun`` launch (one process without one)."""
    env = os.environ if env is None else env
    return Shard(
        rank=int(env.get("RANK", "0")),
        world_size=int(env.get("WORLD_SIZE", "1")),
        local_rank=int(env.get("LOCAL_RANK", "0")),
    )


def join(shard: Shard) -> None:
    """Join the process group (a no-op for one process)."""
    if shard.world_size > 1 and not dist.is_initialized():
        dist.init_process_group(backend="gloo", timeout=BARRIER_TIMEOUT)


def leave(shard: Shard) -> None:
    if shard.world_size > 1 and dist.is_initialized():
        dist.destroy_process_group()


def resolve_device(device: str, shard: Shard) -> str:
    """``cuda`` -> ``cuda:LOCAL_RANK`` (one GPU per process on a node); an explicit index or
    ``cpu`` stays as given."""
    try:
        dev = torch.device(device)
    except (RuntimeError, ValueError) as e:
        raise ElmoInputError(Errors.E509.format(device=device, reason=e)) from None
    if dev.type == "cuda" and dev.index is None:
        return f"cuda:{shard.local_rank}"
    return str(dev)


def check_device(device: str, *, requested: Optional[str] = None) -> None:
    """E509 (with the CLI's fix) when a CUDA device is asked for and cannot be used.
    ``requested``: what the user wrote, for the message (default ``device``)."""
    _, problem = device_problem(device, types=("cpu", "cuda"))
    if problem is not None:
        shown = device if requested is None else requested
        raise ElmoInputError(Errors.E509.format(device=shown, reason=problem))
