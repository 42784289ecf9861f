"""Two-process data-parallel pretraining on CPU (gloo)."""

import json
import os
import socket
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp

from spacy_elmo.errors import ElmoInputError
from spacy_elmo.pretrain import config_from_dict, load_checkpoint_model, pretrain
from spacy_elmo.pretrain.ddp import init_distributed

from .conftest import make_corpus, tiny_config


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank: int, world: int, port: int, cfg: dict, out: str) -> None:
    os.environ.update(
        RANK=str(rank),
        LOCAL_RANK=str(rank),
        WORLD_SIZE=str(world),
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
    )
    result = pretrain(config_from_dict(cfg), out, device="cpu", progress=False)
    Path(out, f"result-rank{rank}.json").write_text(json.dumps(result))


def test_two_process_gloo(tmp_path):
    corpus = make_corpus(tmp_path / "train.txt", 300)
    cfg = tiny_config(corpus, max_steps=12, checkpoint_every_steps=6, dropout=0.1)
    out = tmp_path / "run"
    mp.spawn(_worker, args=(2, _free_port(), cfg, str(out)), nprocs=2, join=True)
    r0, r1 = (json.loads((out / f"result-rank{r}.json").read_text()) for r in (0, 1))
    assert r0["step"] == r1["step"] == 12
    # 2 processes x 4 rows x 8 steps per step.
    assert r0["tokens"] == 12 * 2 * 4 * 8
    # Gradients are averaged, so both ranks end with the same parameters (bit for bit).
    assert r0["param_digest"] == r1["param_digest"]
    # ...which differ from a single-process run (each rank saw different rows).
    single = pretrain(config_from_dict(cfg), tmp_path / "single", progress=False)
    assert single["param_digest"] != r0["param_digest"]
    latest = json.loads((out / "checkpoints" / "latest.json").read_text())
    assert latest["world_size"] == 2 and latest["step"] == 12
    assert (out / "checkpoints" / "step-00000012" / "rank1.pt").is_file()
    state = load_checkpoint_model(out)["model"].state_dict()
    assert all(torch.isfinite(v).all() for v in state.values())


@pytest.mark.parametrize("setting", ["banana", "cuda:7", "cuda"])
def test_devices_this_machine_lacks_are_e109(setting, monkeypatch):
    """The one device resolution decides; nothing reaches torch's own parser or CUDA init."""
    if setting.startswith("cuda") and torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    with pytest.raises(ElmoInputError, match=r"\[E109\]"):
        init_distributed(setting)


@pytest.mark.parametrize("setting", [None, "auto", "cpu"])
def test_auto_and_cpu_resolve_like_everything_else(setting, monkeypatch):
    from spacy_elmo.pytorch.device import resolve_device

    monkeypatch.delenv("WORLD_SIZE", raising=False)
    ctx = init_distributed(setting)
    assert ctx.device == resolve_device(setting or "auto", local_rank=0).device
    assert not ctx.enabled
