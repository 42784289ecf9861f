"""Fetch one http(s) URL into the cache: resumable, locked, checked, atomic.

Built on ``requests`` (HTTP, redirects, proxies from the environment) and ``filelock`` (one
process transfers, the others wait and reuse the file). What this module adds is the policy:

* a transfer writes ``<name>.part``; an interrupted one resumes with ``Range: bytes=N-``
  (a server that ignores Range sends 200 and the file starts over);
* the size is checked against Content-Length, then the content (HDF5 signature / JSON) and,
  where known, the sha256; only then ``os.replace`` gives the file its final name;
* timeouts, dropped connections, cut transfers and HTTP 429/5xx are retried with exponential
  backoff; 4xx answers are final.
"""

import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Tuple

from ..errors import ElmoDownloadError, Errors
from .cache import ensure_writable, offline_flag, url_cache_path, write_source
from .checks import check_content, check_sha256

CHUNK = 1 << 20


@dataclass(frozen=True)
class FetchPolicy:
    """timeout (float): seconds to connect and between two reads. tries (int): attempts in
    total. backoff (float): seconds before the 2nd attempt, doubled after each.
    progress (Optional[bool]): a progress bar on stderr (None: only when it is a terminal)."""

    timeout: float = 30.0
    tries: int = 5
    backoff: float = 1.0
    progress: Optional[bool] = None


class _Retry(Exception):
    """One attempt failed in a way worth retrying; ``kind`` says how."""

    def __init__(self, kind: str, detail: Any = None, got: int = 0, expected: Any = None):
        super().__init__(kind)
        self.kind, self.detail, self.got, self.expected = kind, detail, got, expected


def fetch_url(
    url: str,
    *,
    kind: str = "any",
    sha256: Optional[str] = None,
    policy: FetchPolicy = FetchPolicy(),
) -> Path:
    """The cached copy of ``url``, transferred first if needed. ``kind``: ``"weights"``,
    ``"options"`` or ``"any"`` (the content check, see :mod:`.checks`)."""
    dest = url_cache_path(url)
    if dest.is_file():
        return dest
    flag = offline_flag()
    if flag:
        raise ElmoDownloadError(
            Errors.E412.format(
                flag=flag,
                what=f"the URL {url}",
                cache=dest.parents[2],
                command=f"python -m spacy_elmo download {url}",
            )
        )
    requests, FileLock = _imports()
    ensure_writable(dest.parent)
    with FileLock(str(dest) + ".lock"):
        if dest.is_file():  # another process finished it while this one waited
            return dest
        part = dest.with_name(dest.name + ".part")
        _transfer(requests, url, part, policy)
        try:
            check_content(part, kind, url)
            check_sha256(part, sha256, url)
        except ElmoDownloadError:
            part.unlink(missing_ok=True)
            raise
        os.replace(part, dest)
        write_source(dest.parent, url)
    return dest


def _imports() -> Tuple[Any, Any]:
    try:
        import requests
        from filelock import FileLock
    except ImportError as e:
        raise ElmoDownloadError(
            Errors.E415.format(what="http(s) URLs", packages="requests, filelock")
        ) from e
    return requests, FileLock


def _transfer(requests: Any, url: str, part: Path, policy: FetchPolicy) -> None:
    """Attempt until ``part`` holds the whole file; a coded error after ``policy.tries``."""
    last: Optional[_Retry] = None
    with requests.Session() as session:
        for attempt in range(max(1, policy.tries)):
            if attempt:
                time.sleep(policy.backoff * 2 ** (attempt - 1))
            try:
                _attempt(requests, session, url, part, policy)
                return
            except _Retry as e:
                last = e
            except (requests.Timeout, requests.ConnectionError) as e:
                last = _Retry("network", e)
    assert last is not None
    raise _final_error(url, last, policy.tries)


def _final_error(url: str, last: _Retry, tries: int) -> ElmoDownloadError:
    if last.kind == "status":
        return ElmoDownloadError(Errors.E405.format(status=last.detail, url=url, tries=tries))
    if last.kind == "cut":
        expected = "an unknown number of" if last.expected is None else last.expected
        return ElmoDownloadError(
            Errors.E407.format(url=url, tries=tries, got=last.got, expected=expected)
        )
    return ElmoDownloadError(Errors.E406.format(url=url, tries=tries, error=last.detail))


def _attempt(requests: Any, session: Any, url: str, part: Path, policy: FetchPolicy) -> None:
    have = part.stat().st_size if part.is_file() else 0
    headers = {"Accept-Encoding": "identity"}  # Content-Length must be the file's length
    if have:
        headers["Range"] = f"bytes={have}-"
    with session.get(url, headers=headers, stream=True, timeout=policy.timeout) as r:
        status = r.status_code
        if status == 416 and have:
            _range_not_satisfiable(r, part, have)
            return
        if status == 429 or status >= 500:
            raise _Retry("status", status)
        if status >= 400:
            raise ElmoDownloadError(Errors.E404.format(status=status, url=url, why=_why(status)))
        start, total = _span(r, status, have)
        if start != have:  # the server sent another range: start over cleanly
            part.unlink(missing_ok=True)
            raise _Retry("cut", got=0, expected=total)
        _stream(r, part, start, total, url, policy)


def _range_not_satisfiable(r: Any, part: Path, have: int) -> None:
    """HTTP 416 for ``bytes=have-``: complete if the file is exactly ``have`` bytes long."""
    total = _total_of(r.headers.get("Content-Range", ""))
    if total == have:
        return
    part.unlink(missing_ok=True)
    raise _Retry("cut", got=0, expected=total)


def _span(r: Any, status: int, have: int) -> Tuple[int, Optional[int]]:
    """``(first byte sent, total file size or None)`` of a 200/206 answer."""
    if status == 206:
        spec = r.headers.get("Content-Range", "")
        try:
            first = int(spec.split()[1].split("-")[0])
        except (IndexError, ValueError):
            first = -1
        return first, _total_of(spec)
    length = r.headers.get("Content-Length")
    return 0, int(length) if length and length.isdigit() else None


def _total_of(content_range: str) -> Optional[int]:
    total = content_range.rsplit("/", 1)[-1].strip() if "/" in content_range else ""
    return int(total) if total.isdigit() else None


def _stream(
    r: Any, part: Path, start: int, total: Optional[int], url: str, policy: FetchPolicy
) -> None:
    """Write the body to ``part`` (appending after ``start`` bytes), then check its size."""
    written = start
    # A cut body then simply ends, with every byte received handed over (and kept for the
    # resume); the size check below notices it. urllib3 would raise and drop the last read.
    if hasattr(r.raw, "enforce_content_length"):
        r.raw.enforce_content_length = False
    bar = _progress_bar(total, start, part.name[: -len(".part")], policy.progress)
    try:
        with open(part, "ab" if start else "wb") as f:
            try:
                for chunk in r.iter_content(CHUNK):
                    f.write(chunk)
                    written += len(chunk)
                    bar.update(len(chunk))
            except Exception as e:  # a dropped connection mid-body: keep the bytes, resume
                raise _Retry("cut", e, got=written, expected=total)
            finally:
                f.flush()
                os.fsync(f.fileno())
    finally:
        bar.close()
    if total is not None and written > total:
        part.unlink(missing_ok=True)
        raise ElmoDownloadError(Errors.E416.format(url=url, got=written, expected=total))
    if total is not None and written < total:
        raise _Retry("cut", got=written, expected=total)


def _progress_bar(total: Optional[int], initial: int, name: str, progress: Optional[bool]) -> Any:
    from tqdm import tqdm

    show = sys.stderr.isatty() if progress is None else progress
    return tqdm(
        total=total,
        initial=initial,
        unit="B",
        unit_scale=True,
        unit_divisor=1024,
        desc=name,
        file=sys.stderr,
        disable=not show,
        leave=False,
    )


def _why(status: int) -> str:
    return {
        401: "authentication required",
        403: "access forbidden (private, moved or expired file)",
        404: "no such file on the server",
        410: "the file was removed",
    }.get(status, "the request was refused")


__all__ = ["FetchPolicy", "fetch_url"]
