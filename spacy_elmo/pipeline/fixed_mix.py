"""The component's fixed (not trained) mix of the biLM layers: numpy in and out, computed by
the one mix implementation, :func:`spacy_elmo.pytorch.scalar_mix.mix_layers`."""

from typing import Optional, Sequence

import numpy as np
import torch

from ..pytorch.scalar_mix import mix_layers


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
    """``gamma * sum_k weights_k * norm(layers_k)``, zero at tokens outside ``mask``.

    :param layers: *Shape:* ``(L + 1, n_tokens, 2P)``.
    :param weights: Normalised weights. *Shape:* ``(L + 1,)``.
    :param layer_norm: Normalise each layer by its mean and variance over the doc's
        ``mask``-ed tokens (whitespace tokens excluded), as AllenNLP does for a batch.
    :param mask: True at tokens the biLM saw. *Shape:* ``(n_tokens,)``.
    :returns: float32. *Shape:* ``(n_tokens, 2P)``.
    """
    mask_t = None if mask is None else torch.from_numpy(np.asarray(mask, dtype=bool))
    layers = np.ascontiguousarray(layers, dtype=np.float32)
    if not layers.flags.writeable:  # cached layers are read-only; torch wants writable memory
        layers = layers.copy()
    with torch.no_grad():
        mixed = mix_layers(
            torch.from_numpy(layers),
            torch.from_numpy(np.asarray(weights, dtype=np.float32)),
            float(gamma),
            layer_norm=layer_norm and layers.shape[1] > 0,
            mask=mask_t,
        )
        if mask_t is not None and layer_norm:
            mixed[~mask_t] = 0.0  # tokens the biLM never saw keep zero vectors
    return mixed.numpy()
