"""The download cache shared by every process, and the offline switch.

Layout under :func:`cache_dir` (``$SPACY_ELMO_CACHE``, else ``$XDG_CACHE_HOME/spacy-elmo``,
else ``~/.cache/spacy-elmo``)::

    urls/<first 16 hex of sha256(URL)>/<file name>      a complete, checked download
    urls/<...>/<file name>.part                          an interrupted one (resumed later)
    urls/<...>/<file name>.lock                          held while one process transfers
    urls/<...>/source.json                               the URL (for `models` and humans)
    huggingface/                                         huggingface_hub's own cache (hf://)

A file without the ``.part`` suffix is only ever created by ``os.replace`` after every check
passed, so whatever is killed when, the cache never holds a file that loads half a model.
"""

import hashlib
import json
import os
from pathlib import Path
from typing import Optional
from urllib.parse import unquote, urlsplit

from ..errors import ElmoDownloadError, Errors

CACHE_ENV = "SPACY_ELMO_CACHE"
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


def url_filename(url: str) -> str:
    """The file name a URL is stored under: its last path segment, made safe."""
    name = unquote(urlsplit(url).path.rstrip("/").rsplit("/", 1)[-1]) or "download"
    safe = "".join(c if c.isalnum() or c in "._-" else "_" for c in name)
    return safe.lstrip(".") or "download"


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
    tmp = folder / f"source.json.{os.getpid()}.tmp"
    try:
        tmp.write_text(json.dumps({"url": url}), encoding="utf8")
        os.replace(tmp, folder / "source.json")
    except OSError:
        tmp.unlink(missing_ok=True)


__all__ = [
    "CACHE_ENV",
    "OFFLINE_ENV",
    "cache_dir",
    "ensure_writable",
    "hf_cache_dir",
    "offline_flag",
    "url_cache_path",
    "url_folder",
]
