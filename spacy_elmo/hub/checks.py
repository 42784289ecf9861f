"""Content checks run on a finished transfer before it may take its final name, and on a
cache entry before it is used; the size bound every transfer is held to.

An HTML error page, a login page or a truncated file saved under ``weights.hdf5`` would load
as a confusing h5py error much later; here it is caught at the source, with the URL. With the
options known, weights must be exactly the model those options describe: every dataset
present with its shape (and, for a fresh download, readable and finite).
"""

import hashlib
import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Optional

from ..errors import ElmoDownloadError, ElmoFormatError, Errors

if TYPE_CHECKING:
    from ..pytorch.config import ELMoConfig

HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
#: The HDF5 superblock sits at 0 or at a power of two >= 512 (a user block before it).
_SUPERBLOCK_OFFSETS = (0, 512, 1024, 2048, 4096, 8192)


def has_hdf5_signature(path: Path) -> bool:
    """Whether ``path`` starts (or, after a user block, continues) with the HDF5 signature."""
    with open(path, "rb") as f:
        for offset in _SUPERBLOCK_OFFSETS:
            f.seek(offset)
            if f.read(len(HDF5_SIGNATURE)) == HDF5_SIGNATURE:
                return True
    return False


def _head(path: Path, n: int = 40) -> bytes:
    with open(path, "rb") as f:
        return f.read(n)


def check_content(
    path: Path,
    kind: str,
    source: str,
    *,
    config: Optional["ELMoConfig"] = None,
    full: bool = True,
) -> Optional["ELMoConfig"]:
    """``kind``: ``"weights"``, ``"options"`` or ``"any"`` (nothing to check).

    Weights must carry the HDF5 signature (E408) and open as HDF5; with ``config`` every
    dataset must have the shape it implies, and with ``full`` also be readable and finite
    (E418). Options must be a valid options.json (E409); their config is returned. Errors
    name ``source``; the caller deletes the file.
    """
    if kind == "weights":
        _check_weights(path, source, config, full)
    if kind == "options":
        return _check_options(path, source)
    return None


def _check_weights(path: Path, source: str, config: Optional["ELMoConfig"], full: bool) -> None:
    if not has_hdf5_signature(path):
        head = _head(path)
        looks_html = head.lstrip().lower().startswith((b"<!doctype", b"<html", b"<?xml", b"<"))
        html = ": an HTML/XML page" if looks_html else ""
        raise ElmoDownloadError(Errors.E408.format(url=source, head=head, html=html))
    from ..weights.hdf5 import check_weights, iter_weights

    try:
        if config is None:
            _open_hdf5(path)
        elif full:  # reads every dataset once: unreadable chunks and NaNs fail here
            for _ in iter_weights(config, path):
                pass
        else:
            check_weights(config, path)
    except ElmoFormatError as e:
        raise ElmoDownloadError(Errors.E418.format(url=source, error=e)) from None


def _open_hdf5(path: Path) -> None:
    import h5py

    try:
        with h5py.File(path, "r"):
            pass
    except OSError as e:
        raise ElmoFormatError(f"not a readable HDF5 file: {e}") from None


def _check_options(path: Path, source: str) -> "ELMoConfig":
    from ..weights.hdf5 import check_size
    from ..weights.options import MAX_OPTIONS_BYTES, config_from_dict

    try:
        if path.stat().st_size > MAX_OPTIONS_BYTES:
            raise ValueError(f"{path.stat().st_size} bytes, more than an options file can be")
        value = json.loads(path.read_bytes().decode("utf8"))
        if not isinstance(value, dict):
            raise ValueError(f"a JSON {type(value).__name__}, not an object")
        config = config_from_dict(value)
        check_size(config)  # a crafted options file must not set the weights' size limit
        return config
    except (ValueError, UnicodeDecodeError, RecursionError) as e:  # ElmoFormatError included
        raise ElmoDownloadError(Errors.E409.format(url=source, error=e, head=_head(path))) from None


#: What HDF5 adds to the raw float32 data: measured 30 KB on the 0.4 MB test model (33
#: datasets, contiguous) and 103 KB on the 12 MB default model (29 datasets, chunked with
#: Fletcher-32), 0.9%; AllenNLP's original file is 31 KB over its 374 MB of parameters.
#: 1 MiB plus 2% leaves room for any layout while still stopping a wrong file early.
HDF5_MARGIN_BYTES = 1 << 20
HDF5_MARGIN_FRACTION = 0.02


def size_limit(kind: str, config: Optional["ELMoConfig"] = None) -> int:
    """The most bytes a file of ``kind`` can have: options.json the loader's limit, weights
    the float32 data its options imply plus HDF5's overhead (without options: the largest
    biLM the loader accepts); anything else is held to that same largest size."""
    from ..weights.hdf5 import MAX_PARAMETERS, expected_shapes
    from ..weights.options import MAX_OPTIONS_BYTES

    if kind == "options":
        return MAX_OPTIONS_BYTES
    if kind == "weights" and config is not None:
        data = sum(4 * math.prod(shape) for shape in expected_shapes(config).values())
    else:
        data = 4 * MAX_PARAMETERS
    return int(data * (1 + HDF5_MARGIN_FRACTION)) + HDF5_MARGIN_BYTES


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def check_sha256(path: Path, expected: Optional[str], source: str) -> None:
    """E410 when ``expected`` is given and differs; nothing to check when it is None."""
    if expected is None:
        return
    found = sha256_of(path)
    if found != expected.lower():
        raise ElmoDownloadError(Errors.E410.format(url=source, found=found, expected=expected))


def kind_of(name: str) -> str:
    """The check a file name asks for: ``.json`` options, ``.hdf5``/``.h5`` weights."""
    lower = name.lower()
    if lower.endswith(".json"):
        return "options"
    if lower.endswith((".hdf5", ".h5")):
        return "weights"
    return "any"


__all__ = [
    "check_content",
    "check_sha256",
    "has_hdf5_signature",
    "kind_of",
    "sha256_of",
    "size_limit",
]
