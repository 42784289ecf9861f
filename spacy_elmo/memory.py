"""How much memory a device has, and the check that a size-like setting could ever fit in it.

Settings that size memory (the embedder's word-type cache, the spaCy component's layer cache
and tokens per forward pass) are refused with E115 when even their smallest cost exceeds the
device's whole memory: such a value can only fail later, deep inside torch or numpy, or
exhaust the machine. Values that pass may still run out of memory on a busy machine; the
check only rules out the impossible, so it never refuses a value that could work.
"""

import os
from pathlib import Path
from typing import Optional, Union

import torch

from .errors import ElmoInputError, Errors

# cgroup v2 and v1 limits: in a container they, not the host's RAM, bound what a process gets.
_CGROUP_LIMITS = ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes")


def host_memory() -> Optional[int]:
    """Bytes of RAM this process can have (physical memory, or a smaller cgroup limit);
    None where the platform does not say."""
    sizes = []
    try:
        sizes.append(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (AttributeError, ValueError, OSError):  # no sysconf (Windows) or no such name
        pass
    for limit in _CGROUP_LIMITS:
        try:
            text = Path(limit).read_text().strip()
        except OSError:
            continue
        if text.isdigit():  # "max": no limit
            sizes.append(int(text))
    return min(sizes) if sizes else None


def device_memory(device: Union[str, torch.device]) -> Optional[int]:
    """Bytes of memory of a torch device: a GPU's own, else the host's (MPS shares it)."""
    dev = torch.device(device)
    if dev.type == "cuda":
        return int(torch.cuda.get_device_properties(dev).total_memory)
    if dev.type in ("cpu", "mps"):
        return host_memory()
    return None


def format_bytes(n: int) -> str:
    """``n`` bytes for people: "512.0 GB"."""
    value = float(n)
    for unit in ("bytes", "KB", "MB", "GB", "TB", "PB"):
        if value < 1000 or unit == "PB":
            return f"{int(value)} bytes" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1000
    raise AssertionError("unreachable")


def check_fits(
    name: str,
    value: int,
    *,
    item_bytes: int,
    what: str,
    device: Union[str, torch.device],
    memory: Optional[int],
    advice: str = "",
) -> None:
    """E115 unless ``value`` items of ``item_bytes`` each fit in ``memory`` (the memory of
    ``device``; None: unknown, nothing is refused)."""
    if memory is None or value * item_bytes <= memory:
        return
    raise ElmoInputError(
        Errors.E115.format(
            name=name,
            value=value,
            need=format_bytes(value * item_bytes),
            what=what,
            memory=format_bytes(memory),
            device=f"the {torch.device(device)} device",
            most=memory // item_bytes,
            advice=advice,
        )
    )
