"""Which torch device the biLM runs on: spaCy's device unless the settings say otherwise.

spaCy chooses its device through thinc's current ops: ``spacy.require_gpu(N)``,
``spacy.prefer_gpu(N)`` and ``spacy train --gpu-id N`` make them ``CupyOps`` on GPU N, and
models built afterwards use those ops. With ``device = "auto"`` the biLM follows the ops of its
thinc model (CUDA device N is the same GPU for cupy and torch); "cpu", "cuda:N" and "mps"
choose explicitly. A GPU device this machine does not have falls back to the CPU with a
warning, so a pipeline saved on a GPU machine loads on a CPU-only one.
"""

import warnings
from typing import NamedTuple, Optional

from thinc.api import Ops

from ..errors import Warnings
from ..pytorch.device import FrameworkDevice, Machine, resolve_device, this_machine


class DeviceChoice(NamedTuple):
    """The torch device, and the warning to give when it is not what was asked for."""

    device: str
    warning: Optional[str] = None


def framework_device(*, ops_name: str, ops_device_id: int) -> FrameworkDevice:
    """thinc's ops as the framework device "auto" follows: "cupy" is CUDA GPU
    ``device_id`` (the same number for cupy and torch), "mps" Apple's GPU, else the CPU."""
    if ops_name == "cupy":
        return FrameworkDevice("cuda", ops_device_id)
    return FrameworkDevice("mps" if ops_name == "mps" else "cpu")


def select_device(
    setting: str, *, ops_name: str, ops_device_id: int, cuda_count: int, mps_available: bool
) -> DeviceChoice:
    """The torch device for a ``device`` setting (validated: "auto", "cpu", "cuda[:N]", "mps"),
    by :func:`spacy_elmo.pytorch.device.resolve_device`; a device this machine lacks falls
    back to the CPU with a warning (W021 for spaCy's own GPU, W020 for an explicit one).

    :param ops_name: ``name`` of the thinc model's ops: "cupy" on a GPU, "mps" on Apple
        silicon, else "numpy" (or another CPU backend).
    :param ops_device_id: ``device_id`` of those ops (the GPU number for "cupy").
    :param cuda_count: ``torch.cuda.device_count()``.
    :param mps_available: ``torch.backends.mps.is_available()``.
    """
    choice = resolve_device(
        setting,
        framework=framework_device(ops_name=ops_name, ops_device_id=ops_device_id),
        machine=Machine(cuda_count=cuda_count, mps_available=mps_available),
    )
    if choice.problem is None and choice.device is not None:
        return DeviceChoice(str(choice.device))
    if setting == "auto":
        return DeviceChoice("cpu", Warnings.W021.format(index=ops_device_id, count=cuda_count))
    cuda = setting.startswith("cuda")  # the count says more than "not available" here
    reason = f"torch sees {cuda_count} CUDA device(s)" if cuda else choice.problem
    return DeviceChoice("cpu", Warnings.W020.format(device=setting, reason=reason))


def device_for(setting: str, ops: Ops) -> str:
    """:func:`select_device` for this machine and ``ops``; warns when it falls back."""
    machine = this_machine()
    choice = select_device(
        setting,
        ops_name=ops.name,
        ops_device_id=ops.device_id,
        cuda_count=machine.cuda_count,
        mps_available=machine.mps_available,
    )
    if choice.warning is not None:
        warnings.warn(choice.warning)
    return choice.device
