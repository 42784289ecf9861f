"""The component's fixed (not trained) mix of the biLM layers, in numpy."""

from typing import Optional, Sequence

import numpy as np


def softmax_weights(scalar_mix: Optional[Sequence[float]], n_layers: int) -> np.ndarray:
    """Normalised layer weights from pre-softmax ``scalar_mix`` (None: an even average).

    *Shape:* ``(n_layers,)``.
    """
    w = (
        np.zeros(n_layers, dtype=np.float64)
        if scalar_mix is None
        else np.asarray(scalar_mix, dtype=np.float64)
    )
    w = np.exp(w - w.max())
    return (w / w.sum()).astype(np.float32)


def fixed_mix(
    layers: np.ndarray,
    weights: np.ndarray,
    *,
    gamma: float,
    layer_norm: bool,
    mask: Optional[np.ndarray] = None,
) -> np.ndarray:
    """``gamma * sum_k weights_k * norm(layers_k)``.

    :param layers: *Shape:* ``(L + 1, n_tokens, 2P)``.
    :param weights: Normalised weights. *Shape:* ``(L + 1,)``.
    :param layer_norm: Normalise each layer by its mean and variance over the doc's
        ``mask``-ed tokens (whitespace tokens excluded), as AllenNLP does for a batch.
    :param mask: True at tokens the biLM saw. *Shape:* ``(n_tokens,)``.
    :returns: float32. *Shape:* ``(n_tokens, 2P)``.
    """
    K, n, D = layers.shape
    if layer_norm and n:
        m = np.ones(n, dtype=bool) if mask is None else mask
        if m.any():
            real = layers[:, m]  # (K, n_real, D)
            mean = real.mean(axis=(1, 2), keepdims=True)
            var = real.var(axis=(1, 2), keepdims=True)
            layers = (layers - mean) / np.sqrt(var + 1e-13)
            layers = layers * m[None, :, None]
    mixed = np.tensordot(weights, layers, axes=1).astype(np.float32, copy=False)
    return mixed * np.float32(gamma)
