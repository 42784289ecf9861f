"""Bounded LRU cache of per-doc biLM layers, so training epochs after the first skip the biLM.

Keys hash everything the layers depend on: the token strings and the sentence boundaries.
The bound is in tokens (memory = tokens * (L + 1) * 2P * 4 bytes). Cached arrays are made
read-only, because the same array is handed out again in later epochs.

One cache may be used from several threads: every operation holds a lock (they are dict
operations, so the lock is never held for long).
"""

import hashlib
import threading
from collections import OrderedDict
from typing import Optional

import numpy as np
from spacy.tokens import Doc


def doc_key(doc: Doc) -> bytes:
    """A 16-byte digest of the doc's token texts and sentence starts."""
    h = hashlib.blake2b(digest_size=16)
    for token in doc:
        h.update(token.text.encode("utf8", "surrogatepass"))
        h.update(b"\x1f")
    if len(doc) and doc.has_annotation("SENT_START"):
        h.update(b"\x1e" + bytes(1 if t.is_sent_start else 0 for t in doc))
    return h.digest()


class LayerCache:
    """``doc_key -> layers`` (*Shape:* ``(L + 1, n_tokens, 2P)``), least recently used first
    out when more than ``max_tokens`` tokens are held. ``max_tokens=0`` disables it."""

    def __init__(self, max_tokens: int) -> None:
        self.max_tokens = max_tokens
        self.n_tokens = 0
        self.hits = 0
        self.misses = 0
        self._data: "OrderedDict[bytes, np.ndarray]" = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._data)

    def get(self, key: bytes) -> Optional[np.ndarray]:
        with self._lock:
            value = self._data.get(key)
            if value is None:
                self.misses += 1
                return None
            self._data.move_to_end(key)
            self.hits += 1
            return value

    def put(self, key: bytes, layers: np.ndarray) -> np.ndarray:
        """Store ``layers`` (made read-only) and return it."""
        n = layers.shape[1]
        if self.max_tokens <= 0 or n > self.max_tokens:
            return layers
        layers.flags.writeable = False
        with self._lock:
            old = self._data.pop(key, None)
            if old is not None:
                self.n_tokens -= old.shape[1]
            self._data[key] = layers
            self.n_tokens += n
            while self.n_tokens > self.max_tokens:
                _, evicted = self._data.popitem(last=False)
                self.n_tokens -= evicted.shape[1]
            return layers

    def clear(self) -> None:
        with self._lock:
            self._data.clear()
            self.n_tokens = 0

    # A lock can be neither pickled nor deep-copied: copies get their own.
    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        del state["_lock"]
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()
