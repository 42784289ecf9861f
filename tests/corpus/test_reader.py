import io

import pytest

from spacy_elmo.corpus.reader import iter_chunks, iter_lines, length_sorted_windows, scan_file
from spacy_elmo.errors import ElmoInputError


def test_universal_newlines_and_stripping(tmp_path):
    path = tmp_path / "in.txt"
    path.write_bytes(b" a b \r\nc\rd\n  e  ")
    assert list(iter_lines(path)) == ["a b", "c", "d", "e"]
    # the same lines as text-mode reading gives
    with open(path, encoding="utf8") as f:
        assert list(iter_lines(f)) == ["a b", "c", "d", "e"]


def test_invalid_utf8_names_the_line_counting_from_1(tmp_path):
    path = tmp_path / "in.txt"
    path.write_bytes("ok\nfine\nZ\xfcrich\n".encode("latin-1"))
    with pytest.raises(ElmoInputError, match=r"\[E501\] Line 3 of .*in.txt.*--encoding"):
        scan_file(path)
    assert list(iter_lines(path, encoding="latin-1"))[2] == "Zürich"
    with pytest.raises(ElmoInputError, match=r"\[E510\]"):
        scan_file(path, encoding="no-such-codec")  # type: ignore[arg-type]


def test_empty_lines_count_from_1(tmp_path):
    path = tmp_path / "in.txt"
    path.write_text("a b\n\nc\n   \n", encoding="utf8")
    with pytest.raises(ElmoInputError, match=r"\[E106\] Line 2, 4 of"):
        scan_file(path)
    with pytest.raises(ElmoInputError, match=r"\[E106\] Line 2 of"):
        list(iter_chunks(io.StringIO("a\n\nb\n"), chunk_lines=8))


def test_scan_counts_lines_and_tokens(tmp_path):
    path = tmp_path / "in.txt"
    path.write_text("a b\nc\nd e f\n", encoding="utf8")
    summary = scan_file(path)
    assert (summary.n_lines, summary.n_tokens) == (3, 6)


def test_chunks_and_windows():
    lines = [f"{'w ' * (i % 4 + 1)}".strip() for i in range(10)]
    chunks = list(iter_chunks(io.StringIO("\n".join(lines)), chunk_lines=4))
    assert [(c.index, c.first, len(c.lines)) for c in chunks] == [(0, 0, 4), (1, 4, 4), (2, 8, 2)]
    windows = list(length_sorted_windows(chunks[0].lines, window=2, sort=True))
    assert windows[0][0] == [1, 0] and windows[1][0] == [3, 2]  # longest first per window
    unsorted = list(length_sorted_windows(chunks[0].lines, window=4, sort=False))
    assert unsorted[0][0] == [0, 1, 2, 3]
