"""Content checks run on a finished transfer before it may take its final name.

An HTML error page, a login page or a truncated file saved under ``weights.hdf5`` would load
as a confusing h5py error much later; here it is caught at the source, with the URL.
"""

import hashlib
import json
from pathlib import Path
from typing import Optional

from ..errors import ElmoDownloadError, Errors

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


def check_content(path: Path, kind: str, source: str) -> None:
    """``kind``: ``"weights"`` (HDF5 signature), ``"options"`` (a JSON object) or ``"any"``.

    Raises E408 / E409 naming ``source``; the caller deletes the file.
    """
    if kind == "weights" and not has_hdf5_signature(path):
        head = _head(path)
        looks_html = head.lstrip().lower().startswith((b"<!doctype", b"<html", b"<?xml", b"<"))
        html = ": an HTML/XML page" if looks_html else ""
        raise ElmoDownloadError(Errors.E408.format(url=source, head=head, html=html))
    if kind == "options":
        try:
            value = json.loads(path.read_bytes().decode("utf8"))
            if not isinstance(value, dict):
                raise ValueError(f"a JSON {type(value).__name__}, not an object")
        except (ValueError, UnicodeDecodeError) as e:
            raise ElmoDownloadError(
                Errors.E409.format(url=source, error=e, head=_head(path))
            ) from e


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


__all__ = ["check_content", "check_sha256", "has_hdf5_signature", "kind_of", "sha256_of"]
