"""``adapt``: a trained biLM, a new softmax for the domain's text, the same loop.

Real tiny models (spacy_elmo/assets/tiny), real hdf5 files, a real HTTP server for the
catalogue name, a real subprocess killed with SIGKILL for resumption.
"""

import json
import os
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

from spacy_elmo.errors import ElmoInputError
from spacy_elmo.hub import CATALOGUE, ModelEntry, Source
from spacy_elmo.pretrain.adapt import (
    ADAPT_DEFAULTS,
    adapt,
    default_adapt_config,
    load_adapt_config,
    with_adapt_overrides,
)
from spacy_elmo.pretrain.build import build_model, make_optimizer
from spacy_elmo.pretrain.vocab import Vocab
from spacy_elmo.weights import load_bilm, load_options

from ..hub.server import LocalServer
from .conftest import make_corpus

REPO = Path(__file__).resolve().parents[2]
TINY = REPO / "spacy_elmo" / "assets" / "tiny"

#: Small enough for seconds on one thread; the freeze ends at step 10.
TINY_ADAPT = {
    "data.vocab_size": 100,
    "data.min_count": 1,
    "batching.batch_size": 4,
    "batching.unroll_steps": 8,
    "softmax.cutoffs": [8],
    "optimizer.lr": 0.01,
    "optimizer.warmup_steps": 0,
    "optimizer.schedule": "constant",
    "optimizer.min_lr": 0.0,
    "training.max_steps": 40,
    "training.log_every_steps": 5,
    "training.checkpoint_every_steps": 10,
    "training.checkpoint_every_minutes": 0,
    "training.keep_checkpoints": 10,
    "training.threads": 1,
    "adapt.freeze_bilm_steps": 10,
    "adapt.bilm_lr_scale": 0.3,
}


def tiny_adapt_config(**extra):
    return with_adapt_overrides(default_adapt_config(), {**TINY_ADAPT, **extra})


def bilm_arrays(path: Path) -> dict:
    out = {}
    with h5py.File(path, "r") as f:
        f.visititems(
            lambda name, obj: (
                out.__setitem__(name, obj[()]) if isinstance(obj, h5py.Dataset) else None
            )
        )
    return out


def log_records(out: Path) -> list:
    return [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]


@pytest.fixture
def domain(tmp_path):
    return make_corpus(tmp_path / "domain.txt", 300), make_corpus(tmp_path / "held.txt", 60, 1)


def test_adapting_lowers_loss_freezes_first_and_writes_files_that_load(tmp_path, domain):
    import spacy

    from spacy_elmo import ElmoEmbedder
    from spacy_elmo.pipeline.init_config import init_elmo_config

    train, dev = domain
    out = tmp_path / "out"
    result = adapt(
        TINY, out, train=[train], dev=[dev], config=tiny_adapt_config(), pretokenized=True,
        progress=False,
    )  # fmt: skip
    records = log_records(out)
    assert result["step"] == 40
    # The softmax alone in steps 1-10, everything after; the loss falls in both phases.
    assert [r["bilm_frozen"] for r in records] == [True, True] + [False] * 6
    assert records[-1]["train_ppl"] < records[2]["train_ppl"] < records[0]["train_ppl"]
    # Frozen means unchanged: the step-10 checkpoint holds BASE's biLM exactly.
    base = bilm_arrays(TINY / "weights.hdf5")
    step10 = torch.load(out / "checkpoints" / "step-00000010" / "model.pt", weights_only=True)
    adapted = bilm_arrays(out / "weights.hdf5")
    assert set(adapted) == set(base)
    assert any(not np.array_equal(adapted[k], base[k]) for k in base)
    loaded = load_bilm(TINY / "options.json", TINY / "weights.hdf5").state_dict()
    for name, value in loaded.items():
        assert torch.equal(step10["model"][f"bilm.{name}"], value), name
    # The domain's own vocabulary (a new softmax for it).
    assert "cat" in Vocab.load(out / "vocab.txt").index
    # Loads by path everywhere a biLM does.
    options, weights = str(out / "options.json"), str(out / "weights.hdf5")
    layers = ElmoEmbedder(options, weights).embed_sentence(["the", "cat", "sat"])
    assert layers.shape[1] == 3 and np.isfinite(layers).all()
    nlp = spacy.blank("en")
    nlp.add_pipe("elmo", config={"model": {"options_file": options, "weight_file": weights}})
    assert nlp("the cat sat")._.elmo.shape[0] == 3
    cfg = init_elmo_config(pipeline=["ner"], options_file=options, weight_file=weights)
    assert cfg["components"]["elmo"]["model"]["weight_file"] == weights
    # The model card: base, domain files with digests, steps, perplexity base vs adapted.
    card = (out / "MODEL_CARD.md").read_text()
    record = json.loads((out / "adapt.json").read_text())
    assert str(TINY) in card and record["train"][0]["sha256"] in card
    assert "steps: 40 (the first 10 train the new softmax alone)" in card
    row = [line for line in card.splitlines() if line.startswith("| held.txt |")][0]
    base_ppl, adapted_ppl = (float(x) for x in row.strip("|").split("|")[1:])
    assert adapted_ppl < base_ppl


def test_discriminative_learning_rates(domain):
    """The biLM trains at lr x bilm_lr_scale, the softmax at lr; by default one group."""
    config = tiny_adapt_config()
    arch = load_options(TINY / "options.json")
    model = build_model(arch, Vocab(["<S>", "</S>", "<UNK>", *"abcdefghij"]), config)
    groups = make_optimizer(model, config).param_groups
    assert [g["lr"] for g in groups] == pytest.approx([0.003, 0.01])
    assert {id(p) for p in groups[0]["params"]} == {id(p) for p in model.bilm.parameters()}
    plain = with_adapt_overrides(config, {"adapt.bilm_lr_scale": 1.0})
    assert len(make_optimizer(model, plain).param_groups) == 1


def test_frozen_throughout_is_the_base_and_warns(tmp_path, domain):
    """The control run: bilm_lr_scale 0 trains the softmax only (W038), biLM == BASE."""
    out = tmp_path / "out"
    with pytest.warns(UserWarning, match=r"\[W038\]"):
        adapt(
            TINY, out, train=[domain[0]], config=tiny_adapt_config(**{"adapt.bilm_lr_scale": 0.0}),
            pretokenized=True, progress=False,
        )  # fmt: skip
    base, written = bilm_arrays(TINY / "weights.hdf5"), bilm_arrays(out / "weights.hdf5")
    assert all(np.array_equal(written[k], base[k]) for k in base)
    assert "Not measured: the run had no --dev file." in (out / "MODEL_CARD.md").read_text()


@pytest.fixture
def catalogue_server(tmp_path, monkeypatch):
    """The tiny model under a catalogue name, served by a local HTTP server; empty cache."""
    monkeypatch.setenv("SPACY_ELMO_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("SPACY_ELMO_OFFLINE", raising=False)
    with LocalServer() as server:
        options = server.serve("/tiny/options.json", (TINY / "options.json").read_bytes())
        weights = server.serve("/tiny/weights.hdf5", (TINY / "weights.hdf5").read_bytes())
        entry = ModelEntry(
            name="tiny-adapt",
            description="test",
            training_data="none",
            licence="MIT",
            parameters=0,
            options=json.loads((TINY / "options.json").read_text()),
            sources=(Source(options=options, weights=weights),),
        )
        monkeypatch.setitem(CATALOGUE, entry.name, entry)
        yield server


def test_adapt_from_a_catalogue_name(tmp_path, domain, catalogue_server):
    out = tmp_path / "out"
    config = tiny_adapt_config(**{"training.max_steps": 15})
    adapt("tiny-adapt", out, train=[domain[0]], dev=[domain[1]], config=config, progress=False)
    assert catalogue_server.state.requests("/tiny/weights.hdf5")
    record = json.loads((out / "adapt.json").read_text())
    assert record["base"]["name"] == "tiny-adapt"
    assert "base model: `tiny-adapt`" in (out / "MODEL_CARD.md").read_text()
    assert bilm_arrays(out / "weights.hdf5").keys() == bilm_arrays(TINY / "weights.hdf5").keys()


def _adapt_command(out: Path, train: Path, max_steps: int) -> list:
    args = [sys.executable, "-m", "spacy_elmo", "adapt", str(TINY), str(out)]
    args += ["--train", str(train), "--pretokenized", "--no-progress"]
    for key, value in {**TINY_ADAPT, "training.max_steps": max_steps}.items():
        args += [f"--{key}", json.dumps(value)]
    return args


def _latest_step(out: Path) -> int:
    try:
        latest = json.loads((out / "checkpoints" / "latest.json").read_text())
    except (OSError, ValueError):
        return 0
    return int(latest["step"])


def test_kill_9_then_rerun_resumes_exactly(tmp_path, domain):
    train = domain[0]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    killed = tmp_path / "killed"
    proc = subprocess.Popen(_adapt_command(killed, train, 400), env=env, stderr=subprocess.PIPE)
    deadline = time.time() + 240
    while _latest_step(killed) < 20 and proc.poll() is None and time.time() < deadline:
        time.sleep(0.2)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    t_kill, saved = time.time(), _latest_step(killed)
    assert 20 <= saved < 400, "the run ended before it could be killed"
    assert not (killed / "weights.hdf5").exists()
    done = subprocess.run(
        _adapt_command(killed, train, 60 + saved), env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    # Resumed, not restarted: the records up to the checkpoint are the killed run's own.
    early = [r for r in log_records(killed) if r["step"] <= saved]
    assert early and all(r["time"] < t_kill for r in early)
    # ... and exactly: the same parameters as one uninterrupted run of as many steps.
    straight = tmp_path / "straight"
    again = subprocess.run(
        _adapt_command(straight, train, 60 + saved), env=env, capture_output=True, text=True
    )
    assert again.returncode == 0, again.stderr
    a, b = bilm_arrays(killed / "weights.hdf5"), bilm_arrays(straight / "weights.hdf5")
    assert all(np.array_equal(a[k], b[k]) for k in a)


def test_defaults_file_is_the_built_in_defaults():
    shipped = json.loads((REPO / "configs" / "adapt_default.json").read_text())
    assert shipped == json.loads(json.dumps(ADAPT_DEFAULTS))
    assert load_adapt_config(REPO / "configs" / "adapt_default.json") == default_adapt_config()


# --- bad input ---------------------------------------------------------------------------
def _code(excinfo) -> str:
    return str(excinfo.value)[:6]


@pytest.mark.parametrize(
    "base, weight_file, code",
    [
        ("/no/such/folder", None, "[E327]"),
        (str(TINY / "options.json"), None, "[E327]"),  # a file needs --weight-file
        ("http://127.0.0.1:9/options.json", None, "[E327]"),
        ("no-such-model", None, "[E401]"),
        ("   ", None, "[E327]"),
    ],
)
def test_bad_base(tmp_path, domain, base, weight_file, code):
    with pytest.raises(ElmoInputError) as e:
        adapt(base, tmp_path / "out", train=[domain[0]], weight_file=weight_file, progress=False)
    assert _code(e) == code
    assert not (tmp_path / "out").exists()  # refused before anything is written


def test_bad_base_folder_and_domain_files(tmp_path, domain):
    (tmp_path / "half").mkdir()
    (tmp_path / "half" / "options.json").write_bytes((TINY / "options.json").read_bytes())
    with pytest.raises(ElmoInputError, match=r"\[E327\].*no weights.hdf5"):
        adapt(tmp_path / "half", tmp_path / "out", train=[domain[0]], progress=False)
    with pytest.raises(ElmoInputError, match=r"\[E328\].*no --train file"):
        adapt(TINY, tmp_path / "out", progress=False)
    with pytest.raises(ElmoInputError, match=r"\[E328\].*does not exist"):
        adapt(TINY, tmp_path / "out", train=[tmp_path / "missing.txt"], progress=False)
    # Checked before BASE is resolved (a catalogue model would be downloaded first).
    with pytest.raises(ElmoInputError, match=r"\[E328\]"):
        adapt("no-such-model", tmp_path / "out", train=[tmp_path / "missing.txt"])
    with pytest.raises(ElmoInputError, match=r"\[E328\].*is not a file"):
        adapt(TINY, tmp_path / "out", train=[domain[0]], dev=[tmp_path], progress=False)


def test_bad_output_dir_and_changed_inputs(tmp_path, domain):
    train, dev = domain
    (tmp_path / "file").write_text("x")
    with pytest.raises(ElmoInputError, match=r"\[E330\].*is a file"):
        adapt(TINY, tmp_path / "file", train=[train], progress=False)
    (tmp_path / "run" / "checkpoints" / "step-00000010").mkdir(parents=True)
    with pytest.raises(ElmoInputError, match=r"\[E330\].*not started by adapt"):
        adapt(TINY, tmp_path / "run", train=[train], progress=False)
    out = tmp_path / "out"
    short = tiny_adapt_config(**{"training.max_steps": 10})
    (tmp_path / "tiny.txt").write_text("too short .\n")
    with pytest.raises(ElmoInputError, match=r"\[E306\]"):
        adapt(TINY, out, train=[tmp_path / "tiny.txt"], config=short, progress=False)
    # A run that never reached a checkpoint binds nothing: other domain text may start there.
    adapt(TINY, out, train=[train], config=short, pretokenized=True, progress=False)
    other = tmp_path / "other"
    other.mkdir()
    for name in ("options.json", "weights.hdf5"):
        (other / name).write_bytes((out / name).read_bytes())
    with pytest.raises(ElmoInputError, match=r"\[E329\].*base biLM"):
        adapt(other, out, train=[train], config=short, pretokenized=True, progress=False)
    with pytest.raises(ElmoInputError, match=r"\[E329\].*domain text"):
        adapt(TINY, out, train=[dev], config=short, pretokenized=True, progress=False)
    # Another rate is another run: the checkpoint's fingerprint refuses it.
    longer = tiny_adapt_config(**{"training.max_steps": 20, "adapt.bilm_lr_scale": 0.5})
    with pytest.raises(ElmoInputError, match=r"\[E304\].*adapt"):
        adapt(TINY, out, train=[train], config=longer, pretokenized=True, progress=False)


def test_bad_settings(tmp_path):
    with pytest.raises(ElmoInputError, match=r"\[E331\] The `adapt` config sets model"):
        with_adapt_overrides(default_adapt_config(), {"model": "small"})
    (tmp_path / "c.json").write_text(json.dumps({"model": "small"}))
    with pytest.raises(ElmoInputError, match=r"\[E331\]"):
        load_adapt_config(tmp_path / "c.json")
    (tmp_path / "c.json").write_text(json.dumps({"adapt": {"bilm_lr_scale": -1}}))
    with pytest.raises(ElmoInputError, match=r"\[E110\].*adapt.bilm_lr_scale"):
        load_adapt_config(tmp_path / "c.json")
    (tmp_path / "c.json").write_text(json.dumps({"adapt": {"freeze_steps": 1}}))
    with pytest.raises(ElmoInputError, match=r"\[E308\]"):
        load_adapt_config(tmp_path / "c.json")


def test_cli_reports_coded_errors_without_traceback(tmp_path, domain):
    args = [sys.executable, "-m", "spacy_elmo", "adapt", str(tmp_path / "nothing")]
    args += [str(tmp_path / "out"), "--train", str(domain[0])]
    done = subprocess.run(args, capture_output=True, text=True)
    assert done.returncode == 1
    assert "[E327]" in done.stderr and "Traceback" not in done.stderr
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the defaults themselves warn about nothing
        default_adapt_config()


def test_conll_to_text(tmp_path):
    from spacy_elmo.pretrain.conll_text import conll_to_text

    conll = tmp_path / "a.conll"
    conll.write_text("-DOCSTART-\tO\n\n@paul\tO\nIt\tO\n's\tO\n\n\nEmpire\tB-loc\nState\tI-loc\n")
    assert conll_to_text(conll, tmp_path / "a.txt") == 2
    assert (tmp_path / "a.txt").read_text() == "@paul It 's\nEmpire State\n"
    conllu = tmp_path / "a.conllu"
    conllu.write_text(
        "# sent_id = 1\n# text = I don't, New York\n"
        "1\tI\tI\tPRON\n2-3\tdon't\t_\t_\n2\tdo\tdo\tAUX\n3\tn't\tnot\tPART\n"
        "4\t,\t,\tPUNCT\n4.1\tis\tbe\tAUX\n5\tNew York\tNew York\tPROPN\n\n"
        "# sent_id = 2\n1\tYes\tyes\tINTJ\n"
    )
    assert conll_to_text(conllu, tmp_path / "u.txt") == 2
    assert (tmp_path / "u.txt").read_text() == "I do n't , New_York\nYes\n"
    (tmp_path / "empty.conll").write_text("\n\n")
    with pytest.raises(ElmoInputError, match=r"\[E328\].*no tokens"):
        conll_to_text(tmp_path / "empty.conll", tmp_path / "b.txt")


def _ddp_worker(rank: int, port: int, train: str, out: str) -> None:
    os.environ.update(
        RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE="2",
        MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port),
    )  # fmt: skip
    config = tiny_adapt_config(**{"training.max_steps": 12, "adapt.freeze_bilm_steps": 4})
    result = adapt(TINY, out, train=[train], config=config, device="cpu", progress=False)
    Path(out, f"result-rank{rank}.json").write_text(json.dumps(result))


def test_two_processes(tmp_path, domain):
    """torchrun-style data parallelism: both ranks end bit-identical, one model card."""
    import socket

    import torch.multiprocessing as mp

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    out = tmp_path / "run"
    mp.spawn(_ddp_worker, args=(port, str(domain[0]), str(out)), nprocs=2, join=True)
    r0, r1 = (json.loads((out / f"result-rank{r}.json").read_text()) for r in (0, 1))
    assert r0["step"] == r1["step"] == 12 and r0["param_digest"] == r1["param_digest"]
    assert "model_card" in r0 and "model_card" not in r1
    assert json.loads((out / "checkpoints" / "latest.json").read_text())["world_size"] == 2
    assert any(
        not np.array_equal(a, b)
        for a, b in zip(
            bilm_arrays(out / "weights.hdf5").values(), bilm_arrays(TINY / "weights.hdf5").values()
        )
    )


def test_cli_takes_several_files_one_option_each(tmp_path, domain):
    """`--train a --train b` reads both files; `--train a b` is E332, which says how."""
    train, dev = domain
    second = tmp_path / "second.txt"
    second.write_text(dev.read_text(encoding="utf8"), encoding="utf8")
    wrong = _adapt_command(tmp_path / "wrong", train, 4) + [str(second)]
    done = subprocess.run(wrong, capture_output=True, text=True)
    assert done.returncode == 2
    assert "E332" in done.stderr and "--train a.txt --train b.txt" in done.stderr
    assert not (tmp_path / "wrong").exists()
    both = _adapt_command(tmp_path / "both", train, 4) + ["--train", str(second)]
    done = subprocess.run(both, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    card = (tmp_path / "both" / "MODEL_CARD.md").read_text(encoding="utf8")
    assert train.name in card and second.name in card
