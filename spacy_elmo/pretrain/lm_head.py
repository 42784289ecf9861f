"""The softmax shared by the forward and backward LMs (Peters et al., 2018, §3.1).

``torch.nn.AdaptiveLogSoftmaxWithLoss`` (Grave et al., 2017): frequent words in a full head,
rarer words in narrower tail clusters, so a 40k-word softmax is cheap on CPU and the loss is
exact (no sampling, unlike bilm-tf's sampled softmax), which makes perplexities comparable.
"""

from typing import Any, Dict, Optional, Sequence

import torch
from torch import Tensor, nn


class SharedSoftmax(nn.Module):
    """Log-probabilities of target words from top-layer LSTM states."""

    def __init__(
        self,
        *,
        input_dim: int,
        n_words: int,
        cutoffs: Sequence[int],
        div_value: float = 4.0,
        device: Optional[torch.device] = None,
    ):
        """
        :param input_dim: Width of the top LSTM layer ``P``.
        :param n_words: Vocabulary size ``V`` (ids in frequency order).
        :param cutoffs: Adaptive-softmax cluster boundaries, each ``< V``.
        :param div_value: Width divisor between clusters. Recommended: 2-4.
        :param device: Device to create the parameters on.
        """
        super().__init__()
        self.n_words = n_words
        self.asm = nn.AdaptiveLogSoftmaxWithLoss(
            input_dim, n_words, list(cutoffs), div_value=div_value, device=device
        )

    def spec(self) -> Dict[str, Any]:
        """The constructor arguments, for :meth:`from_spec` (checkpoints, ``softmax.pt``)."""
        return {
            "input_dim": self.asm.in_features,
            "n_words": self.asm.n_classes,
            "cutoffs": list(self.asm.cutoffs[:-1]),
            "div_value": self.asm.div_value,
        }

    @classmethod
    def from_spec(cls, spec: Dict[str, Any]) -> "SharedSoftmax":
        """A new softmax with the shape described by ``spec`` (extra keys ignored)."""
        keys = ("input_dim", "n_words", "cutoffs", "div_value")
        return cls(**{key: spec[key] for key in keys})

    def forward(self, hidden: Tensor, targets: Tensor) -> Tensor:
        """
        :param hidden: *Shape:* ``(N, P)``.
        :param targets: Word ids. *Shape:* ``(N,)``.
        :returns: ``log p(target)``. *Shape:* ``(N,)``.
        """
        if hidden.shape[0] == 0:
            return hidden.new_zeros(0)
        return self.asm(hidden, targets).output
