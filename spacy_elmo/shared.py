"""The biLMs shared by every pipeline of the process, and the file digests they are keyed by.

Pipelines whose biLM files have the same content (read from paths or from bytes), run with
the same state, device and precision, use one loaded (and warmed-up) biLM instead of each
holding its own copy; a pipeline restored from bytes or disk then computes exactly what the
one it was saved from does. The registry holds weak references only: a biLM goes when the
last pipeline that uses it goes. ``state="stateful"`` carries per-row state, so it is never
shared.

Digests of files on disk are remembered per (path, size, modification time), for at most
:data:`DIGEST_MEMO_SIZE` files, so a file is hashed once however many pipelines load it and
the memo never grows without end. Nothing here imports torch or spaCy: the loading itself is
the caller's ``load``.
"""

import functools
import hashlib
import threading
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, TypeVar

#: Files whose digests are remembered (least recently used first out).
DIGEST_MEMO_SIZE = 64

_Embedder = TypeVar("_Embedder")


@dataclass(frozen=True)
class SharedKey:
    """What a loaded biLM depends on: the content of its files and how it runs."""

    digest: str
    state: str
    device: str
    precision: str


_SHARED: "weakref.WeakValueDictionary[SharedKey, object]" = weakref.WeakValueDictionary()
# One lock for look-up-and-load: threads that reach fresh pipelines at once share one loaded
# biLM instead of each building its own.
_LOCK = threading.Lock()


def shared_embedder(key: SharedKey, load: Callable[[], _Embedder]) -> _Embedder:
    """The biLM loaded for ``key``, loaded with ``load()`` if no live pipeline holds one.
    ``state="stateful"`` is always loaded afresh."""
    if key.state == "stateful":
        return load()
    with _LOCK:
        embedder = _SHARED.get(key)
        if embedder is None:
            embedder = load()
            _SHARED[key] = embedder
        return embedder  # type: ignore[return-value]


def shared_embedders() -> "list[object]":
    """The biLMs loaded and still in use (e.g. to clear their caches)."""
    with _LOCK:
        return list(_SHARED.values())


def bytes_digest(data: bytes) -> str:
    """SHA-256 of ``data`` (hex)."""
    return hashlib.sha256(data).hexdigest()


def file_digest(path: Path) -> str:
    """SHA-256 of the file at ``path`` (hex), remembered while its size and modification
    time stay the same."""
    stat = path.stat()
    return _digest_of(str(path.resolve()), stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=DIGEST_MEMO_SIZE)
def _digest_of(path: str, size: int, mtime_ns: int) -> str:
    # size and mtime_ns are part of the key: a file written again is hashed again.
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def digest_memo_size() -> int:
    """How many file digests are remembered now (at most :data:`DIGEST_MEMO_SIZE`)."""
    return _digest_of.cache_info().currsize
