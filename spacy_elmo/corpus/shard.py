"""Which process embeds which lines (its device: ``resolve_device(..., local_rank=)`` of
:mod:`spacy_elmo.pytorch.device`, which puts ``cuda`` on ``cuda:LOCAL_RANK``).

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

import torch.distributed as dist

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
