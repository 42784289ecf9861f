"""Lazy line reading for ``embed``: a file, stdin (``-``) or an open text stream.

Lines end at ``\\n``, ``\\r\\n`` or a lone ``\\r`` (Python's universal newlines, as text-mode
``open`` reads them), are stripped of surrounding whitespace, and are numbered from 1. Bytes
are decoded one line at a time, so a line that is not valid in the chosen encoding is
reported with its number (:data:`Errors.E501`) instead of being silently replaced.

A path may name a regular file, read twice (a first pass counts and checks the lines), or a
pipe (``mkfifo``, or the ``/dev/fd/N`` of a shell's ``<(zcat corpus.gz)``), read once as a
stream like stdin.
"""

import codecs
import os
import re
import stat
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import IO, BinaryIO, Iterator, List, Literal, Optional, Sequence, Sized, Tuple, Union

from ..errors import ElmoInputError, Errors

Source = Union[str, Path, IO[str]]
STDIN = "-"
_LINE_BREAK = re.compile("\r\n|\r|\n")
#: Empty lines listed in one E106 message at most.
_MAX_LISTED = 20


def check_encoding(encoding: str) -> str:
    """The codec's canonical name; E510 if Python has no such codec or it does not write
    ``\n`` as the byte 0x0A (UTF-16/32: lines could not be found in the bytes)."""
    try:
        info = codecs.lookup(encoding)
        if "\r\n".encode(info.name) != b"\r\n":
            raise LookupError(encoding)
    except (LookupError, TypeError):
        raise ElmoInputError(Errors.E510.format(value=encoding)) from None
    return info.name


def is_stdin(source: Source) -> bool:
    return isinstance(source, str) and source == STDIN


def describe(source: Source) -> str:
    if is_stdin(source):
        return "standard input"
    if isinstance(source, (str, Path)):
        return f"'{source}'"
    return "the input stream"


SourceKind = Literal["file", "pipe", "stdin", "stream"]


def check_source(source: Source) -> SourceKind:
    """What ``source`` is: a regular ``"file"``, a ``"pipe"`` (or character device) read once
    as a stream, ``"stdin"`` or an open text ``"stream"``. E001 if it names nothing, E514 if
    it names a folder or another kind of file that cannot be read line by line."""
    if is_stdin(source):
        return "stdin"
    if not isinstance(source, (str, Path)):
        return "stream"
    try:
        mode = os.stat(source).st_mode
    except FileNotFoundError:
        raise ElmoInputError(Errors.E001.format(what="input file", path=source)) from None
    except OSError as e:
        raise ElmoInputError(Errors.E514.format(path=source, what=f"unreadable ({e})")) from None
    if stat.S_ISREG(mode):
        return "file"
    if stat.S_ISFIFO(mode) or stat.S_ISCHR(mode):
        return "pipe"
    what = "a folder" if stat.S_ISDIR(mode) else "a socket or block device"
    raise ElmoInputError(Errors.E514.format(path=source, what=what))


def iter_lines(source: Source, *, encoding: str = "utf-8") -> Iterator[str]:
    """Yield every line of ``source``, stripped, in order (empty lines included)."""
    check_encoding(encoding)
    if isinstance(source, (str, Path)) and not is_stdin(source):
        with open(source, "rb") as f:
            yield from _decode_lines(f, encoding, describe(source))
    elif is_stdin(source):
        yield from _decode_lines(sys.stdin.buffer, encoding, describe(source))
    else:
        for line in source:  # type: ignore[union-attr]  # an already decoded text stream
            yield line.strip()


def _decode_lines(raw: BinaryIO, encoding: str, name: str) -> Iterator[str]:
    number = 0
    for chunk in raw:  # split at b"\n" only: a "\r\n" pair always stays in one chunk
        number += 1
        try:
            text = chunk.decode(encoding)
        except UnicodeDecodeError as e:
            raise ElmoInputError(
                Errors.E501.format(line=number, source=name, encoding=encoding, error=e.reason)
            ) from None
        body = text[:-2] if text.endswith("\r\n") else text.rstrip("\n")
        if "\r" not in body:
            yield body.strip()
            continue
        parts = _LINE_BREAK.split(body)
        number += len(parts) - 1
        for part in parts:
            yield part.strip()


@dataclass(frozen=True)
class InputSummary:
    """What a pass over a file found: its number of lines and tokens."""

    n_lines: int
    n_tokens: int
    #: Number (from 1) of the first line holding a NUL character, if any.
    first_nul: Optional[int] = None


def scan_file(source: Source, *, encoding: str = "utf-8") -> InputSummary:
    """Read a whole file once, in bounded memory, and refuse it (E501, E106) before any model
    is loaded: every line must decode and hold at least one token."""
    empty: List[int] = []
    n_lines = n_tokens = 0
    first_nul: Optional[int] = None
    for n_lines, line in enumerate(iter_lines(source, encoding=encoding), start=1):
        if not line:
            empty.append(n_lines)
            if len(empty) >= _MAX_LISTED:
                break
        else:
            n_tokens += len(line.split())
            if first_nul is None and "\0" in line:
                first_nul = n_lines
    if empty:
        raise ElmoInputError(Errors.E106.format(lines=", ".join(map(str, empty))))
    return InputSummary(n_lines=n_lines, n_tokens=n_tokens, first_nul=first_nul)


@dataclass(frozen=True)
class Chunk:
    """``lines`` of the input, the first of them number ``first + 1`` (counting from 1)."""

    index: int
    first: int
    lines: List[str]


def iter_chunks(source: Source, *, chunk_lines: int, encoding: str = "utf-8") -> Iterator[Chunk]:
    """Consecutive chunks of ``chunk_lines`` lines (the last may be shorter). An empty line
    is E106, raised when it is reached."""
    lines: List[str] = []
    index = first = 0
    for number, line in enumerate(iter_lines(source, encoding=encoding), start=1):
        if not line:
            raise ElmoInputError(Errors.E106.format(lines=number))
        lines.append(line)
        if len(lines) == chunk_lines:
            yield Chunk(index=index, first=first, lines=lines)
            index, first, lines = index + 1, first + chunk_lines, []
    if lines:
        yield Chunk(index=index, first=first, lines=lines)


def length_sorted_windows(
    lines: List[str], *, window: int, sort: bool
) -> Iterator[Tuple[List[int], List[List[str]]]]:
    """Split ``lines`` into read-ahead windows of ``window`` lines, each tokenized and (with
    ``sort``) ordered longest first, so batches carry little padding.

    :returns: Per window, the positions in ``lines`` and the token lists, in that order.
    """
    for start in range(0, len(lines), window):
        tokens = [line.split() for line in lines[start : start + window]]
        order = list(range(len(tokens)))
        if sort:
            order.sort(key=lambda i: -len(tokens[i]))
        yield [start + i for i in order], [tokens[i] for i in order]


def token_batches(
    tokens: Sequence[Sized], *, batch_size: int, max_batch_tokens: int
) -> Iterator[Tuple[int, int]]:
    """``(start, end)`` of consecutive biLM batches over ``tokens`` (sentences, or any
    sequences with a length; a window, longest first when sorted): at most ``batch_size`` sentences and at most ``max_batch_tokens`` padded
    tokens (rows x longest) each, one sentence at least: long sentences go in smaller
    batches, so a call's memory stays bounded."""
    start, longest = 0, 0
    for i, sentence in enumerate(tokens):
        new_longest = max(longest, len(sentence))
        rows = i - start
        if rows and (rows >= batch_size or new_longest * (rows + 1) > max_batch_tokens):
            yield start, i
            start, new_longest = i, len(sentence)
        longest = new_longest
    if start < len(tokens):
        yield start, len(tokens)
