"""The embedded default English biLM (skipped when the package was built without it)."""

import json
from pathlib import Path

import pytest
import torch

from spacy_elmo.pytorch.char_ids import batch_to_ids
from spacy_elmo.weights import load_bilm

DEFAULT = Path(__file__).resolve().parents[2] / "spacy_elmo" / "assets" / "default"


@pytest.mark.skipif(not (DEFAULT / "weights.hdf5").is_file(), reason="no default model")
def test_default_model_loads_and_embeds():
    options = json.loads((DEFAULT / "options.json").read_text())
    bilm = load_bilm(DEFAULT / "options.json", DEFAULT / "weights.hdf5")
    width = 2 * options["lstm"]["projection_dim"]
    ids = batch_to_ids(
        [["The", "bank", "raised", "interest", "rates", "."], ["A", "river", "bank"]]
    )
    with torch.no_grad():
        out = bilm(ids)
    assert out.layers.shape == (options["lstm"]["n_layers"] + 1, 2, 6, width)
    assert torch.isfinite(out.layers).all()
    # Contextual: "bank" gets different top-layer vectors in the two sentences.
    assert not torch.allclose(out.layers[-1, 0, 1], out.layers[-1, 1, 2], atol=1e-3)
    total = sum(p.stat().st_size for p in DEFAULT.iterdir())
    assert total <= 30 * 2**20
    assert (DEFAULT / "MODEL_CARD.md").is_file()
