"""Initial LSTM states: ``zero``, ``warm`` and ``stateful`` (docs/format.md §10).

``zero`` and ``warm`` give every row the same initial state, so a sentence's vectors do not
depend on the rest of its batch. ``stateful`` reproduces AllenNLP/bilm-tf: the state is kept
per batch *row* and carried from one batch to the next.
"""

from typing import List, Optional, Sequence

import torch
from torch import Tensor

from ..errors import ElmoInputError, Errors
from ..runtime_settings import STATE_MODES  # noqa: F401  (importable from here too)
from ..runtime_settings import check_state as check_state_mode  # noqa: F401
from .bilm import ELMoBiLM
from .lstm import LSTMState


def broadcast_state(state: LSTMState, batch_size: int) -> LSTMState:
    """Give every one of ``batch_size`` rows the single row of ``state``."""
    return LSTMState(
        state.h.expand(-1, -1, batch_size, -1).contiguous(),
        state.c.expand(-1, -1, batch_size, -1).contiguous(),
    )


@torch.no_grad()
def warm_state(bilm: ELMoBiLM, sentences: Sequence[Sequence[str]]) -> LSTMState:
    """The state after running ``sentences`` through the biLM one after another in a single
    row, starting from zeros: a fixed, "in the middle of a text" state like the ones the
    model saw in training.

    :returns: *Shapes:* ``h (L, 2, 1, P)``, ``c (L, 2, 1, D)``.
    """
    device = bilm.char_cnn.proj_weight.device
    state: Optional[LSTMState] = None
    for sentence in sentences:
        out = bilm(bilm.batch_to_ids([list(sentence)]).to(device), state)
        state = out.final_state
    return state if state is not None else bilm.zero_state(1)


class StatefulRows:
    """AllenNLP's per-row state store: row ``r`` of every batch reads and writes slot ``r``.

    The store grows with zero rows when a batch is larger than it; a smaller batch leaves the
    remaining slots untouched. A row whose new state is exactly zero keeps its old value.
    """

    def __init__(self) -> None:
        self.state: Optional[LSTMState] = None

    @property
    def n_slots(self) -> int:
        return 0 if self.state is None else self.state.batch_size

    def take(self, bilm: ELMoBiLM, batch_size: int) -> LSTMState:
        """The states of slots ``0 .. batch_size - 1``, growing the store if needed."""
        if self.state is None or self.state.batch_size < batch_size:
            grown = bilm.zero_state(batch_size)
            if self.state is not None:
                n = self.state.batch_size
                grown.h[:, :, :n] = self.state.h
                grown.c[:, :, :n] = self.state.c
            self.state = grown
        return LSTMState(self.state.h[:, :, :batch_size], self.state.c[:, :, :batch_size])

    def update(self, final: LSTMState) -> None:
        """Store the final states of a batch, by row."""
        assert self.state is not None
        B = final.batch_size
        h, c = final.h.detach(), final.c.detach()
        used = (h.sum(dim=(0, 1, 3)) + c.sum(dim=(0, 1, 3))) != 0  # (B,)
        keep_h, keep_c = self.state.h[:, :, :B], self.state.c[:, :, :B]
        u = used.view(1, 1, B, 1)
        self.state.h[:, :, :B] = torch.where(u, h, keep_h)
        self.state.c[:, :, :B] = torch.where(u, c, keep_c)

    def reset(self, mask: Optional[Tensor] = None) -> None:
        """Clear every slot, or zero the slots where ``mask`` (``(n_slots,)`` bool) is True."""
        if mask is None or self.state is None:
            self.state = None
            return
        if mask.shape != (self.n_slots,):
            raise ElmoInputError(
                Errors.E110.format(
                    name="reset mask", value=tuple(mask.shape), expected=f"shape ({self.n_slots},)"
                )
            )
        keep = (~mask.to(torch.bool)).to(self.state.h.dtype).view(1, 1, -1, 1)
        self.state = LSTMState(self.state.h * keep, self.state.c * keep)


def read_sentences(text: str) -> List[List[str]]:
    """Whitespace-tokenized, non-empty lines of ``text``."""
    return [line.split() for line in text.splitlines() if line.strip()]
