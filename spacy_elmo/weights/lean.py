"""Loading a biLM for inference at one reduced precision without ever holding every float32
LSTM weight: each direction of each layer is read, converted (bfloat16 oneDNN layout or int8)
and its float32 matrices dropped before the next one is read, so peak memory is the
converted model plus one direction's float32 matrices (72 MB at full size). The char CNN's
highway layers are converted too (:meth:`ELMoBiLM.make_lean`), and memory the C allocator
keeps after each conversion is handed back (:func:`release_freed_memory`).
"""

import ctypes
from pathlib import Path
from typing import Callable, Dict, List, Tuple, Union

import torch
from torch import Tensor

from ..errors import ElmoInputError, Errors
from ..pytorch.bilm import ELMoBiLM
from ..pytorch.device import require_device
from ..pytorch.lstm import forget_gate_bias, precision_dtype
from ..pytorch.packing import packer
from ..pytorch.products import Direction
from .hdf5 import _pairs, check_weights, iter_weights, manylangs_folder
from .options import load_options

# The LSTM datasets of one (direction, layer): W_0 (input and recurrent rows), B, W_P_0.
_LSTM_PARTS = ("W_0", "B", "W_P_0")


def load_lean_bilm(
    options_file: Union[str, Path],
    weight_file: Union[str, Path],
    *,
    precision: str,
    device: Union[str, torch.device] = "cpu",
) -> ELMoBiLM:
    """A frozen biLM in eval mode whose LSTM holds its weights only in ``precision``
    ("bfloat16" or "int8"; see :meth:`ElmoLstm.make_lean`). The same checks as
    :func:`~spacy_elmo.weights.load_bilm` run before anything is allocated."""
    dtype = precision_dtype(precision)
    if dtype == torch.float32:
        raise ElmoInputError(Errors.E114.format(value=precision))
    dev = require_device(device)
    if dtype == torch.int8:
        from ..pytorch.quantize import int8_problem

        problem = int8_problem(dev)
        if problem is not None:
            raise ElmoInputError(Errors.E122.format(problem=problem))
    folder = manylangs_folder(options_file)
    if folder is not None:  # ELMoForManyLangs: its own reader, then the weights converted
        from .manylangs import load_manylangs

        bilm = load_manylangs(folder, device=dev)
        bilm.make_lean(dtype)
    else:
        config = load_options(options_file)
        check_weights(config, weight_file)
        bilm = ELMoBiLM.without_lstm_weights(config, device=dev)
        _load(bilm, weight_file, dtype, dev)
    return bilm.requires_grad_(False).eval()


def _load(bilm: ELMoBiLM, path: Union[str, Path], dtype: torch.dtype, dev: torch.device) -> None:
    """Every dataset into ``bilm``: the char CNN copied and its highway converted once all of
    it is in (its datasets come first), each (direction, layer)'s LSTM matrices converted as
    soon as its three datasets are read."""
    targets = {key.split(":")[0]: (param, how) for key, param, how in _pairs(bilm)}
    pack, make = packer(dtype, dev)
    pending: Dict[Tuple[int, int], Dict[str, Tensor]] = {}
    packed: List[List[Direction]] = [[] for _ in range(bilm.config.lstm.n_layers)]
    with torch.no_grad():
        for name, array in iter_weights(bilm.config, path):
            if not name.startswith("RNN_"):
                _copy(targets[name], torch.from_numpy(array).to(dev))
                continue
            if bilm.char_cnn.highway.lean_dtype is None:
                targets.clear()  # its views of the float32 highway weights would keep them
                bilm.char_cnn.make_lean(dtype)
                release_freed_memory()
            d, layer, part = _lstm_key(name)
            pending.setdefault((d, layer), {})[part] = torch.from_numpy(array).to(dev)
            del array  # the only reference left is pending's: it goes with the pack
            if len(pending[(d, layer)]) == len(_LSTM_PARTS):
                packed[layer].append(_pack(bilm, pack, pending.pop((d, layer)), d, layer))
                release_freed_memory()
    bilm.char_cnn.make_lean(dtype)  # a biLM without LSTM datasets never got there
    bilm.lstm.set_lean(dtype, [make(directions) for directions in packed])
    release_freed_memory()


def _pack(
    bilm: ELMoBiLM, pack: Callable[..., Direction], parts: Dict[str, Tensor], d: int, layer: int
) -> Direction:
    """One (direction, layer)'s matrices in their packed form; ``parts`` (the float32 W_0,
    B and W_P_0) are freed when the caller drops them, on return: no local keeps them."""
    cfg = bilm.config.lstm
    bilm.lstm.bias[layer][d].copy_(parts["B"])
    bias = parts["B"] + forget_gate_bias(cfg.dim, device=parts["B"].device)
    W_0, P = parts.pop("W_0"), cfg.projection_dim
    return pack(W_0[:P], W_0[P:], parts.pop("W_P_0"), bias)


def release_freed_memory() -> None:
    """Return memory that the C allocator still holds after frees to the system, where it
    can (glibc's ``malloc_trim``; elsewhere nothing). Loading frees a float32 matrix of 8 to
    64 MB per converted piece; glibc keeps such blocks (below its adaptive mmap threshold)
    for reuse, so without this they count in the process's memory for good."""
    try:
        trim = getattr(ctypes.CDLL(None), "malloc_trim", None)
    except (OSError, TypeError):  # no C library to ask (not a POSIX system)
        return
    if trim is not None:
        trim(0)


def _lstm_key(name: str) -> Tuple[int, int, str]:
    """``RNN_{d}/RNN/MultiRNNCell/Cell{layer}/LSTMCell/{part}`` -> (d, layer, part)."""
    parts = name.split("/")
    return int(parts[0][len("RNN_") :]), int(parts[3][len("Cell") :]), parts[-1]


def _copy(target: Tuple[Tensor, str], value: Tensor) -> None:
    """One char-CNN dataset into its parameter, in the layouts of ``hdf5._pairs``."""
    param, how = target
    if how == "skip_row0":
        param[0].zero_()
        param[1:].copy_(value)
    elif how == "conv":
        param.copy_(value[0].permute(2, 1, 0))  # (1, w, e, n) -> (n, e, w)
    else:
        param.copy_(value)
