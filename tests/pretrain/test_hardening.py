"""Hostile and damaged files, impossible settings, divergence and a full disk: coded errors,
no code execution, and checkpoints that stay usable."""

import json
import os
import shutil
import time
from pathlib import Path

import pytest
import torch

from spacy_elmo.errors import ElmoInputError
from spacy_elmo.pretrain import checkpoint as ckpt
from spacy_elmo.pretrain import (
    config_from_dict,
    export_checkpoint,
    load_checkpoint_model,
    load_exported,
    pretrain,
)

from .conftest import tiny_config


class _RunsCode:
    """Unpickling this object would create the file ``marker`` (a stand-in for any code)."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def _run(corpus: Path, out: Path, **training) -> dict:
    cfg = config_from_dict(tiny_config(corpus, **training))
    return pretrain(cfg, out, progress=False)


@pytest.fixture(scope="module")
def two_checkpoints(tmp_path_factory):
    """A run with checkpoints at steps 10 and 20, and the straight result at step 30."""
    from .conftest import make_corpus

    d = tmp_path_factory.mktemp("hard")
    corpus = make_corpus(d / "train.txt", 300)
    _run(corpus, d / "run", max_steps=20)
    straight = _run(corpus, d / "straight", max_steps=30)
    return corpus, d / "run", straight


def _copy_run(src: Path, dest: Path) -> Path:
    shutil.copytree(src, dest)
    return dest


def _flip_a_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def test_pickle_payloads_are_refused_everywhere(two_checkpoints, tmp_path):
    corpus, run, _ = two_checkpoints
    marker = tmp_path / "code-ran"
    # softmax.pt of an export: pretrain-evaluate and --init-weights.
    export = tmp_path / "export"
    export_checkpoint(run, export, plot=False)
    torch.save({"state_dict": {}, "n_words": _RunsCode(marker)}, export / "softmax.pt")
    with pytest.raises(ElmoInputError, match=r"\[E314\].*softmax.pt"):
        load_exported(export)
    with pytest.raises(ElmoInputError, match=r"\[E314\].*softmax.pt"):
        pretrain(
            config_from_dict(tiny_config(corpus, max_steps=1)),
            tmp_path / "cont",
            init_weights=export,
            progress=False,
        )
    # model.pt of a checkpoint, even with a matching digest: resume and pretrain-export.
    bad = _copy_run(run, tmp_path / "bad")
    for step_dir in sorted((bad / "checkpoints").glob("step-*")):
        payload = {"model": {}, "step": _RunsCode(marker)}
        ckpt.write_shared(bad / "checkpoints", int(step_dir.name[5:]), payload)
    with pytest.raises(ElmoInputError, match=r"\[E315\].*\[E314\]"):
        _run(corpus, bad, max_steps=30)
    with pytest.raises(ElmoInputError, match=r"\[E315\].*\[E314\]"):
        export_checkpoint(bad, tmp_path / "bad-export")
    assert not marker.exists()


def test_flipped_bytes_fall_back_to_the_previous_checkpoint(two_checkpoints, tmp_path):
    corpus, run, straight = two_checkpoints
    run = _copy_run(run, tmp_path / "run")
    _flip_a_byte(run / "checkpoints" / "step-00000020" / "model.pt")
    with pytest.warns(UserWarning, match=r"\[W035\].*step-00000010.*SHA-256"):
        resumed = _run(corpus, run, max_steps=30)
    assert resumed["param_digest"] == straight["param_digest"]


def test_no_loadable_checkpoint_is_an_error_not_a_restart(two_checkpoints, tmp_path):
    corpus, run, _ = two_checkpoints
    run = _copy_run(run, tmp_path / "run")
    for rank_file in (run / "checkpoints").glob("step-*/rank0.pt"):
        _flip_a_byte(rank_file)
    with pytest.raises(ElmoInputError, match=r"\[E315\].*step-00000020.*step-00000010"):
        _run(corpus, run, max_steps=30)


def test_missing_latest_json_resumes_from_the_newest_step(two_checkpoints, tmp_path):
    corpus, run, straight = two_checkpoints
    run = _copy_run(run, tmp_path / "run")
    (run / "checkpoints" / "latest.json").unlink()
    with pytest.warns(UserWarning, match=r"\[W035\].*step-00000020.*latest.json is missing"):
        resumed = _run(corpus, run, max_steps=30)
    assert resumed["param_digest"] == straight["param_digest"]
    steps = [json.loads(l)["step"] for l in (run / "log.jsonl").read_text().splitlines()]
    assert steps == [10, 20, 30]  # continued, not restarted


@pytest.mark.parametrize("where", ["absolute", "parent"])
def test_latest_json_cannot_point_outside_the_run(two_checkpoints, tmp_path, where):
    corpus, run, _ = two_checkpoints
    run = _copy_run(run, tmp_path / "run")
    other = _copy_run(run, tmp_path / "other")
    target = other / "checkpoints" / "step-00000020"
    # The other run's checkpoint would load fine; it must not be used.
    _flip_a_byte(run / "checkpoints" / "step-00000020" / "model.pt")
    name = str(target) if where == "absolute" else "../../other/checkpoints/step-00000020"
    latest = run / "checkpoints" / "latest.json"
    latest.write_text(json.dumps({"step": 20, "dir": name, "world_size": 1}))
    with pytest.warns(UserWarning, match=r"\[W035\].*step-00000010.*not a step folder"):
        found = ckpt.find_checkpoint(run / "checkpoints", rank=0)
    assert found is not None and found.directory == run / "checkpoints" / "step-00000010"


def test_checkpoints_without_digest_load_with_a_warning(two_checkpoints, tmp_path):
    _, run, _ = two_checkpoints
    run = _copy_run(run, tmp_path / "run")
    for sidecar in (run / "checkpoints").glob("step-*/*.sha256"):
        sidecar.unlink()
    with pytest.warns(UserWarning, match=r"\[W037\]"):
        assert load_checkpoint_model(run)["step"] == 20


def test_divergence_stops_with_a_coded_error(corpus, tmp_path):
    cfg = tiny_config(corpus, max_steps=40, checkpoint_every_steps=1)
    cfg["optimizer"].update(lr=1e30, clip_norm=0.0)
    with pytest.raises(ElmoInputError, match=r"\[E313\].*(nan|inf)"):
        pretrain(config_from_dict(cfg), tmp_path / "run", progress=False)
    latest = json.loads((tmp_path / "run" / "checkpoints" / "latest.json").read_text())
    state = load_checkpoint_model(tmp_path / "run")["model"].state_dict()
    assert latest["step"] < 40 and all(torch.isfinite(t).all() for t in state.values())


@pytest.mark.parametrize(
    "section,key,value",
    [
        ("optimizer", "lr", float("inf")),
        ("optimizer", "lr", float("nan")),
        ("optimizer", "clip_norm", -1.0),
        ("batching", "unroll_steps", 0),
        ("batching", "batch_size", -1),
        ("batching", "batch_size", True),
        ("data", "vocab_size", 0),
        ("training", "max_steps", -5),
        ("training", "dropout", 1.0),
        ("training", "keep_checkpoints", 0),
    ],
)
def test_impossible_settings_are_coded_errors(corpus, section, key, value):
    cfg = tiny_config(corpus)
    cfg[section][key] = value
    with pytest.raises(ElmoInputError, match=rf"\[E110\].*'{section}.{key}'"):
        config_from_dict(cfg)


@pytest.mark.parametrize("key,value", [("dim", 10**7), ("n_layers", 10**6)])
def test_huge_models_are_refused_before_allocation(corpus, tmp_path, key, value):
    cfg = tiny_config(corpus)
    cfg["model"] = json.loads(json.dumps(cfg["model"]))
    cfg["model"]["lstm"][key] = value
    start = time.perf_counter()
    with pytest.raises(ElmoInputError, match=r"\[E317\].*parameters"):
        pretrain(config_from_dict(cfg), tmp_path / "run", progress=False)
    assert time.perf_counter() - start < 5  # refused, not allocated
    assert not (tmp_path / "run" / "data").exists()  # before the corpus is read


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs Linux /dev/full")
def test_full_disk_is_a_coded_error_and_the_run_resumes(corpus, tmp_path):
    run = tmp_path / "run"
    _run(corpus, run, max_steps=10)
    # The next checkpoint's file goes to /dev/full, which fails every write with ENOSPC.
    step_dir = run / "checkpoints" / "step-00000020"
    step_dir.mkdir()
    os.symlink("/dev/full", step_dir / "model.pt.tmp")
    with pytest.raises(ElmoInputError, match=r"\[E316\].*step-00000020"):
        _run(corpus, run, max_steps=20)
    assert json.loads((run / "checkpoints" / "latest.json").read_text())["step"] == 10
    assert not (step_dir / "model.pt.tmp").exists() and not (step_dir / "model.pt").exists()
    assert _run(corpus, run, max_steps=20)["step"] == 20  # space freed: the same call resumes


def test_cli_refuses_an_infinite_learning_rate(tmp_path, corpus):
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-m", "spacy_elmo", "pretrain", str(tmp_path / "run")]
        + ["--train", str(corpus), "--optimizer.lr", "Infinity", "--no-progress"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode != 0 and "[E110]" in done.stderr and "optimizer.lr" in done.stderr
    assert not (tmp_path / "run" / "checkpoints").exists()
