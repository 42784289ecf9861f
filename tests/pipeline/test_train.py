"""Real ``spacy train`` runs of the shipped configs on the tiny biLM, overfitting small samples."""

from pathlib import Path

import pytest
import spacy
from spacy.cli.train import train
from spacy.tokens import DocBin
from spacy.training import Example

from spacy_elmo.data.convert import convert_file

from ..spacy_fixtures import DATA

CONFIGS = Path(__file__).parents[2] / "configs"


def _train_and_score(tmp_path, config, data, tiny_paths, epochs):
    out = tmp_path / "out"
    overrides = {
        "paths.train": str(data),
        "paths.dev": str(data),
        "training.max_epochs": epochs,
        "training.eval_frequency": 10_000,
        "training.dropout": 0.0,
        "training.batcher.size.start": 300,
    }
    if "elmo" in config:
        overrides["components.elmo.model.options_file"] = tiny_paths[0]
        overrides["components.elmo.model.weight_file"] = tiny_paths[1]
    train(CONFIGS / config, out, use_gpu=-1, overrides=overrides)
    nlp = spacy.load(out / "model-last")
    if "elmo" in config:  # the model section's files took effect (tiny: 2P = 32)
        assert nlp.get_pipe("elmo").embedder.output_dim == 32
        assert nlp.config["components"]["elmo"]["model"]["options_file"] == tiny_paths[0]
    docs = DocBin().from_disk(data).get_docs(nlp.vocab)
    scores = nlp.evaluate([Example(nlp.make_doc(d.text), d) for d in docs])
    print(config, {k: scores[k] for k in ("ents_f", "cats_score") if k in scores})
    return nlp, scores


def test_train_ner_elmo_overfits(tmp_path, tiny_paths):
    data = tmp_path / "ner.spacy"
    convert_file(DATA / "wikigold_sample.conll", data, file_type="conll", limit=40)
    nlp, scores = _train_and_score(tmp_path, "ner_elmo.cfg", data, tiny_paths, epochs=25)
    assert nlp.pipe_names == ["elmo", "ner"]
    assert scores["ents_f"] > 0.5, scores["ents_f"]


def test_train_textcat_elmo_overfits(tmp_path, tiny_paths):
    data = tmp_path / "tc.spacy"
    convert_file(DATA / "textcat_sample.tsv", data, file_type="tsv")
    nlp, scores = _train_and_score(tmp_path, "textcat_elmo.cfg", data, tiny_paths, epochs=25)
    assert sorted(nlp.get_pipe("textcat").labels) == ["0", "1", "2", "3", "4"]
    assert scores["cats_score"] > 0.6, scores["cats_score"]  # macro F; chance is about 0.2
