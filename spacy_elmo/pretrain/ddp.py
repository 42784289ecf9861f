"""Data-parallel training with ``torch.distributed`` (gloo on CPU, NCCL on GPU).

Started by ``torchrun`` (``RANK``/``WORLD_SIZE``/``LOCAL_RANK`` in the environment) or by
hand. Every rank owns ``batch_size`` rows of the stream and its own LSTM states; gradients
are averaged with one flat all-reduce per step (the adaptive softmax leaves unused tail
clusters without gradients, which ``DistributedDataParallel`` would reject).
"""

import os
from dataclasses import dataclass
from typing import Iterable, List, Optional

import torch
import torch.distributed as dist
from torch import Tensor, nn

from ..pytorch.device import require_device


@dataclass(frozen=True, kw_only=True)
class DistContext:
    rank: int = 0
    world_size: int = 1
    device: torch.device = torch.device("cpu")

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    def barrier(self) -> None:
        if self.enabled:
            dist.barrier()

    def sum(self, tensor: torch.Tensor) -> torch.Tensor:
        """Sum over ranks (a copy)."""
        tensor = tensor.detach().clone()
        if self.enabled:
            dist.all_reduce(tensor)
        return tensor

    def any(self, flag: bool) -> bool:
        """True if ``flag`` is true on any rank (so all ranks take the same branch)."""
        if not self.enabled:
            return flag
        t = torch.tensor([1.0 if flag else 0.0], device=self.device)
        dist.all_reduce(t)
        return bool(t.item() > 0)


def init_distributed(device: Optional[str] = None) -> DistContext:
    """Join the process group if ``WORLD_SIZE`` > 1 in the environment. ``device`` (None:
    "auto") goes through the one device resolution, ``cuda:LOCAL_RANK`` under torchrun;
    E109 for a device this machine does not have."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    dev = require_device("auto" if device is None else device, local_rank=local)
    if world > 1 and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if dev.type == "cuda" else "gloo")
        if dev.type == "cuda":
            torch.cuda.set_device(dev)
    return DistContext(rank=rank, world_size=world, device=dev)


def broadcast_parameters(module: nn.Module, ctx: DistContext) -> None:
    """Give every rank rank 0's parameters."""
    if ctx.enabled:
        for p in module.parameters():
            dist.broadcast(p.data, src=0)


def average_gradients(params: Iterable[nn.Parameter], ctx: DistContext) -> None:
    """Average gradients over ranks in one flat all-reduce (missing gradients count as 0)."""
    if not ctx.enabled:
        return
    params = list(params)
    grads: List[Tensor] = []
    for p in params:
        if p.grad is None:
            p.grad = torch.zeros_like(p)
        grads.append(p.grad)
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    flat /= ctx.world_size
    offset = 0
    for p, g in zip(params, grads):
        n = p.numel()
        g.copy_(flat[offset : offset + n].view_as(p))
        offset += n


def cleanup(ctx: DistContext) -> None:
    if ctx.enabled and dist.is_initialized():
        dist.destroy_process_group()
