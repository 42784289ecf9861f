"""The one device resolution: a device setting -> a torch device this machine has.

Every caller (the embedder, the weights loader, the spaCy architecture, ``embed``, ``bench``)
goes through :func:`resolve_device` and words its own coded error (or, for a saved spaCy
pipeline, its own fallback warning) from the problem it reports.

``"auto"`` means, in this order:

1. the framework's device, when the caller runs inside one (spaCy/thinc's current ops,
   passed as a :class:`FrameworkDevice`): a pipeline follows ``spacy.require_gpu(N)``;
2. else CUDA when torch sees a GPU (``cuda:LOCAL_RANK`` under ``torchrun``);
3. else the CPU, so on a CPU-only machine "auto" is exactly "cpu".
"""

from typing import Collection, NamedTuple, Optional, Union

import torch

from ..errors import ElmoInputError, Errors


class FrameworkDevice(NamedTuple):
    """The device the calling framework computes on: ``type`` "cuda" (with ``index``),
    "mps" or "cpu"."""

    type: str
    index: int = 0  # type: ignore[assignment]  # a field named like tuple.index


class Machine(NamedTuple):
    """What this machine offers torch (given explicitly in tests)."""

    cuda_count: int
    mps_available: bool


class DeviceChoice(NamedTuple):
    """``device``: the torch device (None where the setting is not a device name);
    ``problem``: why it cannot be used here, or None."""

    device: Optional[torch.device]
    problem: Optional[str]


def this_machine() -> Machine:
    cuda = torch.cuda.device_count() if torch.cuda.is_available() else 0
    return Machine(cuda_count=cuda, mps_available=torch.backends.mps.is_available())


def resolve_device(
    setting: Union[str, torch.device],
    *,
    framework: Optional[FrameworkDevice] = None,
    local_rank: Optional[int] = None,
    types: Optional[Collection[str]] = None,
    machine: Optional[Machine] = None,
) -> DeviceChoice:
    """The torch device for ``setting`` ("auto", "cpu", "cuda", "cuda:N", "mps" or a
    torch.device), and whether this machine can use it.

    :param framework: The caller's framework device; only "auto" follows it.
    :param local_rank: ``LOCAL_RANK`` under torchrun: "cuda" and "auto" then pick that GPU.
    :param types: The device types the caller supports (default: any torch knows).
    :param machine: What the machine offers (default: this one's).
    """
    machine = this_machine() if machine is None else machine
    if isinstance(setting, str) and setting == "auto":
        dev = _auto(framework, local_rank, machine)
    else:
        try:
            dev = torch.device(setting)
        except (RuntimeError, TypeError, ValueError) as e:  # torch's parser: not a name
            return DeviceChoice(None, str(e))
    if dev.type == "cuda" and dev.index is None:  # one GPU per process under torchrun
        dev = torch.device("cuda", local_rank or 0)
    return DeviceChoice(dev, _problem(dev, types, machine))


def require_device(
    setting: Union[str, torch.device], *, local_rank: Optional[int] = None
) -> torch.device:
    """:func:`resolve_device` for callers that need the device: E109, naming ``setting``
    and the problem, where this machine lacks it."""
    dev, problem = resolve_device(setting, local_rank=local_rank)
    if dev is None or problem is not None:
        raise ElmoInputError(Errors.E109.format(device=setting, error=problem))
    return dev


def _auto(
    framework: Optional[FrameworkDevice], local_rank: Optional[int], machine: Machine
) -> torch.device:
    if framework is not None:
        if framework.type == "cuda":
            return torch.device("cuda", framework.index)
        # Apple's GPU when torch has it, else the CPU (no warning: spaCy's own numpy fallback).
        return torch.device("mps" if framework.type == "mps" and machine.mps_available else "cpu")
    if machine.cuda_count > 0:
        return torch.device("cuda", local_rank or 0)
    return torch.device("cpu")


def _problem(
    dev: torch.device, types: Optional[Collection[str]], machine: Machine
) -> Optional[str]:
    if types is not None and dev.type not in types:
        return f"only {' and '.join(sorted(types))} devices are supported, not {dev.type!r}"
    if dev.type == "mps" and not machine.mps_available:
        return "torch has no MPS backend here"
    if dev.type != "cuda":
        return None
    if machine.cuda_count == 0:
        return "CUDA is not available to this torch build or machine"
    if dev.index is not None and dev.index >= machine.cuda_count:
        return f"this machine has {machine.cuda_count} CUDA device(s)"
    return None


def device_problem(
    device: Union[str, torch.device], *, types: Optional[Collection[str]] = None
) -> DeviceChoice:
    """:func:`resolve_device` under its former name (callers unpack ``device, problem``)."""
    return resolve_device(device, types=types)
