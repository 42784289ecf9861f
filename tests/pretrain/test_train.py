"""Pretraining end to end on a tiny generated corpus: learning, export, exact resumption."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from spacy_elmo.pretrain import config_from_dict, load_checkpoint_model, pretrain
from spacy_elmo.pytorch.char_ids import batch_to_ids
from spacy_elmo.weights import load_bilm, load_options

from .conftest import make_corpus, tiny_config

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    """A 300-step run with a dev file, shared by the tests below."""
    d = tmp_path_factory.mktemp("run")
    train = make_corpus(d / "train.txt", 400, seed=0)
    dev = make_corpus(d / "dev.txt", 60, seed=1)
    cfg = config_from_dict(
        tiny_config(train, dev, max_steps=300, eval_every_steps=150, checkpoint_every_steps=100)
    )
    result = pretrain(cfg, d / "out", progress=False)
    return d / "out", result


def test_perplexity_falls(trained_run):
    out, result = trained_run
    records = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    first, last = records[0], records[-1]
    assert last["step"] == 300 == result["step"]
    # ~30 word types: a model that learned nothing stays near 30; the grammar allows ~3-5.
    assert first["train_ppl_fwd"] > 12
    assert last["train_ppl_fwd"] < 0.5 * first["train_ppl_fwd"]
    assert last["train_ppl_bwd"] < 0.5 * first["train_ppl_bwd"]
    assert last["dev_ppl:dev.txt"] < 8
    for name in (
        "options.json",
        "weights.hdf5",
        "softmax.pt",
        "vocab.txt",
        "perplexity.png",
        "config.json",
    ):
        assert (out / name).is_file(), name
    assert (out / "vocab.txt").read_text().split("\n")[:3] == ["<S>", "</S>", "<UNK>"]


def test_export_reload_identical(trained_run):
    out, _ = trained_run
    memory = load_checkpoint_model(out)["model"].bilm.eval()
    loaded = load_bilm(out / "options.json", out / "weights.hdf5")
    ids = batch_to_ids([["the", "cat", "sat", "on", "a", "tree", "."], ["unseen", "words"]])
    with torch.no_grad():
        a = memory(ids).layers
        b = loaded(ids).layers
    assert a.shape == (3, 2, 7, 16)
    assert torch.allclose(a, b, atol=1e-6, rtol=0)
    assert load_options(out / "options.json").lstm.dim == 32


def _params(run_dir: Path):
    return load_checkpoint_model(run_dir)["model"].state_dict()


def test_resume_matches_uninterrupted(tmp_path, corpus):
    straight = pretrain(
        config_from_dict(tiny_config(corpus, max_steps=40)), tmp_path / "a", progress=False
    )
    pretrain(config_from_dict(tiny_config(corpus, max_steps=20)), tmp_path / "b", progress=False)
    resumed = pretrain(
        config_from_dict(tiny_config(corpus, max_steps=40)), tmp_path / "b", progress=False
    )
    assert resumed["step"] == straight["step"] == 40
    a, b = _params(tmp_path / "a"), _params(tmp_path / "b")
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
    assert resumed["param_digest"] == straight["param_digest"]
    # The resumed run's log continues the interrupted one: one record per 10 steps.
    steps = [json.loads(l)["step"] for l in (tmp_path / "b" / "log.jsonl").read_text().splitlines()]
    assert steps == [10, 20, 30, 40]


def test_kill_9_then_same_command_resumes(tmp_path, corpus):
    cfg_path = tmp_path / "cfg.json"
    cfg_path.write_text(json.dumps(tiny_config(corpus, max_steps=120, checkpoint_every_steps=5)))
    cmd = [
        sys.executable,
        "-m",
        "spacy_elmo",
        "pretrain",
        str(tmp_path / "run"),
        "-c",
        str(cfg_path),
        "--no-progress",
    ]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.Popen(
        cmd, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    latest = tmp_path / "run" / "checkpoints" / "latest.json"
    deadline = time.time() + 60
    while time.time() < deadline and proc.poll() is None:
        if latest.is_file() and json.loads(latest.read_text())["step"] >= 15:
            break
        time.sleep(0.05)
    assert proc.poll() is None, "the run finished before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    killed_at = json.loads(latest.read_text())["step"]
    assert 15 <= killed_at < 120
    done = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    straight = pretrain(
        config_from_dict(tiny_config(corpus, max_steps=120, checkpoint_every_steps=5)),
        tmp_path / "straight",
        progress=False,
    )
    assert (
        json.loads(done.stderr[done.stderr.index("{") :])["param_digest"]
        == straight["param_digest"]
    )


def test_init_weights_continues_from_export(trained_run, tmp_path, corpus):
    out, _ = trained_run
    cfg = config_from_dict(tiny_config(corpus, max_steps=1, dropout=0.0))
    # Softmax and vocabulary come from the export: the first step starts from a trained LM.
    res = pretrain(cfg, tmp_path / "cont", init_weights=out, progress=False)
    fresh = pretrain(cfg, tmp_path / "fresh", progress=False)
    assert res["train_ppl_fwd"] < 0.5 * fresh["train_ppl_fwd"]


def test_init_weights_without_softmax_reinitialises_it(trained_run, tmp_path, corpus):
    import h5py

    from spacy_elmo.pretrain import export_checkpoint

    out, _ = trained_run
    export_checkpoint(out, tmp_path / "bilm_only", softmax=False)
    assert not (tmp_path / "bilm_only" / "softmax.pt").exists()
    cfg = config_from_dict(tiny_config(corpus, max_steps=0))
    pretrain(cfg, tmp_path / "cont", init_weights=tmp_path / "bilm_only", progress=False)
    with (
        h5py.File(tmp_path / "bilm_only" / "weights.hdf5", "r") as a,
        h5py.File(tmp_path / "cont" / "weights.hdf5", "r") as b,
    ):
        names = []
        a.visit(lambda n: names.append(n) if isinstance(a[n], h5py.Dataset) else None)
        assert len(names) > 10
        for n in names:
            assert (a[n][...] == b[n][...]).all(), n
    trained_sm = torch.load(out / "softmax.pt", weights_only=True)["state_dict"]
    new_sm = torch.load(tmp_path / "cont" / "softmax.pt", weights_only=True)["state_dict"]
    assert not torch.equal(trained_sm["asm.head.weight"], new_sm["asm.head.weight"])
