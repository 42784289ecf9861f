"""Fetch ``hf://OWNER/REPO[@REVISION]/PATH`` with ``huggingface_hub``.

huggingface_hub brings the Hub's own cache layout (blobs by ETag, snapshots by commit),
resumable and locked downloads, ``HF_ENDPOINT`` (a mirror or a local stand-in), tokens for
private repositories and ``HF_HUB_OFFLINE``. Files live under our cache folder
(:func:`.cache.hf_cache_dir`), so one folder holds everything; ``SPACY_ELMO_OFFLINE`` is
passed on as ``local_files_only``.

What we add: the same content checks as plain URLs (a cached file that fails them is removed
and fetched again, W012; a fresh one that fails is removed), the size bound checked against
the Hub's announced size before the transfer, a quick reachability probe so a refused
connection or a name that does not resolve fails at once (huggingface_hub retries those for
about 20 s), and coded errors for its exceptions.
"""

import os
import re
import socket
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional
from urllib.parse import urlsplit

from ..errors import ElmoDownloadError, Errors, Warnings
from .cache import download_timeout, ensure_writable, hf_cache_dir, offline_flag
from .checks import check_content, check_sha256, kind_of, size_limit
from .locations import Location

if TYPE_CHECKING:
    from ..pytorch.config import ELMoConfig
    from .fetch import FetchPolicy

_COMMIT = re.compile(r"^[0-9a-f]{40}$")


def _hub() -> Any:
    try:
        import huggingface_hub
    except ImportError as e:
        raise ElmoDownloadError(
            Errors.E415.format(what="hf:// locations", packages="huggingface_hub")
        ) from e
    return huggingface_hub


def fetch_hf(
    loc: Location,
    *,
    kind: Optional[str] = None,
    sha256: Optional[str] = None,
    config: Optional["ELMoConfig"] = None,
    policy: Optional["FetchPolicy"] = None,
) -> Path:
    """The local path of one file in a Hub repository (downloaded into the cache if needed).
    ``config``: the options that weights must match (also their size bound)."""
    hub = _hub()
    if not loc.path:
        raise ElmoDownloadError(Errors.E403.format(value=loc.raw, why="no file PATH in the repo"))
    kind = kind or kind_of(loc.path)
    flag = offline_flag()
    cached = _checked_cache_hit(hub, loc, kind, config)
    if cached is not None and (flag or _COMMIT.match(loc.revision or "")):
        return cached  # pinned to a commit: the cached file cannot be out of date
    if not flag:
        ensure_writable(hf_cache_dir())
        problem = _unreachable(policy)
        if problem and cached is not None:
            return cached
        if problem:
            raise ElmoDownloadError(Errors.E406.format(url=loc.raw, tries=1, error=problem))
    try:
        if not flag and cached is None:
            _check_announced_size(hub, loc, size_limit(kind, config))
        path = Path(_download(hub, loc, flag, policy))
    except ElmoDownloadError:
        raise
    except Exception as e:
        raise _coded(hub, e, loc, flag) from e
    if path != cached:
        _check_fresh(path, kind, loc.raw, config, sha256)
    return path


def _download(hub: Any, loc: Location, flag: Optional[str], policy: Optional["FetchPolicy"]):
    return hub.hf_hub_download(
        repo_id=loc.repo_id,
        filename=loc.path,
        revision=loc.revision,
        cache_dir=str(hf_cache_dir()),
        local_files_only=bool(flag),
        endpoint=_endpoint(),
        etag_timeout=_timeout(policy),
    )


def _timeout(policy: Optional["FetchPolicy"]) -> float:
    return policy.timeout if policy is not None else download_timeout()


def _endpoint() -> Optional[str]:
    return os.environ.get("HF_ENDPOINT") or None


def _checked_cache_hit(
    hub: Any, loc: Location, kind: str, config: Optional["ELMoConfig"]
) -> Optional[Path]:
    """The cached file, quickly checked; a failing one is removed (W012) and None returned."""
    found = hub.try_to_load_from_cache(
        loc.repo_id, loc.path, cache_dir=str(hf_cache_dir()), revision=loc.revision
    )
    if not isinstance(found, str):
        return None
    try:
        check_content(Path(found), kind, loc.raw, config=config, full=False)
    except ElmoDownloadError as e:
        warnings.warn(Warnings.W012.format(path=found, source=loc.raw, error=e))
        _remove(Path(found))
        return None
    return Path(found)


def _check_fresh(
    path: Path, kind: str, source: str, config: Optional["ELMoConfig"], sha256: Optional[str]
) -> None:
    """The full check of a fresh download; a failing file leaves the cache."""
    try:
        check_content(path, kind, source, config=config)
        check_sha256(path, sha256, source)
    except ElmoDownloadError:
        _remove(path)
        raise


def _remove(path: Path) -> None:
    """Remove a file from huggingface_hub's cache: the snapshot link and the blob behind it
    (so the next call downloads it again instead of finding the link)."""
    blob = path.resolve()
    path.unlink(missing_ok=True)
    if blob.is_relative_to(hf_cache_dir().resolve()):
        blob.unlink(missing_ok=True)


def _unreachable(policy: Optional["FetchPolicy"]) -> Optional[str]:
    """Why the Hub endpoint cannot be reached at all (refused, no such host), or None.
    huggingface_hub retries such failures with backoff; a probe settles them at once."""
    from .fetch import _unrecoverable

    hub_url = _endpoint() or "https://huggingface.co"
    parts = urlsplit(hub_url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        with socket.create_connection((parts.hostname or "", port), timeout=_timeout(policy)):
            return None
    except OSError as e:
        why = _unrecoverable(e)
        return f"{hub_url}: {why}" if why else None  # a timeout: huggingface_hub retries


def _check_announced_size(hub: Any, loc: Location, limit: int) -> None:
    """E420 when the Hub announces a file larger than it can be: refused before the
    transfer (huggingface_hub then checks the received size against this announcement)."""
    url = hub.hf_hub_url(loc.repo_id, loc.path, revision=loc.revision, endpoint=_endpoint())
    meta = hub.get_hf_file_metadata(url)
    if meta.size is not None and meta.size > limit:
        kind = kind_of(loc.path) if kind_of(loc.path) != "any" else "model"
        raise ElmoDownloadError(
            Errors.E420.format(url=loc.raw, kind=kind, got=meta.size, limit=limit)
        )


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
    if _is_transport_error(e):  # no answer at all (the metadata request is not retried)
        return ElmoDownloadError(Errors.E406.format(url=loc.raw, tries=1, error=_first_line(e)))
    if isinstance(e, ValueError):  # e.g. a commit header holding '../' from a mirror
        endpoint = _endpoint() or "https://huggingface.co"
        return ElmoDownloadError(
            Errors.E424.format(endpoint=endpoint, location=loc.raw, error=_first_line(e))
        )
    return e


def _is_transport_error(e: Exception) -> bool:
    """huggingface_hub talks HTTP through httpx, whose network errors are no OSError."""
    try:
        import httpx
    except ImportError:
        return isinstance(e, (OSError, TimeoutError))
    return isinstance(e, (httpx.TransportError, TimeoutError, ConnectionError))


def _first_line(e: Exception) -> str:
    return (str(e).strip().splitlines() or [type(e).__name__])[0][:300]


__all__ = ["fetch_hf", "fetch_hf_folder"]
