"""Continuous sentence streams cut into fixed-length windows (truncated BPTT, as bilm-tf).

Every epoch the sentences are shuffled and joined into one stream ``<S> w1 .. wn </S> <S> ..``,
which is cut into ``n_rows`` equal rows. Window ``k`` of a row is tokens ``[kU, kU + U]``.
The forward LM reads the row left to right; the backward LM reads the reversed row
(``</S> wn .. w1 <S> ..``), which is what the backward LSTM sees for a sentence at inference.
Both carry their LSTM state from window ``k`` to ``k + 1``. The data position is the step
number alone, so resuming needs no iterator state.
"""

from dataclasses import dataclass
from typing import Optional

import numpy as np

from ..errors import ElmoInputError, Errors
from .text import EncodedText
from .vocab import BOS_ID, EOS_ID


def build_stream(text: EncodedText, *, order: Optional[np.ndarray] = None) -> np.ndarray:
    """Sentences joined with boundaries, in ``order`` (default: file order), no Python loop.

    :returns: Type ids. *Shape:* ``(n_tokens + 2 * n_sentences,)``, int32.
    """
    starts = text.offsets[:-1]
    lengths = np.diff(text.offsets)
    if order is not None:
        starts, lengths = starts[order], lengths[order]
    full = lengths + 2
    total = int(full.sum())
    out_starts = np.zeros_like(full)
    np.cumsum(full[:-1], out=out_starts[1:])
    pos = np.arange(total, dtype=np.int64) - np.repeat(out_starts, full)  # position in sentence
    src = np.repeat(starts - 1, full) + pos
    out = np.empty(total, dtype=np.int32)
    is_word = (pos > 0) & (pos < np.repeat(full - 1, full))
    out[is_word] = text.ids[src[is_word]]
    out[pos == 0] = BOS_ID
    out[out_starts + full - 1] = EOS_ID
    return out


@dataclass
class Window:
    """One training step's tokens for this process's rows.

    inputs: Type ids read by the forward (0) and backward (1) LM. *Shape:* ``(2, B, U)``.
    targets: Type ids to predict: the next token of each direction. *Shape:* ``(2, B, U)``.
    """

    inputs: np.ndarray
    targets: np.ndarray


class StreamBatcher:
    """Rows of the shuffled stream for one epoch, and their windows.

    :param text: The encoded training corpus.
    :param n_rows: Rows over all processes (``batch_size * world_size``).
    :param unroll_steps: Window length ``U``.
    :param rows: This process's rows ``[start, stop)``.
    :param seed: Shuffling seed; epoch ``e`` uses ``seed + e``.
    :param shuffle: Shuffle sentences every epoch.
    """

    def __init__(
        self,
        text: EncodedText,
        *,
        n_rows: int,
        unroll_steps: int,
        rows: slice,
        seed: int,
        shuffle: bool = True,
        what: str = "training corpus",
    ):
        self.text, self.n_rows, self.unroll, self.rows = text, n_rows, unroll_steps, rows
        self.seed, self.shuffle = seed, shuffle
        n_stream = text.n_tokens + 2 * text.n_sentences
        self.row_len = n_stream // n_rows
        needed = n_rows * (unroll_steps + 1)
        if self.row_len < unroll_steps + 1:
            raise ElmoInputError(
                Errors.E306.format(
                    what=what, n_tokens=n_stream, n_rows=n_rows, unroll=unroll_steps, needed=needed
                )
            )
        #: Windows per epoch: every window needs its U inputs and U targets.
        self.steps_per_epoch = (self.row_len - 1) // unroll_steps
        self._epoch = -1
        self._rows: Optional[np.ndarray] = None
        self._rev: Optional[np.ndarray] = None

    def _load_epoch(self, epoch: int) -> None:
        order = None
        if self.shuffle:
            order = np.random.default_rng(self.seed + epoch).permutation(self.text.n_sentences)
        stream = build_stream(self.text, order=order)
        rows = stream[: self.n_rows * self.row_len].reshape(self.n_rows, self.row_len)
        self._rows = np.ascontiguousarray(rows[self.rows])
        self._rev = np.ascontiguousarray(self._rows[:, ::-1])
        self._epoch = epoch

    def window(self, step: int) -> Window:
        """The window of global step ``step`` (epoch ``step // steps_per_epoch``)."""
        epoch, k = divmod(step, self.steps_per_epoch)
        if epoch != self._epoch:
            self._load_epoch(epoch)
        if self._rows is None or self._rev is None:  # epoch -1: not loaded
            raise ElmoInputError(
                Errors.E110.format(name="step", value=step, expected="a non-negative step")
            )
        a, U = k * self.unroll, self.unroll
        fwd, bwd = self._rows[:, a : a + U + 1], self._rev[:, a : a + U + 1]
        both = np.stack([fwd, bwd])  # (2, B, U + 1)
        return Window(inputs=both[:, :, :-1], targets=both[:, :, 1:])

    def is_epoch_start(self, step: int) -> bool:
        return step % self.steps_per_epoch == 0


def eval_windows(
    text: EncodedText, *, n_rows: int, unroll_steps: int, max_tokens: Optional[int] = None
):
    """Windows over a held-out text in file order, for perplexity (no shuffling).

    The text (bounded to about ``max_tokens`` tokens) is cut into ``min(n_rows, ...)`` rows;
    the last window may be shorter than ``unroll_steps``. Yields :class:`Window` objects.
    """
    stream = build_stream(text)
    if max_tokens is not None and stream.shape[0] > max_tokens + 1:
        stream = stream[: max_tokens + 1]
    n_rows = max(1, min(n_rows, (stream.shape[0] - 1) // max(1, unroll_steps)))
    row_len = stream.shape[0] // n_rows
    if row_len < 2:
        return
    rows = stream[: n_rows * row_len].reshape(n_rows, row_len)
    rev = rows[:, ::-1]
    for a in range(0, row_len - 1, unroll_steps):
        both = np.stack([rows[:, a : a + unroll_steps + 1], rev[:, a : a + unroll_steps + 1]])
        yield Window(inputs=both[:, :, :-1], targets=both[:, :, 1:])
