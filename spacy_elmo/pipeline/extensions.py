"""``doc._.elmo``, ``span._.elmo``, ``token._.elmo`` and ``doc._.elmo_layers``, and the
optional vector hooks that make ``.vector`` and ``.similarity`` use ELMo.

Memory per token (float32): ``doc._.elmo`` keeps ``2P * 4`` bytes (4 KiB for the original
ELMo, 2P = 1024); ``doc._.elmo_layers`` keeps ``(L + 1) * 2P * 4`` bytes (12 KiB).
"""

from typing import Optional

import numpy as np
from spacy.tokens import Doc, Span, Token


def install_extensions() -> None:
    """Register the extension attributes (idempotent)."""
    if not Doc.has_extension("elmo"):
        Doc.set_extension("elmo", default=None)
    if not Doc.has_extension("elmo_layers"):
        Doc.set_extension("elmo_layers", default=None)
    if not Span.has_extension("elmo"):
        Span.set_extension("elmo", getter=span_elmo)
    if not Token.has_extension("elmo"):
        Token.set_extension("elmo", getter=token_elmo)


def _space_mask(doc: Doc, start: int, end: int) -> np.ndarray:
    return np.array([not doc[i].is_space for i in range(start, end)], dtype=bool)


def span_elmo(span: Span) -> Optional[np.ndarray]:
    """Mean of the span's token vectors, whitespace tokens left out. *Shape:* ``(2P,)``."""
    vectors = span.doc._.elmo
    if vectors is None:
        return None
    part = vectors[span.start : span.end]
    keep = _space_mask(span.doc, span.start, span.end)
    if not keep.any():
        return np.zeros(vectors.shape[1], dtype=np.float32)
    return part[keep].mean(axis=0)


def token_elmo(token: Token) -> Optional[np.ndarray]:
    """The token's ELMo vector (zeros for whitespace tokens). *Shape:* ``(2P,)``."""
    vectors = token.doc._.elmo
    return None if vectors is None else vectors[token.i]


def doc_elmo_vector(doc: Doc) -> Optional[np.ndarray]:
    """Mean of the doc's token vectors (as :func:`span_elmo`), None without ``doc._.elmo``."""
    return span_elmo(doc[:])


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    na, nb = float(np.linalg.norm(a)), float(np.linalg.norm(b))
    if na == 0.0 or nb == 0.0:
        return 0.0
    return float(np.dot(a, b) / (na * nb))


def _similarity(a, b) -> float:
    """Cosine of the two objects' ``.vector`` (ELMo where the hooks are set)."""
    return _cosine(a.vector, b.vector)


def set_vector_hooks(doc: Doc) -> None:
    """Make ``.vector``, ``.has_vector`` and ``.similarity`` of the doc, its spans and its
    tokens use ``doc._.elmo``. Hooks are not serialized (``Doc.to_bytes``): they are lost
    when docs come back from ``nlp.pipe(..., n_process>1)``; the ``._.elmo`` values survive.
    """
    doc.user_hooks["vector"] = doc_elmo_vector
    doc.user_hooks["has_vector"] = _has_vector
    doc.user_hooks["similarity"] = _similarity
    doc.user_span_hooks["vector"] = span_elmo
    doc.user_span_hooks["has_vector"] = _has_vector
    doc.user_span_hooks["similarity"] = _similarity
    doc.user_token_hooks["vector"] = token_elmo
    doc.user_token_hooks["has_vector"] = _has_vector
    doc.user_token_hooks["similarity"] = _similarity


def _has_vector(obj) -> bool:
    return True
