"""Pretraining on a GPU: train, checkpoint, resume and export (skipped without CUDA)."""

import json

import pytest
import torch

from spacy_elmo.pretrain import config_from_dict, export_checkpoint, pretrain
from spacy_elmo.weights import load_bilm

from .conftest import tiny_config

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")


def test_train_resume_and_export_on_cuda(tmp_path, corpus):
    cfg = tiny_config(corpus, dev=None, max_steps=20)
    pretrain(config_from_dict(cfg), tmp_path / "run", device="cuda", progress=False)
    cfg["training"]["max_steps"] = 60
    result = pretrain(config_from_dict(cfg), tmp_path / "run", device="cuda", progress=False)
    assert result["step"] == 60
    records = [json.loads(l) for l in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [10, 20, 30, 40, 50, 60]
    assert records[-1]["train_ppl_fwd"] < records[0]["train_ppl_fwd"]
    # The checkpoint holds CPU-loadable tensors; the export loads without a GPU.
    export_checkpoint(tmp_path / "run", tmp_path / "export")
    bilm = load_bilm(tmp_path / "export" / "options.json", tmp_path / "export" / "weights.hdf5")
    assert next(bilm.parameters()).device.type == "cpu"
