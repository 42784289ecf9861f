"""Assembling OUTPUT from chunk files: reopening the output file on the way (what keeps
libhdf5's memory flat on millions of lines) changes nothing in what is written."""

import h5py
import numpy as np
import pytest

from spacy_elmo.corpus.writer import ChunkWriter, merge_chunks, read_index


def _chunks(folder, lines, size):
    rng = np.random.default_rng(0)
    paths = []
    for first in range(0, len(lines), size):
        part = lines[first : first + size]
        path = folder / f"chunk-{first:05d}.h5"
        writer = ChunkWriter(path, first=first, use_sentence_keys=False)
        for position in reversed(range(len(part))):  # any order, as the length sort gives
            n = len(part[position].split())
            array = rng.standard_normal((n, 4)).astype(np.float32)
            writer.add(first + position, part[position], array)
        writer.commit(part)
        paths.append(path)
    return paths


def _read(path):
    with h5py.File(path, "r") as f:
        data = {k: f[k][...] for k in f if k != "sentence_to_index"}
        return data, read_index(f), f["sentence_to_index"].shape[0]


@pytest.mark.parametrize("reopen_every", [1, 3, 7])
def test_reopening_writes_the_same_file(tmp_path, reopen_every):
    lines = [f"line {i} " + "w " * (i % 5) for i in range(23)] + ["line 3 "]
    paths = _chunks(tmp_path, lines, size=5)
    once = merge_chunks(
        paths,
        tmp_path / "once.h5",
        use_sentence_keys=False,
        write_index=True,
        index_piece_bytes=60,
        reopen_every=10**9,
    )
    often = merge_chunks(
        paths,
        tmp_path / "often.h5",
        use_sentence_keys=False,
        write_index=True,
        index_piece_bytes=60,
        reopen_every=reopen_every,
    )
    assert once == often == len(lines)
    data_once, index_once, pieces_once = _read(tmp_path / "once.h5")
    data_often, index_often, pieces_often = _read(tmp_path / "often.h5")
    assert set(data_often) == {str(i) for i in range(len(lines))}
    for key, array in data_once.items():
        np.testing.assert_array_equal(data_often[key], array)
    # the repeated line maps to its last occurrence, and no index piece is lost on a reopen
    assert index_often == index_once == {line: str(i) for i, line in enumerate(lines)}
    assert pieces_often == pieces_once > 1


def test_lines_with_nul_round_trip(tmp_path):
    """HDF5's variable-length strings cannot hold NUL: chunk files store lines as bytes and
    the index escapes NUL in JSON, so every line comes back exactly."""
    lines = ["a \0 b", "\0", "c d", "tab\tinside", "é \x01"]
    paths = _chunks(tmp_path, lines, size=2)
    merge_chunks(paths, tmp_path / "o.h5", use_sentence_keys=False, write_index=True)
    assert _read(tmp_path / "o.h5")[1] == {line: str(i) for i, line in enumerate(lines)}
