"""The download cache shared by every process, and the offline switch.

Layout under :func:`cache_dir` (``$SPACY_ELMO_CACHE``, else ``$XDG_CACHE_HOME/spacy-elmo``,
else ``~/.cache/spacy-elmo``)::

    urls/<first 16 hex of sha256(URL)>/<file name>      a complete, checked download
    urls/<...>/<file name>.part                          an interrupted one (resumed later)
    urls/<...>/<file name>.lock                          held while one process transfers
    urls/<...>/.source.json                              the URL (for humans)
    huggingface/                                         huggingface_hub's own cache (hf://)

A file without the ``.part`` suffix is only ever created by ``os.replace`` after every check
passed, so whatever is killed when, the cache never holds a file that loads half a model.
The record's name starts with a dot, which no downloaded file's name does (see
:func:`url_filename`), so a URL ending in ``source.json`` cannot overwrite it or be
overwritten by it. Caches of the previous layout (``source.json``) load as they are: their
files are checked on every use like any other entry.
"""

import hashlib
import json
import os
from pathlib import Path
from typing import Optional
from urllib.parse import unquote, urlsplit

from ..errors import ElmoDownloadError, Errors

CACHE_ENV = "SPACY_ELMO_CACHE"
TIMEOUT_ENV = "SPACY_ELMO_DOWNLOAD_TIMEOUT"
DEFAULT_TIMEOUT = 30.0
#: The cache's own record of a folder's URL: a leading dot, so no download can take it.
RECORD_NAME = ".source.json"
#: Longest stored file name: far below the 255 bytes most file systems allow, with room for
#: the ``.part`` / ``.lock`` suffixes and the temporary names of atomic writes.
MAX_NAME = 120
OFFLINE_ENV = "SPACY_ELMO_OFFLINE"
HF_OFFLINE_ENV = "HF_HUB_OFFLINE"
_TRUE = {"1", "true", "yes", "on"}


def cache_dir() -> Path:
    """The cache root (not created here)."""
    explicit = os.environ.get(CACHE_ENV)
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "spacy-elmo"


def hf_cache_dir() -> Path:
    """Where huggingface_hub keeps ``hf://`` files: inside our cache, so one folder holds
    everything an air-gapped machine needs."""
    return cache_dir() / "huggingface"


def offline_flag() -> Optional[str]:
    """The variable that switches the network off (``SPACY_ELMO_OFFLINE`` or
    ``HF_HUB_OFFLINE``), or None when online."""
    for name in (OFFLINE_ENV, HF_OFFLINE_ENV):
        if os.environ.get(name, "").strip().lower() in _TRUE:
            return name
    return None


def url_folder(url: str) -> Path:
    """The cache folder of one URL (stable across processes and machines)."""
    return cache_dir() / "urls" / hashlib.sha256(url.encode("utf8")).hexdigest()[:16]


def download_timeout() -> float:
    """Seconds of ``SPACY_ELMO_DOWNLOAD_TIMEOUT`` (default 30): the read timeout and the
    stall window of downloads; E417 for anything but a positive number."""
    raw = os.environ.get(TIMEOUT_ENV, "").strip()
    if not raw:
        return DEFAULT_TIMEOUT
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0 < value < float("inf"):
        raise ElmoDownloadError(Errors.E417.format(value=raw))
    return value


def url_filename(url: str) -> str:
    """The file name a URL is stored under: its last path segment, made safe (ASCII letters,
    digits, ``._-``; never a leading dot) and at most :data:`MAX_NAME` characters."""
    name = unquote(urlsplit(url).path.rstrip("/").rsplit("/", 1)[-1]) or "download"
    safe = "".join(c if c.isascii() and (c.isalnum() or c in "._-") else "_" for c in name)
    safe = safe.lstrip(".") or "download"
    if len(safe) <= MAX_NAME:
        return safe
    # Too long to store: keep the start and the suffix (it selects the content check), and
    # a digest of the whole name so two long names never share a file.
    digest = hashlib.sha256(safe.encode("utf8")).hexdigest()[:12]
    suffix = Path(safe).suffix[:16]
    return f"{safe[: MAX_NAME - len(suffix) - 13]}-{digest}{suffix}"


def url_cache_path(url: str) -> Path:
    """Where the complete file of ``url`` is (or will be) kept."""
    return url_folder(url) / url_filename(url)


def ensure_writable(folder: Path) -> None:
    """Create ``folder`` and check that files can be created in it; E411 otherwise."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".write-test-{os.getpid()}"
        probe.touch()
        probe.unlink()
    except OSError as e:
        raise ElmoDownloadError(Errors.E411.format(path=folder, error=e)) from e


def write_source(folder: Path, url: str) -> None:
    """Record which URL a cache folder holds (atomic; best effort: it is documentation)."""
    tmp = folder / f"{RECORD_NAME}.{os.getpid()}.tmp"
    try:
        tmp.write_text(json.dumps({"url": url}), encoding="utf8")
        os.replace(tmp, folder / RECORD_NAME)
    except OSError:
        tmp.unlink(missing_ok=True)


__all__ = [
    "CACHE_ENV",
    "OFFLINE_ENV",
    "TIMEOUT_ENV",
    "cache_dir",
    "download_timeout",
    "ensure_writable",
    "hf_cache_dir",
    "offline_flag",
    "url_cache_path",
    "url_folder",
]
