"""Reduced precisions (bfloat16, int8) against float32, and lean biLMs (weights held once)."""

import platform
import subprocess
import sys
import textwrap

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
# Median / max relative error per token of layer 0 (the char CNN) when its highway layers are
# lean. Measured on the embedded default model, the bench's first 128 sentences: bfloat16
# 1.3e-3 / 4.6e-3, int8 5.0e-3 / 1.4e-2.
LAYER0_BOUNDS = {"bfloat16": (4e-3, 2e-2), "int8": (1.5e-2, 5e-2)}
needs_int8 = pytest.mark.skipif(
    int8_problem(torch.device("cpu")) is not None, reason="no fbgemm in this torch build"
)


def _errors(exact, low, first=1):
    """Relative error per token and cosine of every layer from ``first`` (1: the LSTM
    layers), all sentences."""
    A = np.concatenate(exact, axis=1)[first:]  # (L, tokens, 2P)
    B = np.concatenate(low, axis=1)[first:]
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
    shared = ElmoEmbedder(*files, state="zero", precision=precision, lean=False)
    low_shared = shared.embed_batch(SENTENCES)
    for a, b in zip(exact, low_shared):
        assert b.dtype == np.float32 and b.shape == a.shape
        np.testing.assert_array_equal(a[0], b[0])  # not lean: the char CNN stays float32
    rel, cos = _errors(exact, low_shared)
    median, worst, min_cos = BOUNDS[precision]
    assert 0 < np.median(rel) <= median and rel.max() <= worst and cos.min() >= min_cos
    # Lean: the highway layers in that precision too; layer 0 is then close, not equal.
    low = ElmoEmbedder(*files, state="zero", precision=precision).embed_batch(SENTENCES)
    rel0, _ = _errors([a[:1] for a in exact], [b[:1] for b in low], first=0)
    assert 0 < np.median(rel0) <= LAYER0_BOUNDS[precision][0]
    assert rel0.max() <= LAYER0_BOUNDS[precision][1]
    rel, cos = _errors(exact, low)
    assert 0 < np.median(rel) <= median and rel.max() <= worst and cos.min() >= min_cos


@pytest.mark.parametrize("precision", ["bfloat16", pytest.param("int8", marks=needs_int8)])
def test_lean_holds_no_float32_lstm_weights(precision, tiny_files):
    full = ElmoEmbedder(*tiny_files, state="zero", precision=precision, lean=False).bilm
    lean = ElmoEmbedder(*tiny_files, state="zero", precision=precision).bilm
    names = {n for n, _ in full.named_parameters()}
    kept = {n for n, _ in lean.named_parameters()}
    dropped = names - kept
    lstm = {n for n in dropped if n.split(".")[1].endswith("_weight") and n.startswith("lstm.")}
    highway = {n for n in dropped if n.startswith("char_cnn.highway.weight.")}
    assert lstm and highway and dropped == lstm | highway
    assert lean.char_cnn.highway.lean_dtype == lean.lstm.lean_dtype
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
    with pytest.raises(ElmoInputError, match=r"\[E12[03]\]"):
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


def _matrices(bilm):
    """Every weight matrix the products of a lean biLM use (LSTM and highway), as tensors:
    int8 ones unpacked from fbgemm (a copy, for its dtype and size only)."""
    found = []
    for products in bilm.lstm.products(bilm.lstm.lean_dtype):
        found += [*products.W_x, *products.W_h, *products.W_p]
    found += [linear.weight for linear in bilm.char_cnn.highway.lean]
    return [
        m if isinstance(m, torch.Tensor) else torch.ops.quantized.linear_unpack(m)[0] for m in found
    ]


@pytest.mark.parametrize("precision", ["bfloat16", pytest.param("int8", marks=needs_int8)])
def test_lean_holds_each_matrix_once_in_its_precision(precision, tiny_files):
    full = load_bilm(*tiny_files)
    lean = ElmoEmbedder(*tiny_files, state="zero", precision=precision).bilm
    matrices = _matrices(lean)
    # 4 per LSTM layer (3 products x 2 directions, W_p of int8 in bfloat16) + 1 per highway
    L, n_highway = full.config.lstm.n_layers, full.config.char_cnn.n_highway
    assert len(matrices) == 6 * L + n_highway
    allowed = {"bfloat16": {torch.bfloat16}, "int8": {torch.qint8, torch.bfloat16}}[precision]
    assert {m.dtype for m in matrices} <= allowed
    # No float32 matrix of the LSTM or highway is left among the parameters either.
    weights = {"input_weight", "recurrent_weight", "proj_weight"}
    names = [n for n, _ in lean.named_parameters()]
    assert not any(n.startswith("lstm.") and n.split(".")[1] in weights for n in names)
    assert not any(n.startswith("char_cnn.highway.weight") for n in names)
    held = sum(m.numel() for m in matrices)
    lstm = full.lstm
    expected = sum(
        w.numel() for ws in (lstm.input_weight, lstm.recurrent_weight, lstm.proj_weight) for w in ws
    ) + sum(w.numel() for w in full.char_cnn.highway.weight)
    assert held == expected  # each matrix exactly once


@pytest.mark.parametrize("precision", ["bfloat16", pytest.param("int8", marks=needs_int8)])
def test_lean_highway_refuses_float32_uses(precision, tiny_files):
    highway = ElmoEmbedder(*tiny_files, state="zero", precision=precision).bilm.char_cnn.highway
    with pytest.raises(ElmoInputError, match=r"\[E123\]"):
        highway.weight
    x = torch.zeros(3, highway.width, requires_grad=True)
    with pytest.raises(ElmoInputError, match=r"\[E123\]"):
        highway(x)
    with torch.no_grad():
        assert highway(x).shape == (3, highway.width)
    other = torch.int8 if precision == "bfloat16" else torch.bfloat16
    with pytest.raises(ElmoInputError, match=r"\[E121\]"):
        highway.make_lean(other)


@pytest.mark.parametrize("precision", ["bfloat16", pytest.param("int8", marks=needs_int8)])
def test_reduced_linear_is_close_and_float32(precision):
    from spacy_elmo.pytorch.packing import ReducedLinear

    generator = torch.Generator().manual_seed(0)
    weight = torch.randn(256, 512, generator=generator) / 16
    bias = torch.randn(512, generator=generator)
    x = torch.randn(40, 256, generator=generator)
    exact = torch.addmm(bias, x, weight)
    got = ReducedLinear(weight, bias, {"bfloat16": torch.bfloat16, "int8": torch.int8}[precision])(
        x
    )
    assert got.dtype == torch.float32 and got.shape == exact.shape
    rel = ((got - exact).norm(dim=1) / exact.norm(dim=1)).max().item()
    assert 0 < rel <= {"bfloat16": 5e-3, "int8": 3e-2}[precision]


def test_char_cnn_in_blocks_matches_one_block(tiny_bilm, monkeypatch):
    import spacy_elmo.pytorch.char_cnn as char_cnn_module
    from spacy_elmo.pytorch.char_ids import batch_to_ids

    words = [["w" + "abcdefghij"[: 1 + i % 10] + str(i) for i in range(300)]]
    ids = batch_to_ids(words)[0]  # (300, 50)
    with torch.no_grad():
        whole = tiny_bilm.char_cnn(ids)
        monkeypatch.setattr(char_cnn_module, "_CONV_BLOCK_ELEMENTS", 1)  # one word per block
        blocks = tiny_bilm.char_cnn(ids)
    torch.testing.assert_close(blocks, whole, rtol=1e-6, atol=1e-6)


@pytest.mark.skipif(
    not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc",
    reason="malloc_trim is glibc's",
)
def test_release_freed_memory_returns_kept_blocks_to_the_system():
    # glibc keeps freed 16 kB blocks in its heap (below its mmap threshold, whatever
    # torch or numpy set it to); the small blocks between them stop the heap from shrinking
    # at its top, so only malloc_trim hands them back.
    script = textwrap.dedent("""
        import ctypes
        from spacy_elmo.weights.lean import release_freed_memory
        libc = ctypes.CDLL(None)
        libc.malloc.restype = ctypes.c_void_p
        libc.malloc.argtypes = [ctypes.c_size_t]
        libc.free.argtypes = [ctypes.c_void_p]
        libc.memset.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_size_t]
        def rss():
            with open("/proc/self/statm") as f:
                return int(f.read().split()[1]) * 4096 / 2**20
        big, small = [], []
        for _ in range(9600):  # 150 MB
            big.append(libc.malloc(16 << 10))
            libc.memset(big[-1], 1, 16 << 10)
            small.append(libc.malloc(64))
        for p in big:
            libc.free(p)
        before = rss()
        release_freed_memory()
        print(before - rss())
        """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert float(out.stdout.strip()) > 100  # MB handed back of the 150 MB freed


@pytest.mark.parametrize("precision", ["bfloat16", pytest.param("int8", marks=needs_int8)])
def test_lean_loading_never_builds_on_meta(precision, tiny_files):
    # Arithmetic on the meta device imports torch's meta kernels (dynamo, sympy): 74 MB of
    # RSS for good, more than the highway layers save. A fresh process sees whether it ran.
    script = textwrap.dedent(f"""
        import sys
        from spacy_elmo.weights.lean import load_lean_bilm
        bilm = load_lean_bilm({str(tiny_files[0])!r}, {str(tiny_files[1])!r}, precision={precision!r})
        assert bilm.lstm.lean_dtype is not None
        print("sympy" in sys.modules or "torch._dynamo" in sys.modules)
        """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_without_lstm_weights_allocates_no_matrix(tiny_files):
    from spacy_elmo.pytorch.bilm import ELMoBiLM
    from spacy_elmo.weights import load_options

    bilm = ELMoBiLM.without_lstm_weights(load_options(tiny_files[0]), device=torch.device("cpu"))
    lstm = bilm.lstm
    for name in ("input_weight", "recurrent_weight", "proj_weight"):
        assert all(w.numel() == 0 and w.device.type == "cpu" for w in getattr(lstm, name))
    assert all(b.shape == (2, 4 * lstm.config.dim) for b in lstm.bias)


@pytest.mark.parametrize("precision", ["bfloat16", pytest.param("int8", marks=needs_int8)])
def test_bilm_make_lean_matches_the_lean_loader(precision, tiny_files):
    dtype = {"bfloat16": torch.bfloat16, "int8": torch.int8}[precision]
    bilm = load_bilm(*tiny_files)  # not the shared fixture: this one is changed
    highway = bilm.char_cnn.highway.weight[0]
    bilm.make_lean(dtype)
    assert highway.numel() == 0  # the float32 storage is gone, not just unregistered
    assert bilm.lstm.lean_dtype == bilm.char_cnn.highway.lean_dtype == dtype
    made = ElmoEmbedder.from_bilm(bilm, state="zero", precision=precision)
    loaded = ElmoEmbedder(*tiny_files, state="zero", precision=precision)
    for a, b in zip(made.embed_batch(SENTENCES), loaded.embed_batch(SENTENCES)):
        np.testing.assert_allclose(a, b, atol=1e-5, rtol=0)
