"""The softmax vocabulary: ``<S>``, ``</S>``, ``<UNK>``, then words by frequency.

Only the output layer uses it; the char CNN reads every word, in or out of the vocabulary.
"""

from pathlib import Path
from typing import Dict, List, Optional, Sequence, Union

import numpy as np

from ..errors import ElmoInputError, Errors
from ..pytorch.char_ids import BOS_TOKEN, EOS_TOKEN
from .atomic import atomic_write_text
from .text import EncodedText

UNK_TOKEN = "<UNK>"
BOS_ID, EOS_ID, UNK_ID = 0, 1, 2
SPECIALS = (BOS_TOKEN, EOS_TOKEN, UNK_TOKEN)


class Vocab:
    """Word <-> softmax id. Ids are in frequency order (the adaptive softmax relies on it)."""

    def __init__(self, words: Sequence[str]):
        """
        :param words: The vocabulary, starting with ``<S>``, ``</S>``, ``<UNK>``.
        """
        if tuple(words[:3]) != SPECIALS:
            raise ElmoInputError(
                Errors.E110.format(name="vocab", value=list(words[:3]), expected=list(SPECIALS))
            )
        self.words: List[str] = list(words)
        self.index: Dict[str, int] = {w: i for i, w in enumerate(self.words)}

    def __len__(self) -> int:
        return len(self.words)

    @classmethod
    def from_counts(cls, text: EncodedText, *, size: int, min_count: int = 1) -> "Vocab":
        """The ``size - 3`` most frequent words of ``text`` seen at least ``min_count`` times."""
        words = [
            w for w, c in zip(text.types[2:], text.counts[2:]) if c >= min_count and w != UNK_TOKEN
        ]
        return cls([*SPECIALS, *words[: max(0, size - 3)]])

    def lookup(self, types: Sequence[str]) -> np.ndarray:
        """Softmax id of every type (``<UNK>`` for words outside the vocabulary).

        *Shape:* ``(len(types),)``, int64.
        """
        get, unk = self.index.get, UNK_ID
        return np.fromiter((get(t, unk) for t in types), dtype=np.int64, count=len(types))

    def save(self, path: Union[str, Path]) -> None:
        """One word per line, atomically."""
        atomic_write_text("\n".join(self.words) + "\n", Path(path))

    @classmethod
    def load(cls, path: Union[str, Path]) -> "Vocab":
        path = Path(path)
        if not path.is_file():
            raise ElmoInputError(Errors.E001.format(what="vocabulary file", path=path))
        return cls(path.read_text(encoding="utf8").split("\n")[:-1])


def check_cutoffs(cutoffs: Sequence[int], n_words: int) -> List[int]:
    """The adaptive-softmax cutoffs that fit a vocabulary of ``n_words``.

    Cutoffs at or beyond the vocabulary size are dropped (a small corpus gives a small
    vocabulary); an empty result puts half of the words in one tail cluster.
    """
    if any(not isinstance(c, int) or c < 1 for c in cutoffs) or list(cutoffs) != sorted(
        set(cutoffs)
    ):
        raise ElmoInputError(
            Errors.E110.format(
                name="softmax.cutoffs", value=list(cutoffs), expected="increasing positive integers"
            )
        )
    kept = [c for c in cutoffs if c < n_words - 1]
    return kept or [max(1, n_words // 2)]


__all__ = ["Vocab", "UNK_TOKEN", "BOS_ID", "EOS_ID", "UNK_ID", "check_cutoffs"]
