"""CoNLL and CoNLL-U token-per-line files -> plain text, one sentence per line, tokens joined
by spaces: the domain text of a tagged corpus for ``adapt --pretokenized``.

``python -m spacy_elmo.pretrain.conll_text wnut17train.conll train.txt``
``python -m spacy_elmo.pretrain.conll_text en_ewt-ud-train.conllu ewt.txt``
"""

import sys
from pathlib import Path
from typing import Callable, Iterator, List, Optional, Sequence, Union

from ..errors import ElmoInputError, Errors
from .atomic import atomic_write_text


def _sentences(
    path: Union[str, Path], word: Callable[[str], Optional[str]], *, split_on_any: bool
) -> Iterator[List[str]]:
    """``word(line)`` of each line that is a word; sentences end at blank lines, or with
    ``split_on_any`` at every line that is not a word."""
    sentence: List[str] = []
    with open(path, encoding="utf8") as f:
        for line in f:
            token = word(line)
            if token is not None:
                sentence.append(token)
            elif sentence and (split_on_any or not line.strip()):
                yield sentence
                sentence = []
    if sentence:
        yield sentence


def _conll_word(line: str) -> Optional[str]:
    """The first column (``-DOCSTART-`` lines are document markers, not text)."""
    fields = line.split()
    return fields[0] if fields and fields[0] != "-DOCSTART-" else None


def _conllu_word(line: str) -> Optional[str]:
    """The FORM column (the second, tab-separated) of a word line. Comment lines (``#``),
    multiword-token ranges (``3-4``: their words follow on their own lines) and empty nodes
    (``5.1``) are not words of the text."""
    fields = line.rstrip("\n").split("\t")
    if len(fields) >= 2 and fields[0].isdigit():
        return fields[1].replace(" ", "_")  # spaces would split a token
    return None


def conll_sentences(path: Union[str, Path]) -> Iterator[List[str]]:
    """The first column of each non-blank line, sentences split at blank lines (and at
    ``-DOCSTART-`` lines)."""
    return _sentences(path, _conll_word, split_on_any=True)


def conllu_sentences(path: Union[str, Path]) -> Iterator[List[str]]:
    """The FORM column of each word line of a CoNLL-U file, sentences split at blank lines."""
    return _sentences(path, _conllu_word, split_on_any=False)


def conll_to_text(path: Union[str, Path], dest: Union[str, Path]) -> int:
    """Write ``dest`` (atomically); a ``.conllu`` file is read as CoNLL-U, anything else as
    CoNLL. E328 for a missing or empty input.

    :returns: The number of sentences written.
    """
    if not Path(path).is_file():
        raise ElmoInputError(Errors.E328.format(problem=f"'{path}' does not exist"))
    read = conllu_sentences if Path(path).suffix.lower() == ".conllu" else conll_sentences
    lines = [" ".join(tokens) for tokens in read(path)]
    if not lines:
        raise ElmoInputError(Errors.E328.format(problem=f"'{path}' has no tokens"))
    atomic_write_text("\n".join(lines) + "\n", Path(dest))
    return len(lines)


def main(argv: Sequence[str]) -> None:
    if len(argv) != 2:
        sys.exit(
            "usage: python -m spacy_elmo.pretrain.conll_text INPUT.conll|INPUT.conllu OUTPUT.txt"
        )
    try:
        n = conll_to_text(argv[0], argv[1])
    except ElmoInputError as e:
        sys.exit(f"Error: {e}")
    print(f"Wrote {n} sentences to {argv[1]}")


if __name__ == "__main__":
    main(sys.argv[1:])
