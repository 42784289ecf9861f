"""The weighted sum of biLM layers (Peters et al., 2018, eq. 1), in one implementation
(:func:`mix_layers`): trainable (:class:`ScalarMix`) or fixed (:func:`fixed_mix`, numpy in and
out, for the ``elmo`` component's ``doc._.elmo`` and ``python -m spacy_elmo senses``)."""

from typing import Optional, Sequence, Union

import numpy as np
import torch
from torch import Tensor, nn

from ..errors import ElmoInputError, Errors
from ..validation import check_float


class ScalarMix(nn.Module):
    """``gamma * sum_k softmax(w)_k * norm(layer_k)``, with AllenNLP's semantics.

    ``initial_weights`` are pre-softmax; ``[-9e10, -9e10, 1]`` selects the top layer.
    """

    def __init__(
        self,
        *,
        n_layers: int,
        trainable: bool = True,
        initial_weights: Optional[Sequence[float]] = None,
        gamma: float = 1.0,
        layer_norm: bool = False,
        layer_dropout: float = 0.0,
        dropout: float = 0.0,
    ):
        """
        :param n_layers: Number of layers to mix (``L + 1``).
        :param trainable: Learn the weights and gamma.
        :param initial_weights: Pre-softmax weights (default zeros: an even average).
        :param gamma: Initial scale.
        :param layer_norm: Normalise each layer with mean and variance pooled over the
            masked positions of the whole batch (AllenNLP ``do_layer_norm``).
        :param layer_dropout: In training, drop each layer from the mix with this
            probability (its weight goes to zero before renormalisation).
        :param dropout: Dropout on the output, in training only.
        """
        super().__init__()
        weights = [0.0] * n_layers if initial_weights is None else list(initial_weights)
        if len(weights) != n_layers:
            raise ElmoInputError(Errors.E108.format(expected=n_layers, found=len(weights)))
        for name, p in (("layer_dropout", layer_dropout), ("dropout", dropout)):
            check_float(name, p, low=0.0, high=1.0, high_open=True)
        self.n_layers = n_layers
        self.layer_norm = layer_norm
        self.layer_dropout = layer_dropout
        self.weights = nn.Parameter(torch.tensor(weights, dtype=torch.float32), trainable)
        self.gamma = nn.Parameter(torch.tensor([float(gamma)]), trainable)
        self.dropout = nn.Dropout(dropout)

    def normalized_weights(self) -> Tensor:
        """The softmax-normalised layer weights. *Shape:* ``(n_layers,)``."""
        w: Tensor = self.weights
        if self.training and self.layer_dropout > 0:
            drop = torch.rand_like(w) < self.layer_dropout
            if bool(drop.all()):
                drop[torch.randint(self.n_layers, (1,))] = False
            w = w.masked_fill(drop, -1e20)
        return torch.softmax(w, dim=0)

    def forward(self, layers: Tensor, mask: Optional[Tensor] = None) -> Tensor:
        """
        :param layers: *Shape:* ``(n_layers, ..., D)``, e.g. ``(L + 1, batch_size, T, 2P)``.
        :param mask: True at real positions, needed for ``layer_norm``.
            *Shape:* ``layers.shape[1:-1]``.
        :returns: *Shape:* ``layers.shape[1:]``.
        """
        if layers.shape[0] != self.n_layers:
            raise ElmoInputError(Errors.E108.format(expected=self.n_layers, found=layers.shape[0]))
        weights = self.normalized_weights().to(layers.dtype)
        gamma = self.gamma.to(layers.dtype)
        return self.dropout(
            mix_layers(layers, weights, gamma, layer_norm=self.layer_norm, mask=mask)
        )


def mix_layers(
    layers: Tensor,
    weights: Tensor,
    gamma: Union[float, Tensor],
    *,
    layer_norm: bool = False,
    mask: Optional[Tensor] = None,
) -> Tensor:
    """``gamma * sum_k weights_k * norm(layers_k)`` (Peters et al., 2018, eq. 1): the one
    implementation of the mix, trainable (:class:`ScalarMix`) or fixed (the ``elmo``
    component's ``doc._.elmo``).

    :param layers: *Shape:* ``(n_layers, ..., D)``.
    :param weights: Normalised layer weights. *Shape:* ``(n_layers,)``.
    :param gamma: Scale (a float, or a 1-element tensor when trained).
    :param layer_norm: Normalise each layer first (:func:`normalize_layers`).
    :param mask: True at real positions, for ``layer_norm``. *Shape:* ``layers.shape[1:-1]``.
    :returns: *Shape:* ``layers.shape[1:]``.
    """
    if layer_norm:
        layers = normalize_layers(layers, mask)
    return gamma * torch.tensordot(weights, layers, dims=1)


def normalize_layers(layers: Tensor, mask: Optional[Tensor] = None) -> Tensor:
    """Each layer minus its mean, over its standard deviation, both pooled over every masked
    position and feature of the layer (AllenNLP's ``do_layer_norm``). Masked-out positions
    are normalised too (they do not count towards the statistics).

    :param layers: *Shape:* ``(n_layers, ..., D)``.
    :param mask: True at real positions (default: all). *Shape:* ``layers.shape[1:-1]``.
    :returns: *Shape:* ``layers.shape``.
    """
    if mask is None:
        mask = layers.new_ones(layers.shape[1:-1], dtype=torch.bool)
    m = mask.to(layers.dtype).unsqueeze(-1)  # (..., 1)
    n = (m.sum() * layers.shape[-1]).clamp(min=1.0)
    reduce = tuple(range(1, layers.dim()))
    masked = layers * m
    mean = masked.sum(dim=reduce, keepdim=True) / n
    var = (((masked - mean) * m) ** 2).sum(dim=reduce, keepdim=True) / n
    return (layers - mean) / torch.sqrt(var + 1e-13)


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
