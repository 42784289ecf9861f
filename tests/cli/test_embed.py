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


def test_embed_command_bfloat16(tmp_path, tiny_files):
    (tmp_path / "in.txt").write_text("Hello world .\n", encoding="utf8")
    opt, w = tiny_files
    cmd = [sys.executable, "-m", "spacy_elmo", "embed", str(tmp_path / "in.txt")]
    cmd += [str(tmp_path / "out.hdf5"), "--all", "--options-file", str(opt), "--weight-file"]
    cmd += [str(w), "--precision", "bfloat16", "--no-progress"]
    result = subprocess.run(cmd, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    with h5py.File(tmp_path / "out.hdf5", "r") as f:
        got = f["0"][...]
    expected = ElmoEmbedder(opt, w).embed_sentence(["Hello", "world", "."])
    assert 0 < np.abs(got - expected).max() < 2e-2 * np.abs(expected).max()
    bad = cmd[:-3] + ["--precision", "fp16", "--no-progress"]
    result = subprocess.run(bad, capture_output=True, text=True)
    # a coded error, printed without a traceback
    assert result.returncode == 1 and "[E114]" in result.stderr
    assert "Traceback" not in result.stderr


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
