import subprocess
import sys

import h5py
import numpy as np

from spacy_elmo import ElmoEmbedder


def test_embed_command(tmp_path, tiny_files):
    (tmp_path / "in.txt").write_text("Hello world .\nAnother one\n", encoding="utf8")
    opt, w = tiny_files
    cmd = [
        sys.executable,
        "-m",
        "spacy_elmo",
        "embed",
        str(tmp_path / "in.txt"),
        str(tmp_path / "out.hdf5"),
        "--top",
        "--options-file",
        str(opt),
        "--weight-file",
        str(w),
        "--batch-size",
        "1",
    ]
    result = subprocess.run(cmd, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    with h5py.File(tmp_path / "out.hdf5", "r") as f:
        got = f["0"][...]
    expected = ElmoEmbedder(opt, w).embed_sentence(["Hello", "world", "."])[-1]
    np.testing.assert_allclose(got, expected, atol=1e-5)


def test_embed_command_needs_one_format(tmp_path, tiny_files):
    (tmp_path / "in.txt").write_text("a\n", encoding="utf8")
    cmd = [
        sys.executable,
        "-m",
        "spacy_elmo",
        "embed",
        str(tmp_path / "in.txt"),
        str(tmp_path / "o.hdf5"),
        "--top",
        "--all",
    ]
    result = subprocess.run(cmd, capture_output=True, text=True)
    assert result.returncode != 0 and "exactly one" in result.stderr
