"""biLM + shared softmax = the pretraining objective (Peters et al., 2018, eq. 1).

The forward LM predicts the next token from the forward top layer, the backward LM the
previous token from the backward top layer; both share the char CNN and the softmax.
"""

from dataclasses import dataclass
from typing import Optional

import torch
from torch import Tensor, nn

from ..pytorch.bilm import ELMoBiLM
from ..pytorch.lstm import LSTMState
from .char_features import char_features
from .lm_head import SharedSoftmax


@dataclass
class LMOutput:
    """
    loss: Mean negative log-likelihood, averaged over the two directions.
    nll: Summed negative log-likelihood per direction. *Shape:* ``(2,)``.
    n_targets: Predicted tokens per direction. *Shape:* ``(2,)``.
    state: LSTM state after the window (not detached).
    """

    loss: Tensor
    nll: Tensor
    n_targets: Tensor
    state: LSTMState


class BiLMLanguageModel(nn.Module):
    """The biLM and its softmax, on windows of word-type ids."""

    def __init__(self, *, bilm: ELMoBiLM, softmax: SharedSoftmax, dropout: float = 0.0):
        """
        :param bilm: The biLM (char CNN + LSTMs) that is exported.
        :param softmax: The shared softmax (kept for continued training, never exported).
        :param dropout: Dropout on the LSTM inputs and on the top layer.
        """
        super().__init__()
        self.bilm = bilm
        self.softmax = softmax
        self.dropout = nn.Dropout(dropout)

    def forward(
        self,
        inputs: Tensor,
        targets: Tensor,
        char_table: Tensor,
        state: Optional[LSTMState] = None,
    ) -> LMOutput:
        """
        :param inputs: Type ids read by the forward (0) and backward (1) LM, every row
            a continuation of the same row of the previous window. *Shape:* ``(2, B, U)``.
        :param targets: Softmax ids to predict, ``-1`` where nothing is predicted.
            *Shape:* ``(2, B, U)``.
        :param char_table: Character ids of every type. *Shape:* ``(n_types, 50)``.
        :param state: State after the previous window (``None``: zeros).
        """
        _, B, U = inputs.shape
        # The char CNN runs once per distinct type in the window, not per token.
        uniq, inverse = torch.unique(inputs, return_inverse=True)
        emb = char_features(self.bilm.char_cnn, char_table[uniq].long())  # (N_types, P)
        x = self.dropout(emb[inverse])  # (2, B, U, P)
        # Every row runs all U steps (continuous streams).
        lengths = torch.full((B,), U, dtype=torch.long)
        out, state = self.bilm.lstm(x, lengths, state)  # (L, 2, B, U, P)
        top = self.dropout(out[-1])  # (2, B, U, P)
        mask = targets >= 0
        logp = self.softmax(top[mask], targets[mask])  # (M,)
        direction = torch.arange(2, device=inputs.device).view(2, 1, 1).expand_as(targets)[mask]
        nll = torch.zeros(2, dtype=logp.dtype, device=logp.device).index_add(0, direction, -logp)
        n = torch.bincount(direction, minlength=2).to(logp.dtype)
        loss = (nll / n.clamp(min=1)).mean()
        return LMOutput(loss=loss, nll=nll.detach(), n_targets=n, state=state)
