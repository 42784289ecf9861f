"""Whether a torch device name can be used on this machine: one check for every caller (the
weights loader, ``embed`` and ``bench``), each of which words the coded error for its users."""

from typing import Collection, Optional, Tuple, Union

import torch


def device_problem(
    device: Union[str, torch.device], *, types: Optional[Collection[str]] = None
) -> Tuple[Optional[torch.device], Optional[str]]:
    """``(torch.device, None)`` when ``device`` can be used here, else ``(parsed or None,
    why not)``. ``types``: the device types the caller supports (default: any torch knows)."""
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError, ValueError) as e:  # torch's parser: not a device name
        return None, str(e)
    if types is not None and dev.type not in types:
        return dev, f"only {' and '.join(sorted(types))} devices are supported, not {dev.type!r}"
    if dev.type != "cuda":
        return dev, None
    if not torch.cuda.is_available():
        return dev, "CUDA is not available to this torch build or machine"
    if dev.index is not None and dev.index >= torch.cuda.device_count():
        return dev, f"this machine has {torch.cuda.device_count()} CUDA device(s)"
    return dev, None
