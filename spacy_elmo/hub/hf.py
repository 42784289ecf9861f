"""Fetch ``hf://OWNER/REPO[@REVISION]/PATH`` with ``huggingface_hub``.

huggingface_hub brings the Hub's own cache layout (blobs by ETag, snapshots by commit),
resumable and locked downloads, ``HF_ENDPOINT`` (a mirror or a local stand-in), tokens for
private repositories and ``HF_HUB_OFFLINE``. Files live under our cache folder
(:func:`.cache.hf_cache_dir`), so one folder holds everything; ``SPACY_ELMO_OFFLINE`` is
passed on as ``local_files_only``.
"""

import os
from pathlib import Path
from typing import Any, Optional

from ..errors import ElmoDownloadError, Errors
from .cache import ensure_writable, hf_cache_dir, offline_flag
from .checks import check_content, check_sha256, kind_of
from .locations import Location


def _hub() -> Any:
    try:
        import huggingface_hub
    except ImportError as e:
        raise ElmoDownloadError(
            Errors.E415.format(what="hf:// locations", packages="huggingface_hub")
        ) from e
    return huggingface_hub


def fetch_hf(loc: Location, *, kind: Optional[str] = None, sha256: Optional[str] = None) -> Path:
    """The local path of one file in a Hub repository (downloaded into the cache if needed)."""
    hub = _hub()
    if not loc.path:
        raise ElmoDownloadError(Errors.E403.format(value=loc.raw, why="no file PATH in the repo"))
    flag = offline_flag()
    if not flag:
        ensure_writable(hf_cache_dir())
    try:
        path = hub.hf_hub_download(
            repo_id=loc.repo_id,
            filename=loc.path,
            revision=loc.revision,
            cache_dir=str(hf_cache_dir()),
            local_files_only=bool(flag),
            endpoint=os.environ.get("HF_ENDPOINT") or None,
        )
    except Exception as e:
        raise _coded(hub, e, loc, flag) from e
    check_content(Path(path), kind or kind_of(loc.path), loc.raw)
    check_sha256(Path(path), sha256, loc.raw)
    return Path(path)


def fetch_hf_folder(loc: Location) -> Path:
    """A local folder with the files under ``loc.path`` of a Hub repository (``--init-weights
    hf://OWNER/REPO[@REVISION][/FOLDER]``)."""
    hub = _hub()
    flag = offline_flag()
    if not flag:
        ensure_writable(hf_cache_dir())
    sub = loc.path.strip("/")
    try:
        root = hub.snapshot_download(
            repo_id=loc.repo_id,
            revision=loc.revision,
            cache_dir=str(hf_cache_dir()),
            allow_patterns=[f"{sub}/*"] if sub else None,
            local_files_only=bool(flag),
            endpoint=os.environ.get("HF_ENDPOINT") or None,
        )
    except Exception as e:
        raise _coded(hub, e, loc, flag) from e
    return Path(root) / sub if sub else Path(root)


def _coded(hub: Any, e: Exception, loc: Location, flag: Optional[str]) -> Exception:
    """Turn huggingface_hub's exceptions into coded errors (others pass through unchanged)."""
    errors = hub.errors
    if isinstance(e, errors.LocalEntryNotFoundError) and flag:
        return ElmoDownloadError(
            Errors.E412.format(
                flag=flag,
                what=loc.raw,
                cache=hf_cache_dir().parent,
                command=f"python -m spacy_elmo download {loc.raw}",
            )
        )
    if isinstance(e, errors.LocalEntryNotFoundError):  # online, but the Hub was unreachable
        return ElmoDownloadError(Errors.E406.format(url=loc.raw, tries=1, error=_first_line(e)))
    missing = (
        (errors.RepositoryNotFoundError, "repository"),
        (errors.RevisionNotFoundError, "revision"),
        (errors.EntryNotFoundError, "file"),
    )
    for cls, what in missing:
        if isinstance(e, cls):
            return ElmoDownloadError(
                Errors.E413.format(what=what, location=loc.raw, error=_first_line(e))
            )
    if isinstance(e, errors.HfHubHTTPError):
        status = getattr(getattr(e, "response", None), "status_code", "error")
        return ElmoDownloadError(Errors.E404.format(status=status, url=loc.raw, why=_first_line(e)))
    if isinstance(e, PermissionError):
        return ElmoDownloadError(Errors.E411.format(path=hf_cache_dir(), error=e))
    return e


def _first_line(e: Exception) -> str:
    return (str(e).strip().splitlines() or [type(e).__name__])[0][:300]


__all__ = ["fetch_hf", "fetch_hf_folder"]
