"""weights.hdf5 <-> :class:`ELMoBiLM` parameters, in the bilm-tf layout (docs/format.md §3).

Every dataset is checked for presence, shape, dtype and finiteness before anything is
copied, so a mismatched or corrupt file fails with a coded message instead of a torch error.
"""

from pathlib import Path
from typing import Dict, Iterator, Tuple, Union

import numpy as np
import torch

from ..errors import ElmoFormatError, ElmoInputError, Errors
from ..pytorch.bilm import ELMoBiLM
from ..pytorch.config import ELMoConfig


def _lstm_prefix(direction: int, layer: int) -> str:
    return f"RNN_{direction}/RNN/MultiRNNCell/Cell{layer}/LSTMCell"


def expected_shapes(config: ELMoConfig) -> Dict[str, Tuple[int, ...]]:
    """Every dataset of a weights file for ``config`` and its shape."""
    c, l = config.char_cnn, config.lstm
    e, F, P, D = c.embedding_dim, c.n_filters, l.projection_dim, l.dim
    shapes: Dict[str, Tuple[int, ...]] = {"char_embed": (c.n_characters - 1, e)}
    for i, (w, n) in enumerate(c.filters):
        shapes[f"CNN/W_cnn_{i}"] = (1, w, e, n)
        shapes[f"CNN/b_cnn_{i}"] = (n,)
    for k in range(c.n_highway):
        for name in ("carry", "transform"):
            shapes[f"CNN_high_{k}/W_{name}"] = (F, F)
            shapes[f"CNN_high_{k}/b_{name}"] = (F,)
    shapes["CNN_proj/W_proj"] = (F, P)
    shapes["CNN_proj/b_proj"] = (P,)
    for d in range(2):
        for layer in range(l.n_layers):
            prefix = _lstm_prefix(d, layer)
            shapes[f"{prefix}/W_0"] = (2 * P, 4 * D)
            shapes[f"{prefix}/B"] = (4 * D,)
            shapes[f"{prefix}/W_P_0"] = (D, P)
    return shapes


def _open(path: Path):
    import h5py

    if not path.is_file():
        raise ElmoFormatError(Errors.E001.format(what="weights file", path=path))
    try:
        return h5py.File(path, "r")
    except OSError as e:
        raise ElmoFormatError(Errors.E002.format(path=path, error=e)) from None


def iter_weights(config: ELMoConfig, path: Union[str, Path]) -> Iterator[Tuple[str, np.ndarray]]:
    """Check every dataset that ``config`` needs, then read them one at a time (so loading
    never holds a second full copy of the weights).

    :returns: ``(dataset name, float32 array in the file's layout)`` pairs.
    :raises ElmoFormatError: For a missing, non-HDF5, truncated, mismatched or corrupt file.
    """
    path = Path(path)
    shapes = expected_shapes(config)
    F, P = config.char_cnn.n_filters, config.lstm.projection_dim
    with _open(path) as f:
        present = {}
        for key, shape in shapes.items():
            if key not in f:
                if key.startswith("CNN_proj/") and F == P:
                    # bilm-tf only writes the projection when F != P: identity then.
                    continue
                lstm = config.lstm
                desc = (
                    f"dim {lstm.dim}, projection_dim {lstm.projection_dim}, "
                    f"n_layers {lstm.n_layers}, n_highway {config.char_cnn.n_highway}, "
                    f"{len(config.char_cnn.filters)} filters"
                )
                raise ElmoFormatError(Errors.E003.format(path=path, key=key, config=desc))
            dataset = f[key]
            if not hasattr(dataset, "shape"):
                raise ElmoFormatError(
                    Errors.E004.format(path=path, key=key, found="a group", expected=shape)
                )
            if tuple(dataset.shape) != shape:
                raise ElmoFormatError(
                    Errors.E004.format(
                        path=path, key=key, found=tuple(dataset.shape), expected=shape
                    )
                )
            if dataset.dtype.kind != "f":
                raise ElmoFormatError(Errors.E011.format(path=path, key=key, dtype=dataset.dtype))
            present[key] = dataset
        for key in shapes:
            if key not in present:
                eye = key.endswith("W_proj")
                yield key, np.eye(P, dtype=np.float32) if eye else np.zeros(P, dtype=np.float32)
                continue
            try:
                value = np.asarray(present[key][...], dtype=np.float32)
            except (OSError, RuntimeError, ValueError, KeyError) as e:
                raise ElmoFormatError(Errors.E009.format(path=path, key=key, error=e)) from None
            bad = int(value.size - np.isfinite(value).sum())
            if bad:
                raise ElmoFormatError(Errors.E010.format(path=path, key=key, count=bad))
            yield key, value


def read_weights(config: ELMoConfig, path: Union[str, Path]) -> Dict[str, np.ndarray]:
    """Every dataset that ``config`` needs, checked, as float32 arrays keyed by name."""
    return dict(iter_weights(config, path))


def _pairs(bilm: ELMoBiLM) -> Iterator[Tuple[str, torch.Tensor, str]]:
    """(dataset, parameter, how) for every dataset; ``how`` names the layout transform."""
    cnn, lstm, config = bilm.char_cnn, bilm.lstm, bilm.config
    yield "char_embed", cnn.char_embed, "skip_row0"
    for i, conv in enumerate(cnn.conv_layers):
        if conv.bias is None:
            raise ElmoInputError(
                Errors.E110.format(name=f"convs[{i}]", value=conv, expected="bias=True")
            )
        yield f"CNN/W_cnn_{i}", conv.weight, "conv"
        yield f"CNN/b_cnn_{i}", conv.bias, "copy"
    F = config.char_cnn.n_filters
    for k in range(config.char_cnn.n_highway):
        w, b = cnn.highway.weight[k], cnn.highway.bias[k]
        yield f"CNN_high_{k}/W_transform", w[:, :F], "copy"
        yield f"CNN_high_{k}/W_carry", w[:, F:], "copy"
        yield f"CNN_high_{k}/b_transform", b[:F], "copy"
        yield f"CNN_high_{k}/b_carry", b[F:], "copy"
    yield "CNN_proj/W_proj", cnn.proj_weight, "copy"
    yield "CNN_proj/b_proj", cnn.proj_bias, "copy"
    P = config.lstm.projection_dim
    for d in range(2):
        for layer in range(config.lstm.n_layers):
            prefix = _lstm_prefix(d, layer)
            yield f"{prefix}/W_0:input", lstm.input_weight[layer][d], "rows_input"
            yield f"{prefix}/W_0:recurrent", lstm.recurrent_weight[layer][d], "rows_recurrent"
            yield f"{prefix}/B", lstm.bias[layer][d], "copy"
            yield f"{prefix}/W_P_0", lstm.proj_weight[layer][d], "copy"


def load_weights(bilm: ELMoBiLM, path: Union[str, Path]) -> None:
    """Copy the weights of a bilm-tf/AllenNLP weights.hdf5 file into ``bilm``.

    Presence, shapes and dtypes of all datasets are checked before the first copy; datasets
    are then read one at a time, so peak memory is the model plus its largest matrix. If a
    dataset turns out unreadable or non-finite, the error leaves ``bilm`` partly loaded:
    discard it.
    """
    P = bilm.config.lstm.projection_dim
    targets: Dict[str, list] = {}
    for key, param, how in _pairs(bilm):
        targets.setdefault(key.split(":")[0], []).append((param, how))
    with torch.no_grad():
        for name, array in iter_weights(bilm.config, path):
            value = torch.from_numpy(array)
            for param, how in targets[name]:
                if how == "skip_row0":
                    param[0].zero_()
                    param[1:].copy_(value)
                elif how == "conv":
                    param.copy_(value[0].permute(2, 1, 0))  # (1, w, e, n) -> (n, e, w)
                elif how == "rows_input":
                    param.copy_(value[:P])
                elif how == "rows_recurrent":
                    param.copy_(value[P:])
                else:
                    param.copy_(value)


def save_weights(bilm: ELMoBiLM, path: Union[str, Path]) -> None:
    """Write ``bilm``'s weights as a bilm-tf weights.hdf5 that AllenNLP loads.

    The file is written next to ``path`` and moved into place, so a crash never leaves a
    half-written file behind.
    """
    import h5py

    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    # Dataset name -> array, in _pairs order; W_0's input and recurrent rows are collected
    # apart ({how: rows}) and stacked when written.
    arrays: Dict[str, Union[np.ndarray, Dict[str, np.ndarray]]] = {}
    rows: Dict[str, Dict[str, np.ndarray]] = {}
    for key, param, how in _pairs(bilm):
        tensor = param.detach().to("cpu", torch.float32)
        name = key.split(":")[0]
        if how == "skip_row0":
            arrays[name] = tensor[1:].numpy()
        elif how == "conv":
            arrays[name] = tensor.permute(2, 1, 0).unsqueeze(0).numpy()
        elif how in ("rows_input", "rows_recurrent"):
            parts = arrays[name] = rows.setdefault(name, {})
            parts[how] = tensor.numpy()
        else:
            arrays[name] = tensor.contiguous().numpy()
    with h5py.File(tmp, "w") as f:
        for name, value in arrays.items():
            if isinstance(value, dict):
                value = np.concatenate([value["rows_input"], value["rows_recurrent"]])
            f.create_dataset(name, data=np.ascontiguousarray(value, dtype="<f4"))
    tmp.replace(path)


def load_bilm(
    options_file: Union[str, Path],
    weight_file: Union[str, Path],
    *,
    device: Union[str, torch.device] = "cpu",
    trainable: bool = False,
) -> ELMoBiLM:
    """Build a biLM from an options.json + weights.hdf5 pair.

    :param trainable: Keep gradients on (for fine-tuning or continued pretraining);
        by default the biLM is frozen and in eval mode.
    """
    from .options import load_options

    config = load_options(options_file)
    bilm = ELMoBiLM(config)
    load_weights(bilm, weight_file)
    bilm = bilm.to(_device(device))
    bilm.requires_grad_(trainable)
    return bilm.train(trainable)


def _device(device: Union[str, torch.device]) -> torch.device:
    try:
        dev = torch.device(device)
        if dev.type == "cuda" and not torch.cuda.is_available():
            raise RuntimeError("CUDA is not available in this torch build or machine")
        return dev
    except RuntimeError as e:
        raise ElmoFormatError(Errors.E109.format(device=device, error=e)) from None
