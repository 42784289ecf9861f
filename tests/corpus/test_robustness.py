"""``embed`` against unlucky and hostile situations, in real subprocesses with the tiny model:
NUL characters, two runs on one OUTPUT, the output folder deleted mid-run, saving by time,
pipes and folders as input, byte-identical files."""

import filecmp
import os
import shutil
import signal
import subprocess
import threading
import time

import h5py
import pytest

from spacy_elmo import ElmoEmbedder
from spacy_elmo.corpus import EmbedSettings, embed_corpus, read_index
from spacy_elmo.corpus.resume import partial_dir

from .conftest import TINY, sentences
from .test_cli import ENV, _embed_cmd, _one_thread, _reference

SLOW = ["--top", "--batch-size", "2", "--chunk-size", "16", "--no-progress"]


def _write(path, lines):
    path.write_text("\n".join(lines) + "\n", encoding="utf8")
    return path


def _wait_for(condition, proc, what):
    deadline = time.monotonic() + 300
    while not condition():
        if proc.poll() is not None:
            pytest.fail(f"the run ended before {what}: {proc.stderr.read()}")
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.01)


def _start(cmd):
    return subprocess.Popen(
        cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=ENV
    )


def test_lines_with_nul_are_stored_or_refused_before_embedding(tmp_path):
    lines = ["a b", "c \0 d", "\0", "e"] + sentences(20)
    src = _write(tmp_path / "in.txt", lines)
    cmd = _embed_cmd(src, tmp_path / "o.h5", "--top", "--batch-size", "1", "--chunk-size", "8")
    result = subprocess.run(cmd, capture_output=True, text=True, env=ENV)
    assert result.returncode == 0, result.stderr
    with h5py.File(tmp_path / "o.h5", "r") as f:
        assert read_index(f) == {line: str(i) for i, line in enumerate(lines)}
        assert f["1"].shape[0] == 3  # "\0" is a token like any other character
    # with sentence keys (HDF5 names cannot hold NUL): refused before the model loads
    keyed = _embed_cmd(src, tmp_path / "k.h5", "--top", "--use-sentence-keys")
    result = subprocess.run(keyed, capture_output=True, text=True, env=ENV)
    assert result.returncode == 1 and "[E515] Line 2 of" in result.stderr
    assert "Traceback" not in result.stderr and not partial_dir(tmp_path / "k.h5").exists()
    # a stream: refused before the chunk that holds the line is embedded (earlier ones kept)
    streamed = _embed_cmd("-", tmp_path / "s.h5", *keyed[6:], "--batch-size", "1")
    streamed += ["--chunk-size", "8"]
    data = "\n".join(sentences(16, seed=5) + ["x \0"] + sentences(5)) + "\n"
    result = subprocess.run(streamed, input=data, capture_output=True, text=True, env=ENV)
    assert result.returncode == 1 and "[E515] Line 17 of standard input" in result.stderr
    assert [p.name for p in sorted(partial_dir(tmp_path / "s.h5").glob("chunk-*.h5"))] == [
        "chunk-000000000000.h5",
        "chunk-000000000008.h5",
    ]


def _start_on_stdin(out, lines):
    """A run reading ``lines`` from a pipe this test keeps open: it stays in the middle of
    its work (holding its lock, its folder in place) until :func:`_finish` closes it."""
    proc = subprocess.Popen(
        _embed_cmd("-", out, *SLOW),
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=ENV,
    )
    proc.stdin.write("\n".join(lines) + "\n")
    proc.stdin.flush()
    _wait_for(lambda: list(partial_dir(out).glob("chunk-*.h5")), proc, "a chunk was saved")
    return proc


def _finish(proc, lines):
    try:
        proc.stdin.write("\n".join(lines) + "\n")
        proc.stdin.close()
    except BrokenPipeError:  # the run has stopped already
        pass
    return proc.wait(timeout=300), proc.stderr.read()


def _slow_settings():
    return dict(output_format="top", batch_size=2, chunk_size=16)


def test_a_second_run_on_the_same_output_stops_with_a_coded_error(tmp_path):
    lines = sentences(100, seed=1)
    src, out = _write(tmp_path / "in.txt", lines), tmp_path / "o.h5"
    first = _start_on_stdin(out, lines[:40])
    second = subprocess.run(_embed_cmd(src, out, *SLOW), capture_output=True, text=True, env=ENV)
    assert second.returncode == 1 and "[E512] Another embed run is writing" in second.stderr
    assert "Traceback" not in second.stderr
    code, stderr = _finish(first, lines[40:])
    assert code == 0, stderr
    # the first run's result is whole, as an uninterrupted run writes it
    assert filecmp.cmp(out, _reference(tmp_path, lines, **_slow_settings()), shallow=False)


def test_output_folder_deleted_mid_run(tmp_path):
    lines = sentences(100, seed=1)
    src, folder = _write(tmp_path / "in.txt", lines), tmp_path / "results"
    folder.mkdir()
    out = folder / "o.h5"
    proc = _start_on_stdin(out, lines[:40])
    shutil.rmtree(folder)
    code, stderr = _finish(proc, lines[40:])
    assert code == 1 and "[E513]" in stderr, stderr
    assert "starts again from the first line" in stderr and "Traceback" not in stderr
    folder.mkdir()
    again = subprocess.run(_embed_cmd(src, out, *SLOW), capture_output=True, text=True, env=ENV)
    assert again.returncode == 0 and "nothing to resume" in again.stderr, again.stderr
    assert filecmp.cmp(out, _reference(tmp_path, lines, **_slow_settings()), shallow=False)


def test_work_is_saved_by_time_and_a_resume_says_how_much(tmp_path):
    """The default chunk (4,096 lines) is larger than the input: only the time-based saves
    leave something to resume. The resumed file equals an uninterrupted run byte for byte."""
    lines = sentences(600, seed=3)
    src, out = _write(tmp_path / "in.txt", lines), tmp_path / "o.h5"
    cmd = _embed_cmd(src, out, "--all", "--batch-size", "2", "--no-progress")
    proc = _start(cmd + ["--save-seconds", "0.3"])
    _wait_for(lambda: len(list(partial_dir(out).glob("chunk-*.h5"))) >= 2, proc, "two saves")
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert "nothing to resume" in proc.stderr.read()
    saved = len(list(partial_dir(out).glob("chunk-*.h5")))
    result = subprocess.run(cmd, capture_output=True, text=True, env=ENV)
    assert result.returncode == 0, result.stderr
    said = " ".join(result.stderr.split())  # the CLI wraps long messages
    assert "[W015] Resuming" in said and " of 600 lines already embedded" in said
    assert f"(in {saved} saved piece(s))" in said, said
    reference = _reference(tmp_path, lines, batch_size=2)
    assert filecmp.cmp(out, reference, shallow=False)


def test_a_folder_is_refused_and_a_pipe_is_read_as_a_stream(tmp_path):
    result = subprocess.run(
        _embed_cmd(tmp_path, tmp_path / "o.h5", "--top"), capture_output=True, text=True, env=ENV
    )
    assert result.returncode == 1 and "[E514]" in result.stderr and "is a folder" in result.stderr
    lines = sentences(40, seed=4)
    src = _write(tmp_path / "in.txt", lines)
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    writer = threading.Thread(target=lambda: fifo.write_text(src.read_text(encoding="utf8")))
    writer.start()
    cmd = _embed_cmd(fifo, tmp_path / "f.h5", "--top", "--batch-size", "4", "--chunk-size", "8")
    result = subprocess.run(cmd, capture_output=True, text=True, env=ENV, timeout=300)
    writer.join()
    assert result.returncode == 0, result.stderr
    reference = _reference(tmp_path, lines, output_format="top", batch_size=4, chunk_size=8)
    assert filecmp.cmp(tmp_path / "f.h5", reference, shallow=False)
    # the shell's process substitution hands over /dev/fd/N, a pipe
    shell = " ".join(_embed_cmd("<(cat in.txt)", "p.h5", *cmd[6:]))
    result = subprocess.run(["bash", "-c", shell], cwd=tmp_path, capture_output=True, env=ENV)
    assert result.returncode == 0, result.stderr
    assert filecmp.cmp(tmp_path / "p.h5", reference, shallow=False)


def test_files_are_byte_identical_whatever_the_chunking_and_the_time(tmp_path):
    """No HDF5 object records a time (a second apart, two runs would differ otherwise), and
    the vectors do not depend on the chunk size (nor on save times: see the resume test)."""
    lines = sentences(100, seed=6)
    src = _write(tmp_path / "in.txt", lines)
    runs = [
        ("a.h5", dict(chunk_size=4096)),
        ("b.h5", dict(chunk_size=4096)),
        ("c.h5", dict(chunk_size=8)),
    ]
    for name, kw in runs:
        settings = EmbedSettings(batch_size=2, progress=False, index_piece_bytes=300, **kw)
        _one_thread(
            lambda: embed_corpus(
                src, tmp_path / name, load=lambda: ElmoEmbedder(*TINY), settings=settings
            )
        )
        time.sleep(1.1)  # HDF5 object times have a resolution of one second
    first = tmp_path / "a.h5"
    assert all(filecmp.cmp(first, tmp_path / name, shallow=False) for name, _ in runs[1:])
