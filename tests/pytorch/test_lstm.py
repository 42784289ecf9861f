"""The in-place inference loop of ElmoLstm against its autograd loop."""

from typing import List, Optional, Tuple

import pytest
import torch

from spacy_elmo.errors import ElmoInputError
from spacy_elmo.pytorch import lstm as lstm_module
from spacy_elmo.pytorch.config import LSTMConfig
from spacy_elmo.pytorch.lstm import ElmoLstm, LSTMState, precision_dtype

P, D = 6, 16


def _lstm(**kwargs) -> ElmoLstm:
    torch.manual_seed(0)
    cfg = dict(dim=D, projection_dim=P, n_layers=2, cell_clip=1.0, proj_clip=1.0)
    cfg.update(kwargs)
    lstm = ElmoLstm(config=LSTMConfig(**cfg))
    with torch.no_grad():
        for b in lstm.bias:  # the initialisation leaves the biases at zero
            b.uniform_(-1.0, 1.0)
    return lstm


def _inputs(lengths: List[int], T: Optional[int] = None, seed: int = 1) -> torch.Tensor:
    """(2, B, T, P) with zeros past each row's length, as ElmoLstm requires."""
    g = torch.Generator().manual_seed(seed)
    T = max(lengths, default=0) if T is None else T
    x = torch.randn(2, len(lengths), T, P, generator=g) * 2
    for b, n in enumerate(lengths):
        x[:, b, n:] = 0
    return x


def _state(B: int, seed: int = 2) -> LSTMState:
    g = torch.Generator().manual_seed(seed)
    return LSTMState(torch.randn(2, 2, B, P, generator=g), torch.randn(2, 2, B, D, generator=g))


def _fast(lstm, x, lengths, state, monkeypatch) -> Tuple[torch.Tensor, LSTMState]:
    """The inference loop; fails if the autograd loop runs."""

    def fail(*args):
        raise AssertionError("the autograd loop ran under no_grad")

    with monkeypatch.context() as m, torch.no_grad():
        m.setattr(lstm, "_layer", fail)
        return lstm(x, torch.tensor(lengths), state)


def _autograd(lstm, x, lengths, state) -> Tuple[torch.Tensor, LSTMState]:
    out, final = lstm(x, torch.tensor(lengths), state)
    if max(lengths, default=0) > 0:  # the parameters require grad: the autograd loop ran
        assert out.requires_grad
    return out.detach(), final.detach()


def _assert_same(a: Tuple[torch.Tensor, LSTMState], b: Tuple[torch.Tensor, LSTMState]) -> None:
    torch.testing.assert_close(a[0], b[0], atol=1e-6, rtol=0)
    torch.testing.assert_close(a[1].h, b[1].h, atol=1e-6, rtol=0)
    torch.testing.assert_close(a[1].c, b[1].c, atol=1e-6, rtol=0)


@pytest.mark.parametrize(
    "lengths",
    [[5, 5, 5], [7, 4, 4, 2, 1], [6, 3, 1, 0], [1], [0, 0], [9, 1, 1, 1, 1, 1, 0, 0]],
    ids=["equal", "ragged", "with-empty", "one-step", "all-empty", "long-tail"],
)
@pytest.mark.parametrize("with_state", [False, True], ids=["zero-state", "state"])
@pytest.mark.parametrize(
    "config",
    [{}, {"cell_clip": None, "proj_clip": None}, {"use_skip_connections": False}],
    ids=["clip", "noclip", "noskip"],
)
def test_inference_matches_autograd(lengths, with_state, config, monkeypatch):
    lstm = _lstm(**config)
    x = _inputs(lengths)
    state = _state(len(lengths)) if with_state else None
    before = None if state is None else (state.h.clone(), state.c.clone())
    fast = _fast(lstm, x, lengths, state, monkeypatch)
    ref = _autograd(lstm, x, lengths, state)
    _assert_same(fast, ref)
    assert fast[0].shape == (2, 2, len(lengths), x.shape[2], P)
    for b, n in enumerate(lengths):
        assert not fast[0][:, :, b, n:].any()  # zeros past each row's length
        if n == 0:  # a row that never runs keeps its initial state
            init = lstm.zero_state(len(lengths)) if state is None else state
            torch.testing.assert_close(fast[1].h[:, :, b], init.h[:, :, b], atol=0, rtol=0)
            torch.testing.assert_close(fast[1].c[:, :, b], init.c[:, :, b], atol=0, rtol=0)
    if state is not None:  # the caller's state is not updated in place
        assert torch.equal(state.h, before[0]) and torch.equal(state.c, before[1])


@pytest.mark.parametrize("block_rows", [1, 2, 3, 5, 7])
def test_input_gemm_in_blocks(block_rows, monkeypatch):
    """Pre-activation blocks smaller than the batch and not aligned to steps (the full-size
    model holds 64 rows per direction)."""
    monkeypatch.setattr(lstm_module, "_XW_BLOCK_ELEMENTS", 2 * 4 * D * block_rows)
    lstm = _lstm()
    lengths = [7, 4, 4, 2, 1, 0]
    x = _inputs(lengths, T=8)
    state = _state(len(lengths))
    _assert_same(_fast(lstm, x, lengths, state, monkeypatch), _autograd(lstm, x, lengths, state))


def test_padding_longer_than_every_row(monkeypatch):
    """T larger than the longest row, and T = 0."""
    lstm = _lstm()
    for lengths, T in (([3, 2], 6), ([2, 0], 0), ([0], 3)):
        lengths = [min(n, T) for n in lengths]
        x = _inputs(lengths, T=T)
        _assert_same(_fast(lstm, x, lengths, None, monkeypatch), _autograd(lstm, x, lengths, None))


def test_states_chain(monkeypatch):
    """Two chunks with the state carried equal one run over the joined rows (stateful mode),
    with each row's state taken after its own last step, on both loops. Both directions run
    their rows as given (the caller reverses the backward rows)."""
    lstm = _lstm()
    first, second = [4, 3, 2, 1], [3, 2, 0, 0]
    joined = [a + b for a, b in zip(first, second)]
    x1, x2 = _inputs(first, seed=3), _inputs(second, seed=4)
    x = torch.zeros(2, 4, max(joined), P)
    for b, (n1, n2) in enumerate(zip(first, second)):
        x[:, b, :n1], x[:, b, n1 : n1 + n2] = x1[:, b, :n1], x2[:, b, :n2]
    state = _state(4)
    whole = _fast(lstm, x, joined, state, monkeypatch)
    _assert_same(whole, _autograd(lstm, x, joined, state))
    out1, st1 = _fast(lstm, x1, first, state, monkeypatch)
    out2, st2 = _fast(lstm, x2, second, st1, monkeypatch)
    ref1 = _autograd(lstm, x1, first, state)
    _assert_same((out1, st1), ref1)
    _assert_same((out2, st2), _autograd(lstm, x2, second, ref1[1]))
    for b, (n1, n2) in enumerate(zip(first, second)):
        torch.testing.assert_close(out1[:, :, b, :n1], whole[0][:, :, b, :n1], atol=1e-6, rtol=0)
        torch.testing.assert_close(
            out2[:, :, b, :n2], whole[0][:, :, b, n1 : n1 + n2], atol=1e-6, rtol=0
        )
    torch.testing.assert_close(st2.h, whole[1].h, atol=1e-6, rtol=0)
    torch.testing.assert_close(st2.c, whole[1].c, atol=1e-6, rtol=0)


def test_path_selection():
    """The inference loop runs whenever no graph is needed: no_grad, inference_mode, frozen
    weights; the autograd loop as soon as anything requires grad."""
    lstm = _lstm()
    lengths = [4, 2]
    x = _inputs(lengths)
    ref = _autograd(lstm, x, lengths, None)
    with torch.inference_mode():
        _assert_same(lstm(x, torch.tensor(lengths)), ref)
    lstm.requires_grad_(False)
    assert not lstm.needs_autograd(x)
    out, _ = lstm(x, torch.tensor(lengths))
    assert not out.requires_grad
    torch.testing.assert_close(out, ref[0], atol=1e-6, rtol=0)
    # Gradients to the inputs or to the state of frozen weights still need the graph.
    x_req = x.clone().requires_grad_(True)
    assert lstm.needs_autograd(x_req)
    out, _ = lstm(x_req, torch.tensor(lengths))
    (g,) = torch.autograd.grad(out.sum(), x_req)
    assert g[:, 0].abs().sum() > 0 and not g[:, 1, 2:].any()
    state = _state(2)
    state = LSTMState(state.h.requires_grad_(True), state.c)
    assert lstm.needs_autograd(x, state)


def test_weights_changed_in_place_are_used(monkeypatch):
    """Nothing derived from the weights is cached between calls."""
    lstm = _lstm()
    lengths = [3, 1]
    x = _inputs(lengths)
    before = _fast(lstm, x, lengths, None, monkeypatch)
    with torch.no_grad():
        lstm.recurrent_weight[1].mul_(0.5)
        lstm.bias[0][1].add_(0.3)
    after = _fast(lstm, x, lengths, None, monkeypatch)
    assert not torch.allclose(before[0], after[0])
    _assert_same(after, _autograd(lstm, x, lengths, None))


def test_full_windows_without_grad():
    """Pretraining's full windows (held-out evaluation runs them under no_grad) take the
    inference loop there and give what the training loop (one input GEMM) gives."""
    lstm = _lstm()
    x, state = _inputs([5, 5, 5]), _state(3)
    lengths = torch.tensor([5, 5, 5])
    with torch.no_grad():
        fast = lstm(x, lengths, state)
    out, final = lstm(x, lengths, state)
    assert out.requires_grad and not fast[0].requires_grad
    _assert_same(fast, (out.detach(), final.detach()))


def _bf16(lstm, x, lengths, state=None) -> Tuple[torch.Tensor, LSTMState]:
    with torch.no_grad():
        return lstm(x, torch.tensor(lengths), state, matmul_dtype=torch.bfloat16)


@pytest.mark.parametrize("lengths", [[7, 5, 5, 1, 0], [3]])
def test_bfloat16_products_close_to_float32(lengths):
    lstm, x, state = _lstm(), _inputs(lengths), _state(len(lengths))
    with torch.no_grad():
        exact = lstm(x, torch.tensor(lengths), state)
    low = _bf16(lstm, x, lengths, state)
    assert low[0].dtype == torch.float32 and low[1].c.dtype == torch.float32
    # bfloat16 has an 8-bit mantissa: close (values are clipped to 1), but not exact
    torch.testing.assert_close(low[0], exact[0], atol=3e-2, rtol=0)
    torch.testing.assert_close(low[1].c, exact[1].c, atol=3e-2, rtol=0)
    assert not torch.equal(low[0], exact[0])
    for b, n in enumerate(lengths):  # padding stays exactly zero
        assert not low[0][:, :, b, n:].any()


def test_bfloat16_weight_copies_follow_the_parameters():
    lstm, x = _lstm(), _inputs([4, 2])
    first = _bf16(lstm, x, [4, 2])[0]
    copies = lstm.matmul_weights(torch.bfloat16)
    assert lstm.matmul_weights(torch.bfloat16) is copies  # made once
    assert copies[0][0].dtype == torch.bfloat16
    with torch.no_grad():
        lstm.recurrent_weight[1].mul_(-1.0)  # in place: the copies must be made again
    changed = _bf16(lstm, x, [4, 2])[0]
    assert lstm.matmul_weights(torch.bfloat16) is not copies
    assert torch.equal(changed[0], first[0]) and not torch.equal(changed[1], first[1])
    with torch.no_grad():
        expected = lstm(x, torch.tensor([4, 2]))[0]
    torch.testing.assert_close(changed, expected, atol=3e-2, rtol=0)


def test_matmul_dtype_only_without_autograd():
    lstm, x = _lstm(), _inputs([3, 2])
    exact = _autograd(lstm, x, [3, 2], None)
    # the parameters require grad: the autograd loop runs in float32 whatever was asked
    out, _ = lstm(x, torch.tensor([3, 2]), matmul_dtype=torch.bfloat16)
    assert torch.equal(out.detach(), exact[0])


def test_unsupported_matmul_dtype():
    lstm = _lstm()
    with pytest.raises(ElmoInputError, match="E114"):
        lstm.matmul_weights(torch.float16)
    with pytest.raises(ElmoInputError, match="E114"):
        precision_dtype("fp16")
    assert precision_dtype("bfloat16") == torch.bfloat16


def test_frozen_lower_layer_runs_the_inference_loop(monkeypatch):
    """Only the top layer trains (``trainable_layers = "top"``): the frozen layer below it
    runs the in-place loop, and outputs and the top layer's gradients are those of the graph
    through both layers."""
    lengths = [6, 4, 4, 1, 0]
    x = _inputs(lengths)
    ref_lstm = _lstm()
    out_ref, _ = ref_lstm(x, torch.tensor(lengths))
    ref_grads = torch.autograd.grad(out_ref.square().sum(), list(_layer_params(ref_lstm, 1)))

    lstm = _lstm()
    for p in _layer_params(lstm, 0):
        p.requires_grad_(False)
    graph_layers: List[int] = []
    original = lstm._layer

    def counted(l, *args):
        graph_layers.append(l)
        return original(l, *args)

    monkeypatch.setattr(lstm, "_layer", counted)
    out, _ = lstm(x, torch.tensor(lengths))
    assert graph_layers == [1]  # layer 0 took the in-place loop
    torch.testing.assert_close(out, out_ref, atol=1e-6, rtol=0)
    grads = torch.autograd.grad(out.square().sum(), list(_layer_params(lstm, 1)))
    for g, g_ref in zip(grads, ref_grads):
        torch.testing.assert_close(g, g_ref, atol=1e-5, rtol=1e-5)


def test_a_frozen_layer_above_a_trained_one_keeps_the_graph(monkeypatch):
    """Layer 0 trains, layer 1 is frozen: layer 1's input requires grad, so it records the
    graph, and layer 0 gets the gradient through it."""
    lstm = _lstm()
    for p in _layer_params(lstm, 1):
        p.requires_grad_(False)
    graph_layers: List[int] = []
    original = lstm._layer
    monkeypatch.setattr(
        lstm, "_layer", lambda l, *args: graph_layers.append(l) or original(l, *args)
    )
    lengths = [3, 2]
    out, _ = lstm(_inputs(lengths), torch.tensor(lengths))
    assert graph_layers == [0, 1]
    (g,) = torch.autograd.grad(out[1].sum(), [lstm.input_weight[0]])
    assert g.abs().sum() > 0


def _layer_params(lstm: ElmoLstm, l: int):
    return (lstm.input_weight[l], lstm.recurrent_weight[l], lstm.proj_weight[l], lstm.bias[l])
