"""Token strings -> ELMo character ids (docs/format.md §4).

Every token becomes 50 ids: begin-of-word, at most 48 UTF-8 bytes, end-of-word, char padding,
all shifted by +1 so that 0 can mean "no token here" (a padding position).
"""

import re
from functools import lru_cache
from typing import List, Sequence

import torch

from ..errors import ElmoInputError, Errors
from .config import MAX_CHARS

# Unshifted special characters, as in bilm-tf.
_BOS_CHAR = 256
_EOS_CHAR = 257
_BOW_CHAR = 258
_EOW_CHAR = 259
_PAD_CHAR = 260
#: Largest id after the +1 shift.
MAX_CHAR_ID = _PAD_CHAR + 1

BOS_TOKEN = "<S>"
EOS_TOKEN = "</S>"


def _special(char: int) -> List[int]:
    ids = [_PAD_CHAR] * MAX_CHARS
    ids[0], ids[1], ids[2] = _BOW_CHAR, char, _EOW_CHAR
    return [i + 1 for i in ids]


#: Ids of the sentence-boundary tokens ``<S>`` and ``</S>``.
BOS_IDS: List[int] = _special(_BOS_CHAR)
EOS_IDS: List[int] = _special(_EOS_CHAR)


_SURROGATE = re.compile("[\ud800-\udfff]")


def replace_surrogates(text: str) -> str:
    """``text`` with surrogate code points made encodable: a high-low pair (as left by
    UTF-16 or JSON ``\\ud83d\\ude00`` escapes) becomes its character, a lone surrogate
    becomes U+FFFD, the replacement character, as an undecodable byte does when text is
    read with ``errors="replace"``. Other text is returned unchanged.

    spaCy's tokenizer raises ``UnicodeEncodeError`` on lone surrogates: clean text from
    untrusted sources with this before ``nlp(text)``.
    """
    if not _SURROGATE.search(text):
        return text
    paired = text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "surrogatepass")
    return _SURROGATE.sub("\ufffd", paired)


def _utf8(token: str) -> bytes:
    try:
        return token.encode("utf-8")
    except UnicodeEncodeError:  # surrogates: see replace_surrogates
        return replace_surrogates(token).encode("utf-8")


@lru_cache(maxsize=65536)
def _token_ids(token: str) -> tuple:
    if token == BOS_TOKEN:
        return tuple(BOS_IDS)
    if token == EOS_TOKEN:
        return tuple(EOS_IDS)
    # Bytes are the unit; a multi-byte character may be cut.
    data = _utf8(token)[: MAX_CHARS - 2]
    ids = [_PAD_CHAR + 1] * MAX_CHARS
    ids[0] = _BOW_CHAR + 1
    ids[1 : len(data) + 1] = [b + 1 for b in data]
    ids[len(data) + 1] = _EOW_CHAR + 1
    return tuple(ids)


def token_to_char_ids(token: str) -> List[int]:
    """The 50 character ids of one token (already shifted by +1).

    The literal strings ``<S>`` and ``</S>`` are encoded as sentence boundaries, as in the
    original models.
    """
    if not isinstance(token, str):
        raise ElmoInputError(Errors.E103.format(type=type(token).__name__, where="a token"))
    return list(_token_ids(token))


def tokens_to_ids(tokens: Sequence[str]) -> torch.Tensor:
    """Character ids of a list of tokens.

    *Shape:* ``(len(tokens), 50)``, int64.
    """
    if not tokens:
        return torch.zeros((0, MAX_CHARS), dtype=torch.long)
    try:
        rows = [_token_ids(t) for t in tokens]
    except (TypeError, AttributeError):
        bad = next(t for t in tokens if not isinstance(t, str))
        raise ElmoInputError(Errors.E103.format(type=type(bad).__name__, where="a token")) from None
    return torch.tensor(rows, dtype=torch.long)


def batch_to_ids(sentences: Sequence[Sequence[str]]) -> torch.Tensor:
    """Character ids of a batch of tokenized sentences, right-padded with all-zero tokens.

    *Shape:* ``(batch_size, max_n_tokens, 50)``, int64.
    """
    check_sentences(sentences)
    T = max((len(s) for s in sentences), default=0)
    out = torch.zeros((len(sentences), T, MAX_CHARS), dtype=torch.long)
    for i, sentence in enumerate(sentences):
        if sentence:
            out[i, : len(sentence)] = tokens_to_ids(sentence)
    return out


def check_sentences(sentences: object) -> None:
    """Raise a coded error unless ``sentences`` is a sequence of lists of strings."""
    if isinstance(sentences, (str, bytes)) or not isinstance(sentences, Sequence):
        raise ElmoInputError(
            Errors.E103.format(type=type(sentences).__name__, where="the top level")
        )
    for i, sentence in enumerate(sentences):
        if isinstance(sentence, (str, bytes)) or not isinstance(sentence, Sequence):
            raise ElmoInputError(
                Errors.E103.format(type=type(sentence).__name__, where=f"sentence {i}")
            )
        for j, token in enumerate(sentence):
            if not isinstance(token, str):
                raise ElmoInputError(
                    Errors.E103.format(type=type(token).__name__, where=f"sentence {i}, token {j}")
                )
