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

import torch
from thinc.api import Ops

from ..errors import Warnings


class DeviceChoice(NamedTuple):
    """The torch device, and the warning to give when it is not what was asked for."""

    device: str
    warning: Optional[str] = None


def select_device(
    setting: str, *, ops_name: str, ops_device_id: int, cuda_count: int, mps_available: bool
) -> DeviceChoice:
    """The torch device for a ``device`` setting (validated: "auto", "cpu", "cuda[:N]", "mps").

    :param ops_name: ``name`` of the thinc model's ops: "cupy" on a GPU, "mps" on Apple
        silicon, else "numpy" (or another CPU backend).
    :param ops_device_id: ``device_id`` of those ops (the GPU number for "cupy").
    :param cuda_count: ``torch.cuda.device_count()``.
    :param mps_available: ``torch.backends.mps.is_available()``.
    """
    if setting == "auto":
        if ops_name == "cupy":
            if 0 <= ops_device_id < cuda_count:
                return DeviceChoice(f"cuda:{ops_device_id}")
            return DeviceChoice("cpu", Warnings.W021.format(index=ops_device_id, count=cuda_count))
        if ops_name == "mps" and mps_available:
            return DeviceChoice("mps")
        return DeviceChoice("cpu")
    if setting.startswith("cuda"):
        index = int(setting.partition(":")[2] or 0)
        if index < cuda_count:
            return DeviceChoice(f"cuda:{index}")
        reason = f"torch sees {cuda_count} CUDA device(s)"
        return DeviceChoice("cpu", Warnings.W020.format(device=setting, reason=reason))
    if setting == "mps" and not mps_available:
        reason = "torch has no MPS backend here"
        return DeviceChoice("cpu", Warnings.W020.format(device=setting, reason=reason))
    return DeviceChoice(setting)


def device_for(setting: str, ops: Ops) -> str:
    """:func:`select_device` for this machine and ``ops``; warns when it falls back."""
    choice = select_device(
        setting,
        ops_name=ops.name,
        ops_device_id=ops.device_id,
        cuda_count=torch.cuda.device_count() if torch.cuda.is_available() else 0,
        mps_available=torch.backends.mps.is_available(),
    )
    if choice.warning is not None:
        warnings.warn(choice.warning)
    return choice.device
