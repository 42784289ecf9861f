"""Accuracy of a reduced precision against float32 on the benchmark's sentences: the median
relative error per token (``|a - b| / |a|`` over a token's vector, every layer) and the
lowest cosine similarity per layer."""

from typing import Dict, List

import numpy as np


def compare_layers(reference: List[np.ndarray], other: List[np.ndarray]) -> Dict[str, object]:
    """``reference`` and ``other``: per sentence, *Shape:* ``(L + 1, n, D)``."""
    ref = np.concatenate(reference, axis=1).astype(np.float64)  # (L + 1, N, D)
    out = np.concatenate(other, axis=1).astype(np.float64)
    norms = np.linalg.norm(ref, axis=-1)
    rel = np.linalg.norm(out - ref, axis=-1) / np.maximum(norms, 1e-12)
    cos = (ref * out).sum(-1) / np.maximum(norms * np.linalg.norm(out, axis=-1), 1e-12)
    return {
        "median_relative_error": float(np.median(rel)),
        "median_relative_error_per_layer": [float(np.median(r)) for r in rel],
        "min_cosine_per_layer": [float(c.min()) for c in cos],
        "n_tokens": int(ref.shape[1]),
    }
