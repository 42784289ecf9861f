"""``embed`` fills its biLM batches by tokens as well as by sentences."""

import h5py
import numpy as np
import pytest

from spacy_elmo.corpus import EmbedSettings, embed_corpus
from spacy_elmo.corpus.reader import token_batches
from spacy_elmo.errors import ElmoInputError

from .conftest import sentences


def test_token_batches_bound_rows_and_padded_tokens():
    tokens = [["w"] * n for n in (10, 9, 9, 4, 3, 3, 2, 1, 1, 1)]
    spans = list(token_batches(tokens, batch_size=4, max_batch_tokens=20))
    assert spans == [(0, 2), (2, 4), (4, 8), (8, 10)]
    for start, end in spans:
        rows = tokens[start:end]
        assert len(rows) <= 4 and len(rows) * max(map(len, rows)) <= 20
    # a sentence longer than the budget still gets its own batch
    assert list(token_batches([["w"] * 50, ["w"]], batch_size=8, max_batch_tokens=20)) == [
        (0, 1),
        (1, 2),
    ]
    assert list(token_batches([], batch_size=8, max_batch_tokens=20)) == []


def test_budget_changes_calls_not_vectors(tiny_embedder, tmp_path, monkeypatch):
    lines = sentences(40, seed=3)
    (tmp_path / "in.txt").write_text("\n".join(lines) + "\n", encoding="utf8")
    calls = []
    real = tiny_embedder.embed_batch

    def counted(batch):
        calls.append(len(batch) * max(map(len, batch)))
        return real(batch)

    monkeypatch.setattr(tiny_embedder, "embed_batch", counted)
    outputs = {}
    for budget in (4096, 24):
        calls.clear()
        settings = EmbedSettings(batch_size=16, max_batch_tokens=budget, progress=False)
        out = tmp_path / f"o{budget}.h5"
        embed_corpus(tmp_path / "in.txt", out, load=lambda: tiny_embedder, settings=settings)
        with h5py.File(out, "r") as f:
            outputs[budget] = {k: f[k][...] for k in f if k != "sentence_to_index"}
        if budget == 24:
            assert len(calls) > 3 and max(calls) <= 24  # lines of 1-12 tokens, 2+ per call
        else:
            assert len(calls) == 3  # 40 lines in batches of 16
    for key, ref in outputs[4096].items():
        np.testing.assert_allclose(outputs[24][key], ref, atol=1e-5)


def test_bad_budget_is_a_coded_error():
    with pytest.raises(ElmoInputError, match="max_batch_tokens"):
        EmbedSettings(max_batch_tokens=0).validate()
