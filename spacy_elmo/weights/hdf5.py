"""weights.hdf5 <-> :class:`ELMoBiLM` parameters, in the bilm-tf layout (docs/format.md §3).

Every dataset is checked for presence, shape, dtype and finiteness before anything is
copied, so a mismatched or corrupt file fails with a coded message instead of a torch error.
"""

from pathlib import Path
from typing import Dict, Iterator, List, Optional, Tuple, Union, cast

import numpy as np
import torch

from ..errors import ElmoFormatError, ElmoInputError, Errors
from ..pytorch.bilm import ELMoBiLM
from ..pytorch.config import ELMoConfig
from ..pytorch.device import require_device
from .files import check_model_file
from .memory import ModelFile, file_label, is_file_object


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


#: Most parameters a biLM may have before anything is allocated: 8 GiB of float32, 20x the
#: largest published ELMo (94 million). Bounds what a crafted options.json can ask for.
MAX_PARAMETERS = 2**31


def check_size(config: ELMoConfig) -> None:
    """Raise E018 for a config whose parameters would not fit any sane memory budget."""
    n = config.n_parameters()
    if n > MAX_PARAMETERS:
        raise ElmoFormatError(
            Errors.E018.format(n_params=n, gib=n * 4 / 2**30, limit=MAX_PARAMETERS)
        )


def _open(source: ModelFile):
    """``source`` (a path, or an open binary file such as a ``MemoryFile``) opened for
    reading, with the name messages give it."""
    import h5py

    path = file_label(source)
    if not is_file_object(source):
        check_model_file(path, what="weights file", name="weights.hdf5")
    try:
        return h5py.File(source if is_file_object(source) else path, "r"), path
    except OSError as e:
        raise ElmoFormatError(Errors.E002.format(path=path, error=e)) from None


def _check_links(f, path: Path, key: str) -> None:
    """Refuse soft and external links on the way to ``key``: each path component must be a
    hard link (checked without following it, so an external file is never opened)."""
    import h5py

    parts = key.split("/")
    for i in range(1, len(parts) + 1):
        prefix = "/".join(parts[:i])
        link = f.get(prefix, getlink=True)
        if link is None:
            return  # missing: reported by the caller
        if not isinstance(link, h5py.HardLink):
            kind = "an external link" if isinstance(link, h5py.ExternalLink) else "a soft link"
            raise ElmoFormatError(Errors.E016.format(path=path, kind=kind, key=prefix))


def _check_dataset(f, path: Path, key: str, shape: Tuple[int, ...]):
    """The dataset ``key``, checked for kind, storage, shape and dtype (nothing read)."""
    dataset = f[key]
    if not hasattr(dataset, "shape"):
        raise ElmoFormatError(
            Errors.E004.format(path=path, key=key, found="a group", expected=shape)
        )
    if dataset.is_virtual or dataset.external:
        kind = "a virtual dataset" if dataset.is_virtual else "external raw storage"
        raise ElmoFormatError(Errors.E016.format(path=path, kind=kind, key=key))
    if tuple(dataset.shape) != shape:
        raise ElmoFormatError(
            Errors.E004.format(path=path, key=key, found=tuple(dataset.shape), expected=shape)
        )
    if dataset.dtype.kind != "f":
        raise ElmoFormatError(Errors.E011.format(path=path, key=key, dtype=dataset.dtype))
    return dataset


def _check_unused(f, path: Path, config: ELMoConfig) -> None:
    """Refuse a file with more LSTM layers, highway layers or filters than ``config``: the
    extra weights would be ignored without a word (a missing ``n_layers`` means 1)."""
    c, l = config.char_cnn, config.lstm
    extra = (
        (f"{_lstm_prefix(0, l.n_layers)}/W_0", f"n_layers {l.n_layers}", " (set lstm.n_layers"),
        (f"CNN_high_{c.n_highway}/W_carry", f"n_highway {c.n_highway}", ""),
        (f"CNN/W_cnn_{len(c.filters)}", f"{len(c.filters)} filters", ""),
    )
    for key, setting, hint in extra:
        _check_links(f, path, key)
        if key in f:
            if hint:
                hint = f"{hint}; a missing n_layers means 1, as in bilm-tf)"
            raise ElmoFormatError(
                Errors.E017.format(path=path, key=key, setting=setting, hint=hint)
            )


#: Unused entries named in E019 before the walk stops: a hostile file with millions of them
#: is not walked whole.
_MAX_EXTRAS = 10


def _check_no_extras(f, path: Path, config: ELMoConfig) -> None:
    """Refuse every entry (dataset, link, named type, empty group) that ``config`` does not
    imply: it would be ignored without a word, and it usually means the options belong to
    another model. Links are listed, never followed (HDF5 visits a hard-linked group once).
    Groups are named only when they hold nothing else to name (a hard-link cycle)."""
    import h5py

    needed = set(expected_shapes(config))
    groups = {key.rsplit("/", i)[0] for key in needed for i in range(1, key.count("/") + 1)}
    leaves: List[str] = []
    full: List[str] = []  # non-empty groups: their contents are named instead

    def visit(name: str) -> Optional[bool]:
        if name in needed or name in groups:
            return None
        hard = isinstance(f.get(name, getlink=True), h5py.HardLink)
        if hard and isinstance(f[name], h5py.Group) and len(f[name]):
            full.append(name)
            return None
        leaves.append(name)
        return True if len(leaves) >= _MAX_EXTRAS else None  # True stops the walk

    f.visit_links(visit)
    extras = leaves or full[:_MAX_EXTRAS]
    if extras:
        more = " (and perhaps more)" if len(leaves) >= _MAX_EXTRAS else ""
        keys = ", ".join(extras) + more
        raise ElmoFormatError(Errors.E019.format(path=path, keys=keys, config=_describe(config)))


def _describe(config: ELMoConfig) -> str:
    c, l = config.char_cnn, config.lstm
    return (
        f"dim {l.dim}, projection_dim {l.projection_dim}, n_layers {l.n_layers}, "
        f"n_highway {c.n_highway}, {len(c.filters)} filters"
    )


def _checked_datasets(f, path: Path, config: ELMoConfig) -> Dict[str, object]:
    """Every dataset that ``config`` needs, checked; absent optional ones left out. Any
    other entry in the file is refused (E017 for a further layer, E019 for the rest)."""
    shapes = expected_shapes(config)
    F, P = config.char_cnn.n_filters, config.lstm.projection_dim
    present = {}
    for key, shape in shapes.items():
        _check_links(f, path, key)
        if key not in f:
            if key.startswith("CNN_proj/") and F == P:
                # bilm-tf only writes the projection when F != P: identity then.
                continue
            raise ElmoFormatError(Errors.E003.format(path=path, key=key, config=_describe(config)))
        present[key] = _check_dataset(f, path, key, shape)
    _check_unused(f, path, config)
    _check_no_extras(f, path, config)
    return present


def check_weights(config: ELMoConfig, path: ModelFile) -> None:
    """Check a weights file against ``config`` without reading any weights or allocating
    the model: size bounds, links, presence, shapes and dtypes of every dataset, and no
    unused layers. Run before a biLM is built, so a wrong or hostile options.json fails
    with a coded error instead of allocating what it asks for.

    :raises ElmoFormatError: For the first problem found.
    """
    check_size(config)
    f, label = _open(path)
    with f:
        _checked_datasets(f, label, config)


def iter_weights(config: ELMoConfig, path: ModelFile) -> Iterator[Tuple[str, np.ndarray]]:
    """Check every dataset that ``config`` needs (see :func:`check_weights`), then read them
    one at a time (so loading never holds a second full copy of the weights).

    :returns: ``(dataset name, float32 array in the file's layout)`` pairs.
    :raises ElmoFormatError: For a missing, non-HDF5, truncated, mismatched or corrupt file
        (a checksum mismatch in a file written by :func:`save_weights` included).
    """
    check_size(config)
    shapes = expected_shapes(config)
    P = config.lstm.projection_dim
    f, label = _open(path)
    with f:
        present = _checked_datasets(f, label, config)
        for key in shapes:
            if key not in present:
                eye = key.endswith("W_proj")
                yield key, np.eye(P, dtype=np.float32) if eye else np.zeros(P, dtype=np.float32)
                continue
            try:
                value = np.asarray(present[key][...], dtype=np.float32)  # type: ignore[index]
            except (OSError, RuntimeError, ValueError, KeyError) as e:
                raise ElmoFormatError(Errors.E009.format(path=label, key=key, error=e)) from None
            bad = int(value.size - np.isfinite(value).sum())
            if bad:
                raise ElmoFormatError(Errors.E010.format(path=label, key=key, count=bad))
            yield key, value


def read_weights(config: ELMoConfig, path: ModelFile) -> Dict[str, np.ndarray]:
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
    for d in range(2):
        for layer in range(config.lstm.n_layers):
            prefix = _lstm_prefix(d, layer)
            yield f"{prefix}/W_0:input", lstm.input_weight[layer][d], "rows_input"
            yield f"{prefix}/W_0:recurrent", lstm.recurrent_weight[layer][d], "rows_recurrent"
            yield f"{prefix}/B", lstm.bias[layer][d], "copy"
            yield f"{prefix}/W_P_0", lstm.proj_weight[layer][d], "copy"


def load_weights(bilm: ELMoBiLM, path: ModelFile) -> None:
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
    half-written file behind. Every dataset carries HDF5's Fletcher-32 checksum, which HDF5
    verifies on every read (here, in AllenNLP and in any h5py program), so flipped bytes in
    the weights fail to load instead of giving wrong vectors.
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
            data = np.ascontiguousarray(value, dtype="<f4")
            f.create_dataset(name, data=data, chunks=_chunks(data), fletcher32=True)
    tmp.replace(path)


def _chunks(data: np.ndarray) -> Union[Tuple[int, ...], bool]:
    # One chunk per dataset, read in one go; HDF5's automatic chunking where one chunk
    # cannot hold it (a chunk is at most 4 GiB and has no empty dimension).
    return data.shape if all(data.shape) and data.nbytes < 2**31 else True


def load_bilm(
    options_file: ModelFile,
    weight_file: ModelFile,
    *,
    device: Union[str, torch.device] = "cpu",
    trainable: bool = False,
) -> ELMoBiLM:
    """Build a biLM from an options.json + weights.hdf5 pair (paths, or open binary files
    such as :class:`~spacy_elmo.weights.memory.MemoryFile`: bytes are read in memory).

    :param trainable: Keep gradients on (for fine-tuning or continued pretraining);
        by default the biLM is frozen and in eval mode.
    """
    from .manylangs import load_manylangs
    from .options import load_options

    folder = manylangs_folder(options_file)
    if folder is not None:  # an ELMoForManyLangs model: config.json and its folder
        return load_manylangs(folder, device=device).requires_grad_(trainable).train(trainable)
    config = load_options(options_file)
    check_weights(config, weight_file)  # before allocating what the options ask for
    bilm = ELMoBiLM(config)
    load_weights(bilm, weight_file)
    bilm = bilm.to(require_device(device))
    bilm.requires_grad_(trainable)
    return bilm.train(trainable)


def manylangs_folder(options_file: ModelFile) -> Optional[Path]:
    """The model folder when ``options_file`` names an ELMoForManyLangs model (its
    config.json or its folder); None for a bilm-tf options.json or an open file."""
    from .manylangs import model_folder_of

    if is_file_object(options_file):
        return None
    return model_folder_of(cast(Union[str, Path], options_file))
