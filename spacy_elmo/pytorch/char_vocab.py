"""Token ids from dictionaries (ELMoForManyLangs models) instead of UTF-8 bytes.

An ELMoForManyLangs model maps every character of a token through its own character
dictionary (``char.dic``) and, where it was trained with one, the whole token through a word
dictionary (``word.dic``). A token becomes ``max_chars`` slots: a begin-of-word symbol, one id
per character (code points, not bytes; unknown ones get the ``<oov>`` id), an end-of-word
symbol, then the ``<pad>`` id. The package fills the begin slot with the id of ``<eow>`` and
the end slot with the id of ``<bow>`` (its names are swapped, and its models were trained
that way), so the same is done here. Sentence boundaries are tokens of their own:
``[begin, id('<bos>'), end, pad...]`` with the word id of ``<bos>`` (``<eos>`` alike).

Ids here are shifted by one so that 0 stays the padding id of the biLM (a padded token is all
zeros): the character embedding has one zero row in front of the dictionary's rows. With a
word dictionary one more slot follows the character slots: the word id, shifted likewise.
"""

from dataclasses import dataclass, field
from typing import Dict, List, Mapping, Optional, Sequence

import torch
from torch import Tensor, nn

from ..errors import ElmoFormatError, Errors

#: The symbols every dictionary of the package holds (``char.dic`` all four plus the two
#: sentence symbols; ``word.dic`` the last two).
CHAR_SYMBOLS = ("<bow>", "<eow>", "<oov>", "<pad>", "<bos>", "<eos>")
WORD_SYMBOLS = ("<oov>", "<pad>")


@dataclass(frozen=True)
class TokenVocabulary:
    """The dictionaries of a model and how a token becomes ids (see the module docstring).

    :param chars: Character -> id in the dictionary (0-based, as in ``char.dic``).
    :param words: Word -> id (``word.dic``), or None for a model without word embedding.
    :param max_chars: Slots per token, markers included.
    """

    chars: Mapping[str, int]
    words: Optional[Mapping[str, int]]
    max_chars: int
    _cache: Dict[str, List[int]] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        missing = [s for s in CHAR_SYMBOLS if s not in self.chars]
        if self.words is not None:
            missing += [f"word {s}" for s in WORD_SYMBOLS if s not in self.words]
        if missing:
            raise ElmoFormatError(Errors.E021.format(missing=", ".join(missing)))

    @property
    def width(self) -> int:
        """Slots per token in the id tensors: characters, plus the word id if any."""
        return self.max_chars + (1 if self.words is not None else 0)

    def token_ids(self, token: str) -> List[int]:
        """The shifted ids of one token (``width`` of them)."""
        cached = self._cache.get(token)
        if cached is None:
            cached = self._token_ids(token)
            if len(self._cache) < 100_000:  # bounded: a stream of new words stays cheap
                self._cache[token] = cached
        return cached

    def _token_ids(self, token: str) -> List[int]:
        c = self.chars
        ids = [c["<pad>"]] * self.max_chars
        ids[0] = c["<eow>"]
        if token in ("<bos>", "<eos>"):  # the boundaries, which the package never cuts
            inner = [c[token]]
        else:
            # The package cuts a token to max_chars - 2 code points before both look-ups.
            token = token[: self.max_chars - 2]
            inner = [c.get(ch, c["<oov>"]) for ch in token]
        ids[1 : len(inner) + 1] = inner
        ids[len(inner) + 1] = c["<bow>"]
        shifted = [i + 1 for i in ids]
        if self.words is not None:
            shifted.append(self.words.get(token, self.words["<oov>"]) + 1)
        return shifted

    def tokens_to_ids(self, tokens: Sequence[str]) -> Tensor:
        """*Shape:* ``(len(tokens), width)``, int64."""
        if not tokens:
            return torch.zeros(0, self.width, dtype=torch.long)
        return torch.tensor([self.token_ids(t) for t in tokens], dtype=torch.long)

    def batch_to_ids(self, sentences: Sequence[Sequence[str]]) -> Tensor:
        """*Shape:* ``(B, T, width)``, zero-padded tokens."""
        T = max((len(s) for s in sentences), default=0)
        out = torch.zeros(len(sentences), T, self.width, dtype=torch.long)
        for i, sentence in enumerate(sentences):
            if sentence:
                out[i, : len(sentence)] = self.tokens_to_ids(list(sentence))
        return out

    def boundary_ids(self) -> Tensor:
        """The ids of the sentence boundaries ``<bos>`` and ``<eos>``. *Shape:* ``(2, width)``."""
        return self.tokens_to_ids(["<bos>", "<eos>"])


class WordEmbedding(nn.Module):
    """The word half of an ELMoForManyLangs token vector: ``embed[word] @ proj``.

    The package projects ``[word_vector; char_features]`` with one matrix; its rows for the
    word part live here, its rows for the char part (and the bias) in the char CNN.
    """

    def __init__(self, *, n_words: int, dim: int, output_dim: int, device=None):
        super().__init__()
        # Row 0 is the shifted padding id: zero, never looked up for a real token.
        self.embed = nn.Parameter(torch.zeros(n_words + 1, dim, device=device))
        self.proj = nn.Parameter(torch.zeros(dim, output_dim, device=device))  # [in, out]

    def forward(self, word_ids: Tensor) -> Tensor:
        """:param word_ids: Shifted ids. *Shape:* ``(N,)``. :returns: *Shape:* ``(N, P)``."""
        return nn.functional.embedding(word_ids, self.embed) @ self.proj


__all__ = ["CHAR_SYMBOLS", "WORD_SYMBOLS", "TokenVocabulary", "WordEmbedding"]
