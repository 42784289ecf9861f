"""Convert NER (CoNLL) and text classification (TSV) corpora to ``.spacy`` files.

- ``conll``: one token per line, the tag in the last column (CoNLL-2003 ``token POS chunk
  NER``, WNUT-17 ``token TAB tag``, Wikigold ``token tag``), blank lines between sentences,
  ``-DOCSTART-`` lines ignored. IOB1 (Wikigold: ``I-`` tags only) is converted to IOB2.
- ``tsv``: ``label TAB text`` per line (SST); the text is whitespace-tokenized. Labels
  become exclusive ``doc.cats`` (every label of the file, 1.0 for the line's label).
- ``auto`` (the CLI's default): ``conll`` if the last column of the first lines holds IOB tags,
  else ``tsv`` if they are ``label TAB text``, else a coded error. A file read as the wrong
  format is a coded error (E603) naming the right one, never spaCy's IOB traceback.
"""

import re
from pathlib import Path
from typing import Iterator, List, NoReturn, Optional, Sequence, Tuple, Union

from spacy.tokens import Doc, DocBin
from spacy.training import biluo_tags_to_spans, iob_to_biluo
from spacy.vocab import Vocab

from ..errors import ElmoInputError, Errors

FORMATS = ("auto", "conll", "tsv")
PathLike = Union[str, Path]
# A tag the converter understands: IOB1/IOB2 (``O``, ``B-X``, ``I-X``).
IOB_TAG = re.compile(r"^(O|[BI]-\S+)$")
# Lines looked at to tell the format of a file.
SNIFF_LINES = 50


def detect_format(path: PathLike) -> str:
    """``"conll"`` or ``"tsv"``, from the first non-blank lines of ``path``.

    CoNLL: the last whitespace-separated column of every line is an IOB tag (``-DOCSTART-``
    lines aside). TSV: every line is ``label TAB text``. Raises E604 when it is neither.
    """
    lines = [
        line
        for line in _read_lines(path)[: SNIFF_LINES * 4]
        if line.strip() and not line.startswith("-DOCSTART-")
    ][:SNIFF_LINES]
    if not lines:
        raise ElmoInputError(Errors.E604.format(path=path, reason="it has no text"))
    if all(len(line.split()) >= 2 and IOB_TAG.match(line.split()[-1]) for line in lines):
        return "conll"
    if all(line.partition("\t")[2].strip() for line in lines):
        return "tsv"
    reason = f"line {lines[0]!r} is neither 'token ... IOB-tag' nor 'label TAB text'"
    raise ElmoInputError(Errors.E604.format(path=path, reason=reason))


def _read_lines(path: PathLike) -> List[str]:
    try:
        return Path(path).read_text(encoding="utf8").splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise ElmoInputError(Errors.E203.format(path=path, error=e)) from None


def iob1_to_iob2(tags: Sequence[str]) -> List[str]:
    """``I-X`` that starts an entity (after ``O`` or another type) becomes ``B-X``; IOB2
    input is returned unchanged."""
    out: List[str] = []
    prev = "O"
    for tag in tags:
        if tag.startswith("I-") and (prev == "O" or prev[2:] != tag[2:]):
            tag = "B-" + tag[2:]
        out.append(tag)
        prev = tag
    return out


def read_conll(path: PathLike) -> Iterator[Tuple[List[str], List[str]]]:
    """``(words, IOB2 tags)`` per sentence."""
    words: List[str] = []
    tags: List[str] = []
    lines = _read_lines(path)
    for n, line in enumerate(lines + [""]):
        parts = line.split()
        if not parts or parts[0] == "-DOCSTART-":
            if words:
                yield words, iob1_to_iob2(tags)
            words, tags = [], []
            continue
        if len(parts) < 2:
            raise ElmoInputError(
                Errors.E203.format(path=path, error=f"line {n + 1} has no tag: {line!r}")
            )
        if not IOB_TAG.match(parts[-1]):
            _wrong_format(path, "conll", n, line)
        words.append(parts[0])
        tags.append(parts[-1])


def _wrong_format(path: PathLike, file_type: str, n: int, line: str) -> NoReturn:
    """Line ``n`` cannot be ``file_type``: E603 if the file reads as the other format, else
    E203 naming the line."""
    try:
        detected = detect_format(path)
    except ElmoInputError:
        detected = file_type
    if detected != file_type:
        raise ElmoInputError(
            Errors.E603.format(
                path=path, detected=detected, line=n + 1, example=line[:80], file_type=file_type
            )
        )
    if file_type == "conll":
        error = (
            f"line {n + 1}: the last column {line.split()[-1]!r} is not an IOB tag (O, B-X, I-X)"
        )
    else:
        error = f"line {n + 1} is not 'label TAB text': {line!r}"
    raise ElmoInputError(Errors.E203.format(path=path, error=error))


def read_tsv(path: PathLike) -> Iterator[Tuple[str, List[str]]]:
    """``(label, words)`` per non-empty line. A CoNLL file (``token TAB tag`` lines, as in
    WNUT-17) would parse as one-word texts; that is E603, not a corpus of tags."""
    rows: List[Tuple[int, str, List[str]]] = []
    for n, line in enumerate(_read_lines(path)):
        if not line.strip():
            continue
        label, sep, text = line.partition("\t")
        if not sep or not text.split():
            _wrong_format(path, "tsv", n, line)
        rows.append((n, label.strip(), text.split()))
    if rows and all(len(words) == 1 and IOB_TAG.match(words[0]) for _, _, words in rows):
        n, label, words = rows[0]
        _wrong_format(path, "tsv", n, f"{label}\t{words[0]}")
    for _, label, words in rows:
        yield label, words


def conll_docs(vocab: Vocab, path: PathLike, *, n_sents: int = 1) -> Iterator[Doc]:
    """Docs of ``n_sents`` sentences each (sentence starts set when ``n_sents > 1``)."""
    group: List[Tuple[List[str], List[str]]] = []
    for sentence in read_conll(path):
        group.append(sentence)
        if len(group) == n_sents:
            yield _conll_doc(vocab, group, n_sents > 1)
            group = []
    if group:
        yield _conll_doc(vocab, group, n_sents > 1)


def _conll_doc(vocab: Vocab, group: List[Tuple[List[str], List[str]]], sents: bool) -> Doc:
    words = [w for ws, _ in group for w in ws]
    tags = [t for _, ts in group for t in ts]
    # Doc takes List[Union[bool, int, None]], and a List[bool] is not one (lists are invariant).
    sent_starts: Optional[List[Union[bool, int, None]]] = None
    if sents:
        sent_starts = [i == 0 for ws, _ in group for i in range(len(ws))]
    doc = Doc(vocab, words=words, sent_starts=sent_starts)
    doc.ents = biluo_tags_to_spans(doc, iob_to_biluo(tags))
    return doc


def tsv_docs(
    vocab: Vocab, path: PathLike, *, labels: Optional[Sequence[str]] = None
) -> Iterator[Doc]:
    rows = list(read_tsv(path))
    all_labels = list(labels) if labels else sorted({label for label, _ in rows})
    for label, words in rows:
        doc = Doc(vocab, words=words)
        doc.cats = {name: float(name == label) for name in all_labels}
        yield doc


def convert_file(
    input_path: PathLike,
    output_path: PathLike,
    *,
    file_type: str,
    n_sents: int = 1,
    labels: Optional[Sequence[str]] = None,
    limit: int = 0,
) -> int:
    """Write ``input_path`` as a ``.spacy`` file; returns the number of docs.

    :param file_type: ``"conll"``, ``"tsv"`` or ``"auto"`` (:func:`detect_format`).
    :param n_sents: Sentences per doc for CoNLL input.
    :param labels: All textcat labels (default: those in the file, sorted).
    :param limit: Keep only the first ``limit`` docs (0: all).
    """
    vocab = Vocab()
    if file_type == "auto":
        file_type = detect_format(input_path)
    if file_type == "conll":
        docs = conll_docs(vocab, input_path, n_sents=n_sents)
    elif file_type == "tsv":
        docs = tsv_docs(vocab, input_path, labels=labels)
    else:
        raise ElmoInputError(Errors.E204.format(value=file_type, options=", ".join(FORMATS)))
    db = DocBin(store_user_data=False)
    for i, doc in enumerate(docs):
        if limit and i >= limit:
            break
        db.add(doc)
    Path(output_path).parent.mkdir(parents=True, exist_ok=True)
    db.to_disk(output_path)
    return len(db)
