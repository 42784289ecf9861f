"""Fetch one http(s) URL into the cache: resumable, locked, checked, atomic.

Built on ``requests`` (HTTP, redirects, proxies from the environment) and ``filelock`` (one
process transfers, the others wait and reuse the file). What this module adds is the policy:

* a transfer writes ``<name>.part``; an interrupted one resumes with ``Range: bytes=N-``
  (a server that ignores Range sends 200 and the file starts over);
* every transfer is bounded by what the file can be (:func:`.checks.size_limit`): an
  announced size over it is refused before a byte is written, a body growing past it is
  stopped, and the partial file removed; a compressed body (we ask for none) is refused;
* the size is checked against Content-Length, then the content (weights: HDF5 with the
  shapes the options imply; options: a valid options.json) and, where known, the sha256;
  only then ``os.replace`` gives the file its final name; a cache entry failing its check
  later is removed and fetched again (W012);
* timeouts, stalls (too few bytes over a window), cut transfers and HTTP 429/5xx are
  retried with exponential backoff; 4xx answers, a refused connection, a host name that
  does not resolve and bad redirects are final at once.
"""

import errno
import os
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Optional, Tuple

from ..errors import ElmoDownloadError, Errors, Warnings
from .cache import download_timeout, ensure_writable, offline_flag, url_cache_path, write_source
from .checks import check_content, check_sha256, size_limit

if TYPE_CHECKING:
    from ..pytorch.config import ELMoConfig

#: Most bytes taken from the socket per read; a read returns as soon as anything arrived.
CHUNK = 1 << 16
#: A transfer that averages fewer bytes per second than this over one stall window (the
#: timeout) has stalled: at 1 KiB/s the smallest catalogue model would take 15 hours.
STALL_MIN_RATE = 1024


@dataclass(frozen=True)
class FetchPolicy:
    """timeout (float): seconds to connect, between two reads, and the stall window
    (default: ``SPACY_ELMO_DOWNLOAD_TIMEOUT``, else 30). tries (int): attempts in total.
    backoff (float): seconds before the 2nd attempt, doubled after each.
    progress (Optional[bool]): a progress bar on stderr (None: only when it is a terminal)."""

    timeout: float = field(default_factory=download_timeout)
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
    policy: Optional[FetchPolicy] = None,
    config: Optional["ELMoConfig"] = None,
) -> Path:
    """The cached copy of ``url``, transferred first if needed. ``kind``: ``"weights"``,
    ``"options"`` or ``"any"`` (the content check, see :mod:`.checks`); ``config``: the
    options the weights must match (they also set the size bound)."""
    policy = policy or FetchPolicy()
    dest = url_cache_path(url)
    if _usable(dest, kind, url, config):
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
        if _usable(dest, kind, url, config):  # another process finished it meanwhile
            return dest
        part = dest.with_name(dest.name + ".part")
        _transfer(requests, url, part, policy, _Bound(kind, size_limit(kind, config)))
        try:
            check_content(part, kind, url, config=config)
            check_sha256(part, sha256, url)
        except ElmoDownloadError:
            part.unlink(missing_ok=True)
            raise
        os.replace(part, dest)
        write_source(dest.parent, url)
    return dest


def _usable(dest: Path, kind: str, url: str, config: Optional["ELMoConfig"]) -> bool:
    """Whether the cache holds ``dest`` and it passes the quick check (structure, no data
    read). A failing entry (from an older version, or damaged) is removed with W012 so this
    very call fetches it again instead of leaving it to fail every load."""
    if not dest.is_file():
        return False
    try:
        check_content(dest, kind, url, config=config, full=False)
    except ElmoDownloadError as e:
        warnings.warn(Warnings.W012.format(path=dest, source=url, error=e))
        dest.unlink(missing_ok=True)
        return False
    return True


@dataclass(frozen=True)
class _Bound:
    """The most bytes one file may have, and what kind of file it is (for the message)."""

    kind: str
    limit: int

    def check(self, url: str, got: int, part: Path) -> None:
        if got > self.limit:
            part.unlink(missing_ok=True)
            kind = self.kind if self.kind != "any" else "model"
            raise ElmoDownloadError(
                Errors.E420.format(url=url, kind=kind, got=got, limit=self.limit)
            )


def _imports() -> Tuple[Any, Any]:
    try:
        import requests
        from filelock import FileLock
    except ImportError as e:
        raise ElmoDownloadError(
            Errors.E415.format(what="http(s) URLs", packages="requests, filelock")
        ) from e
    return requests, FileLock


def _transfer(requests: Any, url: str, part: Path, policy: FetchPolicy, bound: _Bound) -> None:
    """Attempt until ``part`` holds the whole file; a coded error after ``policy.tries``, or
    at once for what no retry can mend."""
    last: Optional[_Retry] = None
    with requests.Session() as session:
        for attempt in range(max(1, policy.tries)):
            if attempt:
                time.sleep(policy.backoff * 2 ** (attempt - 1))
            try:
                _attempt(requests, session, url, part, policy, bound)
                return
            except _Retry as e:
                last = e
            except requests.Timeout as e:  # before ConnectionError: ConnectTimeout is both
                last = _Retry("network", e)
            except requests.TooManyRedirects as e:
                raise ElmoDownloadError(Errors.E422.format(url=url, error=e)) from None
            except (requests.exceptions.InvalidSchema, requests.exceptions.InvalidURL) as e:
                raise ElmoDownloadError(Errors.E423.format(url=url, error=e)) from None
            except requests.ConnectionError as e:
                final = _unrecoverable(e)
                if final:
                    raise ElmoDownloadError(
                        Errors.E406.format(url=url, tries=attempt + 1, error=final)
                    ) from None
                last = _Retry("network", e)
    assert last is not None
    raise _final_error(url, last, policy)


def _causes(e: BaseException) -> Iterator[BaseException]:
    """``e`` and what it wraps (urllib3 keeps the socket error in ``reason`` or a cause)."""
    seen, todo = set(), [e]
    while todo:
        cur = todo.pop()
        if id(cur) in seen:
            continue
        seen.add(id(cur))
        yield cur
        nested = [getattr(cur, "reason", None), cur.__cause__, cur.__context__, *cur.args]
        todo.extend(x for x in nested if isinstance(x, BaseException))


def _unrecoverable(e: BaseException) -> Optional[str]:
    """Why a connection failure cannot mend by retrying (refused, no such host, no route),
    or None for one worth another try."""
    for cause in _causes(e):
        name = type(cause).__name__
        if (
            name == "NameResolutionError"
            or isinstance(cause, OSError)
            and cause.errno
            in (
                -2,  # EAI_NONAME from getaddrinfo: the name does not exist
                -3,  # EAI_AGAIN: no resolver answer (no network)
            )
        ):
            return f"the host name does not resolve: {cause}"
        if isinstance(cause, ConnectionRefusedError):
            return "connection refused: nothing listens at that address"
        if isinstance(cause, OSError) and cause.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH):
            return f"no route to the host: {cause}"
    return None


def _final_error(url: str, last: _Retry, policy: FetchPolicy) -> ElmoDownloadError:
    tries = policy.tries
    if last.kind == "status":
        return ElmoDownloadError(Errors.E405.format(status=last.detail, url=url, tries=tries))
    expected = "an unknown number of" if last.expected is None else last.expected
    if last.kind == "cut":
        return ElmoDownloadError(
            Errors.E407.format(url=url, tries=tries, got=last.got, expected=expected)
        )
    if last.kind == "stall":
        min_bytes = int(STALL_MIN_RATE * policy.timeout)
        return ElmoDownloadError(
            Errors.E421.format(
                url=url, tries=tries, min_bytes=min_bytes, window=policy.timeout, got=last.got
            )
        )
    return ElmoDownloadError(Errors.E406.format(url=url, tries=tries, error=last.detail))


def _attempt(
    requests: Any, session: Any, url: str, part: Path, policy: FetchPolicy, bound: _Bound
) -> None:
    have = part.stat().st_size if part.is_file() else 0
    if have > bound.limit:  # left by an older version: cannot be the file
        part.unlink()
        have = 0
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
        _refuse_encoding(r, url, part)
        start, total = _span(r, status, have)
        if total is not None:
            bound.check(url, total, part)  # announced too large: not a byte written
        if status == 206 and start != have:  # another range than asked: start over cleanly
            part.unlink(missing_ok=True)
            raise _Retry("cut", got=0, expected=total)
        # (a 200 answer to a Range request is the whole file: _stream starts it over)
        _stream(r, part, start, total, url, policy, bound)


def _refuse_encoding(r: Any, url: str, part: Path) -> None:
    """E419 for a compressed body: we asked for none, its size says nothing about the file's,
    and decompressing it could fill the disk."""
    encoding = r.headers.get("Content-Encoding", "").strip().lower()
    if encoding not in ("", "identity"):
        part.unlink(missing_ok=True)
        raise ElmoDownloadError(Errors.E419.format(url=url, encoding=encoding))


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
    r: Any,
    part: Path,
    start: int,
    total: Optional[int],
    url: str,
    policy: FetchPolicy,
    bound: _Bound,
) -> None:
    """Write the body to ``part`` (appending after ``start`` bytes), then check its size."""
    # A cut body then simply ends, with every byte received handed over (and kept for the
    # resume); the size check below notices it. urllib3 would raise and drop the last read.
    if hasattr(r.raw, "enforce_content_length"):
        r.raw.enforce_content_length = False
    bar = _progress_bar(total, start, part.name[: -len(".part")], policy.progress)
    watch = _StallWatch(policy.timeout)
    written = start
    try:
        with open(part, "ab" if start else "wb") as f:
            try:
                # read1: whatever has arrived, so the stall rule sees a trickle as it comes
                # (read(n) would wait for n bytes, each socket read within the timeout).
                for chunk in iter(lambda: r.raw.read1(CHUNK, decode_content=False), b""):
                    bound.check(url, written + len(chunk), part)
                    f.write(chunk)
                    written += len(chunk)
                    bar.update(len(chunk))
                    if watch.stalled(len(chunk)):
                        raise _Retry("stall", got=written, expected=total)
            except (_Retry, ElmoDownloadError):
                raise
            except Exception as e:  # a dropped connection mid-body: keep the bytes, resume
                raise _Retry("cut", e, got=written, expected=total)
            finally:
                f.flush()
                os.fsync(f.fileno())
    except ElmoDownloadError:
        part.unlink(missing_ok=True)  # a refused transfer leaves nothing behind
        raise
    finally:
        bar.close()
    if total is not None and written > total:  # read1 stops at Content-Length; a guard
        part.unlink(missing_ok=True)
        raise ElmoDownloadError(Errors.E416.format(url=url, got=written, expected=total))
    if total is not None and written < total:
        raise _Retry("cut", got=written, expected=total)


class _StallWatch:
    """Counts bytes per window of ``window`` seconds: fewer than :data:`STALL_MIN_RATE` per
    second over a whole window is a stall (a body trickling in never hits a read timeout)."""

    def __init__(self, window: float) -> None:
        self.window, self.start, self.count = window, time.monotonic(), 0

    def stalled(self, n: int) -> bool:
        self.count += n
        now = time.monotonic()
        if now - self.start < self.window:
            return False
        if self.count < STALL_MIN_RATE * self.window:
            return True
        self.start, self.count = now, 0
        return False


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
