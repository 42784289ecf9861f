"""The full training state packed into small files resumes exactly where the run stopped."""

import json

import pytest

from spacy_elmo.errors import ElmoInputError
from spacy_elmo.pretrain import config_from_dict, load_config, pretrain
from spacy_elmo.pretrain.state_folder import pack_state, unpack_state

from .conftest import tiny_config


def test_pack_unpack_resume_is_exact(tmp_path, corpus):
    straight = pretrain(
        config_from_dict(tiny_config(corpus, max_steps=30)), tmp_path / "straight", progress=False
    )
    pretrain(config_from_dict(tiny_config(corpus, max_steps=20)), tmp_path / "a", progress=False)
    info = pack_state(
        tmp_path / "a", tmp_path / "state", corpus_dir=corpus.parent, max_file_mb=0.01
    )
    assert info["step"] == 20 and len([n for n in info["sizes"] if n.startswith("tensors-")]) > 1
    assert all(size <= 0.01e6 + 4096 for n, size in info["sizes"].items() if n.endswith(".pt"))
    config = json.loads((tmp_path / "state" / "config.json").read_text())
    assert config["data"]["train"][0]["path"] == corpus.name  # relative to the corpus folder
    assert unpack_state(tmp_path / "state", tmp_path / "b")["step"] == 20
    cfg = load_config(tmp_path / "state" / "config.json")
    cfg = config_from_dict(
        {**cfg.to_dict(), "training": {**cfg.to_dict()["training"], "max_steps": 30}}
    )
    from dataclasses import replace

    train = tuple(replace(f, path=str(corpus.parent / f.path)) for f in cfg.data.train)
    cfg = replace(cfg, data=replace(cfg.data, train=train))
    resumed = pretrain(cfg, tmp_path / "b", progress=False)
    assert resumed["param_digest"] == straight["param_digest"]
    with pytest.raises(ElmoInputError, match=r"\[E318\].*already has checkpoints"):
        unpack_state(tmp_path / "state", tmp_path / "b")


def test_damaged_state_is_refused(tmp_path, corpus):
    pretrain(config_from_dict(tiny_config(corpus, max_steps=10)), tmp_path / "a", progress=False)
    pack_state(tmp_path / "a", tmp_path / "state")
    shard = tmp_path / "state" / "tensors-000.pt"
    data = bytearray(shard.read_bytes())
    data[-100] ^= 0xFF
    shard.write_bytes(bytes(data))
    with pytest.raises(ElmoInputError, match=r"\[E318\].*tensors-000.pt.*SHA-256"):
        unpack_state(tmp_path / "state", tmp_path / "b")
