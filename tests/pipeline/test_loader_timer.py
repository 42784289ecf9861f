import json
import shutil
from pathlib import Path

import spacy
from spacy.training import Example
from spacy.util import load_config, load_model_from_config

from ..spacy_fixtures import TINY

CONFIGS = Path(__file__).parents[2] / "configs"


def test_bilm_files_loader_at_initialize(tmp_path):
    for name in ("options.json", "weights.hdf5"):
        shutil.copyfile(TINY / name, tmp_path / name)
    config = load_config(CONFIGS / "textcat_elmo.cfg")
    config["initialize"]["components"]["elmo"] = {
        "bilm_loader": {
            "@model_loaders": "spacy-elmo.BiLMFiles.v1",
            "options_file": str(tmp_path / "options.json"),
            "weight_file": str(tmp_path / "weights.hdf5"),
        }
    }
    nlp = load_model_from_config(config, auto_fill=True)
    doc = nlp.make_doc("A fine test .")
    nlp.initialize(lambda: [Example.from_dict(doc, {"cats": {"0": 1.0, "1": 0.0}})])
    elmo = nlp.get_pipe("elmo")
    assert elmo.model.shims[0].files["weights.hdf5"] == tmp_path / "weights.hdf5"
    assert elmo.embedder.output_dim == 32
    nlp.to_disk(tmp_path / "p")
    saved = tmp_path / "p" / "elmo" / "model" / "weights.hdf5"
    assert saved.read_bytes() == (TINY / "weights.hdf5").read_bytes()


def test_epoch_timer(tmp_path):
    path = tmp_path / "epochs.jsonl"
    timer = spacy.registry.misc.get("spacy-elmo.EpochTimer.v1")(path=str(path))
    nlp = spacy.blank("en")
    for step, epoch in enumerate([0, 0, 0, 1, 1, 2]):
        timer(nlp, {"step": step, "epoch": epoch})
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    assert [(r["epoch"], r["steps"]) for r in rows] == [(0, 3), (1, 2)]
    assert all(r["seconds"] >= 0 and r["cpu_seconds"] >= 0 for r in rows)
