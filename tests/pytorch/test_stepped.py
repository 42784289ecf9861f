"""The reduced-precision inference step (:class:`SteppedProducts`): packed gates reordered to
i, f, o, j, the state kept in the GEMM's dtype, the final state gathered from the outputs."""

import pytest
import torch

import spacy_elmo.pytorch.quantize as quantize_module
from spacy_elmo.pytorch.config import LSTMConfig
from spacy_elmo.pytorch.lstm import ElmoLstm, LSTMState
from spacy_elmo.pytorch.products import (
    PackedBf16Products,
    ifoj,
    linear_bf16,
    onednn_bf16_available,
)
from spacy_elmo.pytorch.quantize import Int8Products, int8_problem

D, P = 64, 24
CPU = torch.device("cpu")
needs_int8 = pytest.mark.skipif(int8_problem(CPU) is not None, reason="no fbgemm")
needs_onednn = pytest.mark.skipif(not onednn_bf16_available(CPU), reason="no oneDNN bfloat16")
PRECISIONS = [
    pytest.param(torch.bfloat16, marks=needs_onednn),
    pytest.param(torch.int8, marks=needs_int8),
]
# Median relative error per output position against float32, per precision.
BOUND = {torch.bfloat16: 1e-2, torch.int8: 4e-2}


def _lstm() -> ElmoLstm:
    torch.manual_seed(0)
    config = LSTMConfig(dim=D, projection_dim=P, n_layers=2, cell_clip=3.0, proj_clip=3.0)
    lstm = ElmoLstm(config=config).requires_grad_(False)
    with torch.no_grad():
        for b in lstm.bias:
            b.uniform_(-1.0, 1.0)
    return lstm


def _batch(lengths, seed=1):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(2, len(lengths), max(lengths), P, generator=g)
    for b, n in enumerate(lengths):
        x[:, b, n:] = 0
    state = LSTMState(torch.randn(2, 2, len(lengths), P, generator=g) / 4, torch.zeros(0))
    c = torch.randn(2, 2, len(lengths), D, generator=g) / 4
    return x, torch.tensor(lengths), LSTMState(state.h, c)


def _rel(a, b, lengths):
    mask = torch.arange(a.shape[3])[None, :] < torch.tensor(lengths)[:, None]  # (B, T)
    err = (a - b).norm(dim=-1) / b.norm(dim=-1)  # (L, 2, B, T)
    return err.permute(0, 2, 3, 1)[:, mask]


@pytest.mark.parametrize("dtype", PRECISIONS)
def test_stepped_products_are_close_to_float32_with_warm_state(dtype):
    lstm = _lstm()
    lengths = [9, 7, 7, 3, 1, 0]  # finished rows mid-batch, and one row with no step
    x, n, state = _batch(lengths)
    before = (state.h.clone(), state.c.clone())
    exact, final = lstm(x, n, state)
    assert all(p.stepped for p in lstm.products(dtype))
    low, low_final = lstm(x, n, state, matmul_dtype=dtype)
    assert torch.equal(state.h, before[0]) and torch.equal(state.c, before[1])  # not modified
    assert low.dtype == torch.float32
    rel = _rel(low, exact, lengths)
    assert 0 < rel.median() <= BOUND[dtype] and rel.max() <= 10 * BOUND[dtype]
    # Padding stays zero; the row with no step keeps its initial state exactly.
    assert not low[:, :, 5].any() and not low[:, :, 3, 3:].any()
    assert torch.equal(low_final.h[:, :, 5], state.h[:, :, 5])
    assert torch.equal(low_final.c[:, :, 5], state.c[:, :, 5])
    # Every other row's final h is its last output (before the residual of later layers).
    torch.testing.assert_close(low_final.h, final.h, rtol=0, atol=20 * BOUND[dtype])
    torch.testing.assert_close(low_final.c, final.c, rtol=0, atol=50 * BOUND[dtype])
    assert torch.equal(low_final.h[0, :, 3], low[0, :, 3, 2])  # layer 0 has no residual


@needs_onednn
def test_packed_bf16_weights_hold_gates_in_ifoj_order():
    g = torch.Generator().manual_seed(3)
    W_x, W_h = torch.randn(P, 4 * D, generator=g), torch.randn(P, 4 * D, generator=g)
    W_p, bias = torch.randn(D, P, generator=g), torch.randn(4 * D, generator=g)
    products = PackedBf16Products([PackedBf16Products.pack(W_x, W_h, W_p, bias)] * 2)
    eye = torch.eye(P, dtype=torch.bfloat16)
    assert torch.equal(linear_bf16(eye, products.W_h[0]), ifoj(W_h).to(torch.bfloat16))
    assert torch.equal(linear_bf16(eye, products.W_x[0]), ifoj(W_x).to(torch.bfloat16))
    assert torch.equal(products.bias[0], ifoj(bias))
    assert not torch.equal(ifoj(W_h), W_h)  # the check above could fail


@needs_int8
def test_int8_weights_hold_gates_in_ifoj_order():
    g = torch.Generator().manual_seed(4)
    W_x, W_h = torch.randn(P, 4 * D, generator=g), torch.randn(P, 4 * D, generator=g)
    W_p, bias = torch.randn(D, P, generator=g), torch.randn(4 * D, generator=g)
    products = Int8Products([Int8Products.pack(W_x, W_h, W_p, bias)] * 2)
    w, b = torch.ops.quantized.linear_unpack(products.W_x[0])
    torch.testing.assert_close(w.dequantize().t(), ifoj(W_x), rtol=0, atol=0.05)
    assert torch.equal(b, ifoj(bias))
    w_h = torch.ops.quantized.linear_unpack(products.W_h[0])[0].dequantize().t()
    torch.testing.assert_close(w_h, ifoj(W_h), rtol=0, atol=0.05)
    assert (w_h - W_h).abs().max() > 1  # unpermuted it would not be close


@needs_int8
def test_int8_without_onednn_projects_in_int8_from_float32(monkeypatch):
    # A CPU without oneDNN bfloat16: the projection is int8 too and reads m in float32.
    monkeypatch.setattr(quantize_module, "onednn_bf16_available", lambda device: False)
    lstm = _lstm()
    lengths = [6, 4, 1]
    x, n, state = _batch(lengths, seed=5)
    exact, _ = lstm(x, n, state)
    products = lstm.products(torch.int8)
    assert products[0].m_dtype == torch.float32
    assert not isinstance(products[0].W_p[0], torch.Tensor)  # fbgemm-packed
    low, _ = lstm(x, n, state, matmul_dtype=torch.int8)
    rel = _rel(low, exact, lengths)
    assert 0 < rel.median() <= 2 * BOUND[torch.int8]


def test_float32_products_keep_the_exact_loop():
    lstm = _lstm()
    assert not any(getattr(p, "stepped", False) for p in lstm.products(torch.float32))
    lengths = [5, 2]
    x, n, state = _batch(lengths, seed=6)
    with torch.no_grad():
        fast, fast_final = lstm(x, n, state)
    with torch.enable_grad():
        x.requires_grad_(True)
        graph, graph_final = lstm(x, n, state)
    assert torch.equal(fast, graph.detach()) and torch.equal(fast_final.h, graph_final.h.detach())
