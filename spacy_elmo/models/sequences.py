"""Cut docs into biLM sequences: sentences when the doc has them, else overlapping windows.

A biLM sequence never exceeds ``window + 2 * overlap`` tokens unless it is a sentence of at
most ``max_sentence_length`` tokens, so memory stays bounded on arbitrarily long docs.
Whitespace tokens (spaCy's ``token.is_space``) are not fed to the biLM: ELMo never saw them
in training and they would shift the context of their neighbours. They get zero vectors.
"""

from dataclasses import dataclass
from typing import Iterator, List, Sequence, Tuple

from spacy.tokens import Doc

from ..corpus.reader import token_batches


@dataclass(frozen=True)
class Segment:
    """One biLM sequence cut from a doc.

    ``positions[i]`` is the doc token index of sequence row ``i``; rows ``keep_start`` to
    ``keep_end`` (exclusive) are written back to the doc, the rest is context only.
    """

    doc_index: int
    positions: Tuple[int, ...]
    keep_start: int
    keep_end: int

    def __len__(self) -> int:
        return len(self.positions)


def doc_spans(doc: Doc) -> List[Tuple[int, int]]:
    """``(start, end)`` token ranges that are run as independent texts: the sentences when
    the doc has sentence boundaries, else the whole doc."""
    if len(doc) and doc.has_annotation("SENT_START"):
        return [(s.start, s.end) for s in doc.sents]
    return [(0, len(doc))]


def doc_segments(
    doc: Doc,
    doc_index: int,
    *,
    window: int,
    overlap: int,
    max_sentence_length: int,
) -> Iterator[Segment]:
    """The biLM sequences of ``doc``.

    Sentences up to ``max_sentence_length`` non-space tokens are one sequence each. A doc
    without sentence boundaries, or a longer sentence, is cut into windows of ``window``
    kept tokens, each run with ``overlap`` tokens of context on either side.
    """
    has_sents = len(doc) > 0 and doc.has_annotation("SENT_START")
    for start, end in doc_spans(doc):
        positions = [i for i in range(start, end) if not doc[i].is_space]
        n = len(positions)
        if n == 0:
            continue
        limit = max_sentence_length if has_sents else window
        if n <= limit:
            yield Segment(doc_index, tuple(positions), 0, n)
            continue
        for centre in range(0, n, window):
            lo, hi = max(0, centre - overlap), min(n, centre + window + overlap)
            yield Segment(
                doc_index, tuple(positions[lo:hi]), centre - lo, min(centre + window, n) - lo
            )


def batch_segments(
    segments: Sequence[Segment], *, batch_size: int, max_batch_tokens: int, sort: bool
) -> Iterator[List[Segment]]:
    """Group segments into biLM batches of at most ``batch_size`` sequences and at most
    ``max_batch_tokens`` padded tokens (``rows * longest``). With ``sort`` the segments are
    ordered longest first, so each batch holds similar lengths and little padding."""
    order = sorted(segments, key=len, reverse=True) if sort else list(segments)
    for start, end in token_batches(
        order, batch_size=batch_size, max_batch_tokens=max_batch_tokens
    ):
        yield order[start:end]
