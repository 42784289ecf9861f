"""The benchmark's plain functions on a tiny config (no AllenNLP needed)."""

import json
from pathlib import Path

import numpy as np
import pytest

from spacy_elmo.bench import (
    format_table,
    make_sentences,
    make_weights,
    run_benchmark,
    sentence_stats,
)
from spacy_elmo.bench.sentences import MAX_LENGTH, MIN_LENGTH
from spacy_elmo.pytorch.config import CharCNNConfig, ELMoConfig, LSTMConfig

TINY = ELMoConfig(
    char_cnn=CharCNNConfig(filters=((1, 4), (2, 8)), n_highway=1),
    lstm=LSTMConfig(dim=64, projection_dim=16, n_layers=2),
)


def test_sentences_are_fixed_and_realistic():
    a, b = make_sentences(640), make_sentences(640)
    assert a == b
    assert make_sentences(20) == a[:20]
    assert make_sentences(20, seed=7) != a[:20]
    stats = sentence_stats(a)
    assert stats["n_sentences"] == 640
    assert 20 <= stats["mean_length"] <= 30
    assert MIN_LENGTH <= stats["min_length"] and stats["max_length"] <= MAX_LENGTH
    # Enough distinct words that the char CNN has real work (real text: ~15-25 % types).
    assert stats["n_types"] / stats["n_tokens"] > 0.1
    assert all(isinstance(t, str) and t and " " not in t for s in a for t in s)


def test_make_weights_roundtrip_and_cache(tmp_path):
    from spacy_elmo.embedder import ElmoEmbedder
    from spacy_elmo.weights import load_options

    options, weights = make_weights(TINY, tmp_path, seed=3)
    assert load_options(options) == TINY
    mtime = weights.stat().st_mtime_ns
    assert make_weights(TINY, tmp_path, seed=3) == (options, weights)
    assert weights.stat().st_mtime_ns == mtime  # reused, not rewritten
    emb = ElmoEmbedder(options, weights, state="zero")
    out = emb.embed_batch(make_sentences(4))
    assert all(np.isfinite(x).all() for x in out)
    # Not saturated: the LSTM layers are well inside the projection clip.
    top = np.concatenate([x[-1].ravel() for x in out])
    assert 0.0 < np.abs(top).mean() < 1.0


@pytest.mark.parametrize("interleave", ["batch", "pass"])
def test_run_benchmark_without_reference(tmp_path, interleave):
    messages = []
    result = run_benchmark(
        preset=TINY,
        n_sentences=10,
        batch_size=4,
        threads=1,
        repeats=2,
        states=("zero", "warm"),
        precisions=("float32", "bfloat16"),
        reference_python=tmp_path / "missing" / "python",
        cache_dir=tmp_path,
        interleave=interleave,
        log=messages.append,
    )
    json.dumps(result)  # serialisable as the --output file
    impl = result["implementations"]
    assert set(impl) == {
        "spacy-elmo[zero]",
        "spacy-elmo[warm]",
        "spacy-elmo[zero+bfloat16]",
        "spacy-elmo[warm+bfloat16]",
    }
    for row in impl.values():
        assert len(row["seconds"]) == 2
        assert row["tokens_per_s"] > 0 and row["gflops"] > 0
        assert 10 < row["peak_rss_mb"] < 4000
    assert result["sentences"]["n_sentences"] == 10
    assert any("AllenNLP skipped" in n for n in result["notes"])
    table = format_table(result)
    assert "spacy-elmo[zero]" in table and "AllenNLP skipped" in table
    assert "spacy-elmo[warm+bfloat16]" in table


def test_variants():
    from spacy_elmo.bench.runner import split_variant, variant

    assert variant("zero", "float32") == "zero"
    for state in ("zero", "warm"):
        for precision in ("float32", "bfloat16"):
            assert split_variant(variant(state, precision)) == (state, precision)


def test_allennlp_worker_is_self_contained():
    """The reference worker runs in another environment: it must not import this package."""
    import spacy_elmo.bench

    source = (Path(spacy_elmo.bench.__file__).parent / "worker_allennlp.py").read_text()
    imports = [l for l in source.splitlines() if l.strip().startswith(("import ", "from "))]
    assert imports and not any("spacy_elmo" in l or l.strip().startswith("from .") for l in imports)


def test_cli_registered():
    from typer.testing import CliRunner

    from spacy_elmo.cli import app

    result = CliRunner().invoke(app, ["bench", "--help"])
    assert result.exit_code == 0
    assert "--n-sentences" in result.output
