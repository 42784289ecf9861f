"""The benchmark's plain functions on a tiny config (no AllenNLP needed)."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import benchmarks
from benchmarks import (
    default_reference_python,
    format_table,
    make_sentences,
    make_weights,
    run_benchmark,
    sentence_stats,
)
from benchmarks.sentences import MAX_LENGTH, MIN_LENGTH
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
    # the user paths of every variant: embedder alone, nlp.pipe (and its glue), embed
    assert set(result["paths"]) == {"zero", "warm", "zero+bfloat16", "warm+bfloat16"}
    for row in result["paths"].values():
        for path in ("embedder", "pipe", "embed"):
            assert row[f"{path}_tokens_per_s"] > 0
        assert 0.0 <= row["pipe_glue_share"] < 1.0
        # nlp.pipe runs at spaCy batch_size=1, yet the biLM sees few batches of 4
        assert row["pipe_bilm_calls"] <= 4
    assert "user path tokens/s" in table and "pipe glue" in table
    # the GEMM peak of each precision, at the recurrent product's shape and the batch's rows
    assert set(result["gemm_peak"]) == {"float32", "bfloat16"}
    for peak in result["gemm_peak"].values():
        assert (peak["rows"], peak["k"], peak["n"]) == (4, 16, 4 * 64)
        assert peak["gflops"] > 0
    for row in impl.values():
        assert row["share_of_gemm_peak"] == pytest.approx(row["gflops"] / row["gemm_peak_gflops"])
    assert "GEMM peak" in table
    # bfloat16 against float32: close, not equal
    assert set(result["accuracy"]) == {"zero+bfloat16", "warm+bfloat16"}
    for acc in result["accuracy"].values():
        assert 0 < acc["median_relative_error"] < 0.05
        assert len(acc["min_cosine_per_layer"]) == 3
        assert all(0.99 < c < 1.0 + 1e-9 for c in acc["min_cosine_per_layer"])
    assert "accuracy against float32" in table
    # each variant alone in its own process, for its own peak RSS
    assert set(result["rss_per_variant"]) == set(result["paths"])
    assert all(10 < r["peak_rss_mb"] < 4000 for r in result["rss_per_variant"].values())
    assert "alone in its process" in table


def test_compare_layers():
    from benchmarks.accuracy import compare_layers

    a = [np.ones((2, 3, 4), np.float32), np.ones((2, 1, 4), np.float32)]
    b = [x.copy() for x in a]
    b[1][1, 0] = -1.0  # one token of layer 1 reversed
    acc = compare_layers(a, b)
    assert acc["n_tokens"] == 4 and acc["median_relative_error"] == 0.0
    assert acc["min_cosine_per_layer"] == pytest.approx([1.0, -1.0])
    assert acc["median_relative_error_per_layer"] == [0.0, 0.0]


@pytest.mark.parametrize("precision", ["float32", "bfloat16", "int8"])
def test_gemm_peak_runs_the_models_kernels(precision):
    from benchmarks.gemm import _product, gemm_gflops

    x, w = torch.randn(8, 32), torch.randn(32, 64)
    out = _product(precision, x, w)()
    # the same product, to the precision's accuracy
    np.testing.assert_allclose(out.float().numpy(), (x @ w).numpy(), rtol=0.1, atol=0.5)
    assert gemm_gflops(precision, rows=8, k=32, n=64, seconds=0.03) > 0


def test_variants():
    from benchmarks.runner import split_variant, variant

    assert variant("zero", "float32") == "zero"
    for state in ("zero", "warm"):
        for precision in ("float32", "bfloat16"):
            assert split_variant(variant(state, precision)) == (state, precision)


def test_allennlp_worker_is_self_contained():
    """The reference worker runs as a script in another environment: it and the common part
    it imports load with spacy_elmo unimportable."""
    here = Path(benchmarks.__file__).parent
    code = (
        "import sys, runpy; sys.modules['spacy_elmo'] = None; sys.path.insert(0, sys.argv[1])\n"
        "g = runpy.run_path(sys.argv[1] + '/worker_allennlp.py', run_name='worker')\n"
        "print(sorted(n for n in sys.modules if n.startswith(('spacy_elmo', 'benchmarks'))))\n"
        "print(g['common'].__name__, callable(g['main']))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, str(here)], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split("\n")[:2] == ["['spacy_elmo']", "worker_common True"]


def test_benchmarks_are_not_in_the_package_and_bench_says_where_they_are(tmp_path):
    """Without a checkout beside it, ``python -m spacy_elmo bench`` is E607 with the clone
    hint (the package copied alone, as a wheel installs it)."""
    import spacy_elmo

    assert not (Path(spacy_elmo.__file__).parent / "bench").exists()
    shutil.copytree(
        Path(spacy_elmo.__file__).parent,
        tmp_path / "site" / "spacy_elmo",
        ignore=shutil.ignore_patterns("assets", "__pycache__"),
    )
    (tmp_path / "work").mkdir()
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "site")}
    result = subprocess.run(
        [sys.executable, "-m", "spacy_elmo", "bench", "--preset", "small"],
        cwd=tmp_path / "work",
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1, result.stderr
    assert "E607" in result.stderr and "git clone" in result.stderr
    assert "Traceback" not in result.stderr


def test_cli_registered():
    from typer.testing import CliRunner

    from spacy_elmo.cli import app

    result = CliRunner().invoke(app, ["bench", "--help"])
    assert result.exit_code == 0
    assert "--n-sentences" in result.output


def test_bad_device_and_interleave_are_coded_errors(tmp_path):
    from spacy_elmo.errors import ElmoInputError

    with pytest.raises(ElmoInputError, match="E602"):
        run_benchmark(preset=TINY, device="gpu0", cache_dir=tmp_path, use_reference=False)
    with pytest.raises(ElmoInputError, match="E601"):
        run_benchmark(preset=TINY, interleave="row", cache_dir=tmp_path, use_reference=False)
    assert not any(tmp_path.iterdir())  # rejected before anything was written


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on a CPU-only machine")
def test_cli_cuda_without_gpu_says_so(tmp_path):
    cmd = [sys.executable, "-m", "spacy_elmo", "bench", "--device", "cuda"]
    cmd += ["--cache-dir", str(tmp_path / "out")]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert "E602" in result.stderr and "--device cpu" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "out").exists()


def _tiny_run(tmp_path, **fields) -> dict:
    """One quiet pass of batches of 4 over the tiny model, one thread."""
    return run_benchmark(
        preset=TINY,
        batch_size=4,
        threads=1,
        repeats=1,
        cache_dir=tmp_path,
        log=lambda msg: None,
        **fields,
    )


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_run_benchmark_on_cuda(tmp_path):
    result = _tiny_run(
        tmp_path, n_sentences=8, device="cuda", states=("zero", "warm"), use_reference=False
    )
    for row in result["implementations"].values():
        assert row["device"].startswith("cuda")
        assert row["tokens_per_s"] > 0
    assert result["settings"]["device"] == "cuda"


def test_reference_worker_that_cannot_start_is_a_note(tmp_path):
    """A Python without AllenNLP: the run goes on without it and says why."""
    result = _tiny_run(tmp_path, n_sentences=4, reference_python=sys.executable)
    assert set(result["implementations"]) == {"spacy-elmo[zero]"}
    (note,) = result["notes"]
    assert note.startswith("AllenNLP skipped: allennlp worker exited")
    assert "parity" not in result


SETUP_SCRIPT = Path(__file__).parents[2] / "tools" / "setup-reference-venv.sh"


def test_bench_looks_where_the_setup_script_installs(monkeypatch):
    from benchmarks.runner import DEFAULT_REFERENCE_VENV, REFERENCE_ENV

    script = SETUP_SCRIPT.read_text()
    (line,) = [l for l in script.splitlines() if l.startswith("venv_dir=")]
    default = line.split(":-", 1)[1].rstrip('}"').replace("${HOME}", str(Path.home()))
    assert Path(default) == DEFAULT_REFERENCE_VENV
    monkeypatch.delenv(REFERENCE_ENV, raising=False)
    assert default_reference_python() == DEFAULT_REFERENCE_VENV / "bin" / "python"
    monkeypatch.setenv(REFERENCE_ENV, "/opt/ref/bin/python")
    assert default_reference_python() == Path("/opt/ref/bin/python")


def test_setup_script_keeps_a_finished_venv(tmp_path):
    """Re-running the script on a finished venv changes nothing and prints its python."""
    venv = tmp_path / "ref"
    venv.mkdir()
    (venv / ".complete").touch()
    (venv / "keep.txt").write_text("x")
    result = subprocess.run(
        ["bash", str(SETUP_SCRIPT), str(venv)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == str(venv / "bin" / "python")
    assert (venv / "keep.txt").read_text() == "x"


@pytest.mark.skipif(
    not default_reference_python().is_file(), reason="needs tools/setup-reference-venv.sh"
)
def test_allennlp_also_runs_at_its_default_batch(tmp_path):
    result = _tiny_run(tmp_path, n_sentences=8, parity_sentences=2, paths=False)
    assert "allennlp" in result["implementations"] and "paths" not in result
    row = result["allennlp_default_batch"]
    assert row["batch_size"] == 64 and row["tokens_per_s"] > 0 and row["peak_rss_mb"] > 10
    assert (tmp_path / "worker-allennlp-b64.log").exists()
    assert "allennlp at its default batch 64" in format_table(result)
