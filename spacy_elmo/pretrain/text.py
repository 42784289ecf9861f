"""Raw text files -> token-id arrays, robust to bad input.

A text is kept as one flat ``int32`` array of word-type ids plus sentence offsets (no Python
objects per token), with its own type list sorted by frequency. Lines are sentences (or
paragraphs); sentence boundaries are added later, when the streams are built.
"""

import hashlib
import io
import json
import warnings
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import (
    TYPE_CHECKING,
    Dict,
    Iterable,
    Iterator,
    List,
    Optional,
    Protocol,
    Sequence,
    Tuple,
    cast,
)

import numpy as np
import torch

from ..errors import ElmoInputError, Errors, Warnings
from ..pytorch.char_ids import BOS_TOKEN, EOS_TOKEN, tokens_to_ids
from .atomic import atomic_write_bytes, atomic_write_text
from .config import CorpusFile

if TYPE_CHECKING:
    from spacy.tokens import Doc

#: Bytes looked at to tell text from binary files.
_SNIFF_BYTES = 8192
#: Control bytes that do not occur in text (tab, newlines, form feed and escape excluded).
_BINARY_BYTES = bytes(b for b in range(32) if b not in (9, 10, 12, 13, 27))


@dataclass
class EncodedText:
    """A tokenized text.

    ids: Type id of every token, sentences concatenated. *Shape:* ``(n_tokens,)``, int32.
    offsets: Sentence ``i`` is ``ids[offsets[i]:offsets[i + 1]]``. *Shape:* ``(n_sents + 1,)``.
    types: The word types, most frequent first.
    counts: Frequency of every type. *Shape:* ``(n_types,)``, int64.
    """

    ids: np.ndarray
    offsets: np.ndarray
    types: List[str]
    counts: np.ndarray

    @property
    def n_tokens(self) -> int:
        return int(self.ids.shape[0])

    @property
    def n_sentences(self) -> int:
        return int(self.offsets.shape[0] - 1)

    def char_table(self) -> torch.Tensor:
        """Character ids of every type. *Shape:* ``(n_types, 50)``, int16 (ids <= 261)."""
        return tokens_to_ids(self.types).to(torch.int16)

    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        buffer = io.BytesIO()
        np.savez(buffer, ids=self.ids, offsets=self.offsets, counts=self.counts)
        # types.txt first: arrays.npz marks a complete cache entry.
        atomic_write_text("\n".join(self.types) + "\n", directory / "types.txt")
        atomic_write_bytes(buffer.getvalue(), directory / "arrays.npz")

    @classmethod
    def load(cls, directory: Path) -> "EncodedText":
        arrays = np.load(directory / "arrays.npz")
        types = (directory / "types.txt").read_text(encoding="utf8").split("\n")[:-1]
        return cls(arrays["ids"], arrays["offsets"], types, arrays["counts"])


def check_not_binary(path: Path) -> None:
    """Raise E303 if the start of ``path`` is mostly control/NUL bytes."""
    with path.open("rb") as f:
        head = f.read(_SNIFF_BYTES)
    if not head:
        return
    n_bad = sum(head.count(b) for b in _BINARY_BYTES)
    if n_bad / len(head) > 0.05:
        raise ElmoInputError(Errors.E303.format(path=path, share=n_bad / len(head), n=len(head)))


def read_lines(
    path: Path, *, max_line_chars: int, max_lines: Optional[int] = None
) -> Iterator[str]:
    """Non-empty lines of a text file, stripped.

    Undecodable bytes become U+FFFD (warning W030). Lines longer than ``max_line_chars`` are
    split at whitespace into pieces (warning W031), and an enormous line is never held in
    memory in full: reading is bounded by ``max_line_chars`` bytes at a time.
    """
    if not path.is_file():
        raise ElmoInputError(Errors.E001.format(what="corpus file", path=path))
    check_not_binary(path)
    n_bad_utf8 = n_long = longest = n_lines = 0
    with path.open("rb") as f:
        carry = b""
        current_len = 0  # length of the physical line read so far
        while max_lines is None or n_lines < max_lines:
            chunk = f.readline(max(1, max_line_chars - len(carry)))
            if not chunk and not carry:
                break
            data = carry + chunk
            carry = b""
            ended = data.endswith(b"\n") or not chunk
            current_len += len(chunk)
            if not ended:
                # Part of an enormous line: cut at the last whitespace, keep the rest.
                cut = max(data.rfind(b" "), data.rfind(b"\t"))
                if cut > 0:
                    data, carry = data[:cut], data[cut + 1 :]
            try:
                text = data.decode("utf8")
            except UnicodeDecodeError:
                text = data.decode("utf8", errors="replace")
                n_bad_utf8 += 1
            if ended:
                if current_len > max_line_chars:
                    n_long += 1
                    longest = max(longest, current_len)
                current_len = 0
            text = text.strip()
            if text:
                n_lines += 1
                yield text
    if n_bad_utf8:
        warnings.warn(Warnings.W030.format(path=path, n_lines=n_bad_utf8))
    if n_long:
        warnings.warn(
            Warnings.W031.format(
                path=path, n_lines=n_long, max_chars=max_line_chars, longest=longest
            )
        )
    if n_lines == 0:
        warnings.warn(Warnings.W032.format(path=path))


class _BatchTokenizer(Protocol):
    """What :func:`tokenize` uses of a spaCy tokenizer."""

    def pipe(self, texts: Iterable[str], batch_size: int = ...) -> Iterable["Doc"]: ...


def tokenize(lines: Iterable[str], *, pretokenized: bool, lang: str = "en") -> Iterator[List[str]]:
    """Token lists of ``lines``: whitespace split, or spaCy's rule-based tokenizer."""
    if pretokenized:
        for line in lines:
            yield line.split()
        return
    import spacy  # lazily: the rest of the package is pure torch

    # Language.tokenizer is typed as a plain callable, but spaCy's tokenizers (Tokenizer and
    # the DummyTokenizer subclasses of languages with their own segmenter) all have .pipe.
    tokenizer = cast(_BatchTokenizer, spacy.blank(lang).tokenizer)
    for doc in tokenizer.pipe(lines, batch_size=1000):
        yield [t.text for t in doc if not t.is_space]


def encode_files(
    files: Sequence[CorpusFile], *, max_line_chars: int, max_token_chars: int, lang: str
) -> EncodedText:
    """Tokenize and encode ``files`` into one :class:`EncodedText` (types sorted by frequency,
    ties in first-seen order; ``<S>``/``</S>`` always come first)."""
    index: Dict[str, int] = {BOS_TOKEN: 0, EOS_TOKEN: 1}
    chunks: List[np.ndarray] = []
    lengths: List[int] = []
    buf: List[int] = []
    for file in files:
        path = Path(file.path)
        n_cut = 0
        lines = read_lines(path, max_line_chars=max_line_chars, max_lines=file.max_lines)
        for tokens in tokenize(lines, pretokenized=file.pretokenized, lang=lang):
            if not tokens:
                continue
            for tok in tokens:
                if len(tok) > max_token_chars:
                    tok = tok[:max_token_chars]
                    n_cut += 1
                i = index.get(tok)
                if i is None:
                    i = index[tok] = len(index)
                buf.append(i)
            lengths.append(len(tokens))
            if len(buf) > 1 << 20:
                chunks.append(np.asarray(buf, dtype=np.int32))
                buf = []
        if n_cut:
            warnings.warn(
                Warnings.W034.format(path=path, n_tokens=n_cut, max_chars=max_token_chars)
            )
    chunks.append(np.asarray(buf, dtype=np.int32))
    ids = np.concatenate(chunks)
    offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(np.asarray(lengths, dtype=np.int64), out=offsets[1:])
    first_seen = list(index)
    counts = np.bincount(ids, minlength=len(first_seen)).astype(np.int64)
    counts[:2] = offsets.shape[0] - 1  # every sentence has one <S> and one </S>
    # Frequency order (stable: ties keep first-seen order); boundaries first.
    order = np.concatenate([[0, 1], 2 + np.argsort(-counts[2:], kind="stable")])
    remap = np.empty_like(order)
    remap[order] = np.arange(order.shape[0])
    return EncodedText(
        ids=remap[ids].astype(np.int32),
        offsets=offsets,
        types=[first_seen[i] for i in order],
        counts=counts[order],
    )


def _fingerprint(files: Sequence[CorpusFile], **settings: object) -> str:
    items = []
    for file in files:
        path = Path(file.path).resolve()
        stat = path.stat() if path.exists() else None
        items.append(
            [
                str(path),
                stat.st_size if stat else -1,
                stat.st_mtime_ns if stat else -1,
                file.pretokenized,
                file.max_lines,
            ]
        )
    blob = json.dumps([items, settings], sort_keys=True).encode("utf8")
    return hashlib.sha1(blob).hexdigest()[:16]


def prepare_corpus(
    files: Sequence[CorpusFile],
    cache_dir: Optional[Path],
    *,
    max_line_chars: int,
    max_token_chars: int,
    lang: str,
    what: str = "training corpus",
) -> EncodedText:
    """:func:`encode_files`, cached under ``cache_dir/<fingerprint>`` (reused on resume).

    :raises ElmoInputError: E001 for a missing file, E303 for a binary file, E302 when no
        file has any token.
    """
    if not files:
        raise ElmoInputError(Errors.E302.format(details=f"no files were given for the {what}"))
    for file in files:
        if not Path(file.path).is_file():
            raise ElmoInputError(Errors.E001.format(what="corpus file", path=file.path))
    directory = None
    if cache_dir is not None:
        fingerprint = _fingerprint(
            files, max_line_chars=max_line_chars, max_token_chars=max_token_chars, lang=lang
        )
        directory = Path(cache_dir) / fingerprint
        if (directory / "arrays.npz").is_file() and (directory / "types.txt").is_file():
            return EncodedText.load(directory)
    text = encode_files(
        files, max_line_chars=max_line_chars, max_token_chars=max_token_chars, lang=lang
    )
    if text.n_tokens == 0:
        names = ", ".join(str(f.path) for f in files)
        raise ElmoInputError(Errors.E302.format(details=f"{what} ({names}) is empty"))
    if directory is not None:
        text.save(directory)
    return text


def encode_with_types(text: EncodedText, types: Sequence[str]) -> Tuple[np.ndarray, int]:
    """Map ``text``'s type ids to indices in ``types`` (unknown: -1).

    :returns: The map, *Shape:* ``(len(text.types),)``, and the number of unknown types.
    """
    index = {t: i for i, t in enumerate(types)}
    mapping = np.asarray([index.get(t, -1) for t in text.types], dtype=np.int64)
    return mapping, int((mapping < 0).sum())
