"""Reduced precisions (bfloat16, int8) against float32, and lean biLMs (weights held once)."""

import numpy as np
import pytest
import torch

from spacy_elmo.embedder import ElmoEmbedder
from spacy_elmo.errors import ElmoInputError
from spacy_elmo.pytorch.quantize import int8_problem
from spacy_elmo.util import default_model_paths
from spacy_elmo.weights import load_bilm, save_weights
from spacy_elmo.weights.lean import load_lean_bilm

SENTENCES = [
    ["The", "cat", "sat", "on", "the", "mat", "."],
    ["Zürich", "is", "a", "city", "in", "Switzerland", "."],
    ["A"],
    ["Colorless", "green", "ideas", "sleep", "furiously", "tonight", "again", "."],
]
# Median / max relative error per token of the LSTM layers, and min cosine, per precision.
BOUNDS = {"bfloat16": (1e-2, 5e-2, 0.999), "int8": (6e-2, 0.2, 0.99)}
needs_int8 = pytest.mark.skipif(
    int8_problem(torch.device("cpu")) is not None, reason="no fbgemm in this torch build"
)


def _errors(exact, low):
    """Relative error per token and cosine of every LSTM layer, all sentences."""
    A = np.concatenate(exact, axis=1)[1:]  # (L, tokens, 2P)
    B = np.concatenate(low, axis=1)[1:]
    norm_a, norm_b = np.linalg.norm(A, axis=2), np.linalg.norm(B, axis=2)
    rel = np.linalg.norm(A - B, axis=2) / norm_a
    cos = (A * B).sum(2) / (norm_a * norm_b)
    return rel, cos


@pytest.fixture(scope="module")
def default_files():
    return default_model_paths()


@pytest.mark.parametrize("precision", ["bfloat16", pytest.param("int8", marks=needs_int8)])
@pytest.mark.parametrize("which", ["tiny", "default"])
def test_close_to_float32(precision, which, tiny_files, default_files):
    files = tiny_files if which == "tiny" else default_files
    exact = ElmoEmbedder(*files, state="zero").embed_batch(SENTENCES)
    lean = ElmoEmbedder(*files, state="zero", precision=precision)
    low = lean.embed_batch(SENTENCES)
    for a, b in zip(exact, low):
        assert b.dtype == np.float32 and b.shape == a.shape
        np.testing.assert_array_equal(a[0], b[0])  # the char CNN stays float32
    rel, cos = _errors(exact, low)
    median, worst, min_cos = BOUNDS[precision]
    assert 0 < np.median(rel) <= median and rel.max() <= worst and cos.min() >= min_cos
    shared = ElmoEmbedder(*files, state="zero", precision=precision, lean=False)
    for a, b in zip(low, shared.embed_batch(SENTENCES)):  # lean or not: the same numbers
        np.testing.assert_allclose(a, b, atol=1e-5, rtol=0)


@pytest.mark.parametrize("precision", ["bfloat16", pytest.param("int8", marks=needs_int8)])
def test_lean_holds_no_float32_lstm_weights(precision, tiny_files):
    full = ElmoEmbedder(*tiny_files, state="zero", precision=precision, lean=False).bilm
    lean = ElmoEmbedder(*tiny_files, state="zero", precision=precision).bilm
    names = {n for n, _ in full.named_parameters()}
    kept = {n for n, _ in lean.named_parameters()}
    dropped = names - kept
    assert dropped and all(n.split(".")[1].endswith("_weight") for n in dropped)
    assert all(n.startswith("lstm.") for n in dropped)
    assert all(p.dtype == torch.float32 and p.device.type == "cpu" for p in lean.parameters())
    assert lean.lstm.lean_dtype == {"bfloat16": torch.bfloat16, "int8": torch.int8}[precision]
    size = sum(p.numel() for p in lean.parameters())
    assert size < sum(p.numel() for p in full.parameters())


def test_make_lean_frees_the_parameters(tiny_files):
    bilm = load_bilm(*tiny_files)  # not the shared fixture: this one is changed
    lstm = bilm.lstm
    before = lstm.input_weight[0]
    lstm.make_lean(torch.bfloat16)
    assert before.numel() == 0  # the float32 storage is gone, not just unregistered
    assert not any("input_weight" in n for n, _ in bilm.named_parameters())


@pytest.mark.parametrize("precision", ["bfloat16", pytest.param("int8", marks=needs_int8)])
def test_lean_cannot_save_train_or_change_precision(precision, tiny_files, tmp_path):
    emb = ElmoEmbedder(*tiny_files, state="zero", precision=precision)
    with pytest.raises(ElmoInputError, match=r"\[E120\]"):
        save_weights(emb.bilm, tmp_path / "w.hdf5")
    assert not (tmp_path / "w.hdf5").exists()
    emb.bilm.requires_grad_(True)
    x = torch.zeros(2, 1, 3, emb.config.lstm.projection_dim, requires_grad=True)
    with pytest.raises(ElmoInputError, match=r"\[E120\]"):
        emb.bilm.lstm(x, torch.tensor([3]))
    emb.bilm.requires_grad_(False)
    with pytest.raises(ElmoInputError, match=r"\[E121\]"):
        ElmoEmbedder.from_bilm(emb.bilm, state="zero")  # float32 shares a lean biLM
    other = "int8" if precision == "bfloat16" else "bfloat16"
    with pytest.raises(ElmoInputError, match=r"\[E121\]"):
        ElmoEmbedder.from_bilm(emb.bilm, state="zero", precision=other)
    same = ElmoEmbedder.from_bilm(emb.bilm, state="warm", precision=precision)
    assert same.embed_sentence(["a", "b"]).shape[1] == 2


def test_not_lean_keeps_float32_and_saves(tiny_files, tmp_path):
    emb = ElmoEmbedder(*tiny_files, state="zero", precision="bfloat16", lean=False)
    save_weights(emb.bilm, tmp_path / "w.hdf5")
    again = ElmoEmbedder(tiny_files[0], tmp_path / "w.hdf5", state="zero")
    ref = ElmoEmbedder(*tiny_files, state="zero")
    for a, b in zip(ref.embed_batch(SENTENCES), again.embed_batch(SENTENCES)):
        np.testing.assert_array_equal(a, b)


def test_int8_off_cpu_and_bad_precision_are_coded_errors(tiny_files):
    problem = int8_problem(torch.device("meta"))
    assert problem is not None and "CPU" in problem
    with pytest.raises(ElmoInputError, match=r"\[E114\]"):
        load_lean_bilm(*tiny_files, precision="float32")
    with pytest.raises(ElmoInputError, match=r"\[E114\].*int8"):
        ElmoEmbedder(*tiny_files, precision="int4")
    if not torch.cuda.is_available():
        pytest.skip("no GPU to put the biLM on")
    with pytest.raises(ElmoInputError, match=r"\[E122\]"):
        ElmoEmbedder(*tiny_files, precision="int8", device="cuda")


@needs_int8
def test_int8_warns_without_vnni(tiny_files, monkeypatch):
    import spacy_elmo.embedder as embedder_module

    bilm = ElmoEmbedder(*tiny_files, state="zero", precision="int8").bilm
    monkeypatch.setattr(embedder_module, "cpu_has_vnni", lambda: False)
    with pytest.warns(UserWarning, match=r"\[W005\]"):
        ElmoEmbedder.from_bilm(bilm, state="zero", precision="int8")
