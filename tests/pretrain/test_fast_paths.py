"""The training paths through the char CNN and the LSTMs compute the same function (values
and gradients) as the inference modules whose parameters they use."""

import pytest
import torch

from spacy_elmo.pretrain.char_features import char_features
from spacy_elmo.pytorch.bilm import ELMoBiLM
from spacy_elmo.pytorch.char_ids import tokens_to_ids
from spacy_elmo.pytorch.config import CharCNNConfig, ELMoConfig, LSTMConfig
from spacy_elmo.pytorch.lstm import LSTMState


@pytest.fixture
def bilm():
    torch.manual_seed(0)
    return ELMoBiLM(
        ELMoConfig(
            char_cnn=CharCNNConfig(embedding_dim=4, filters=((1, 4), (2, 8), (7, 6)), n_highway=1),
            lstm=LSTMConfig(dim=16, projection_dim=6, n_layers=2, cell_clip=1.0, proj_clip=1.0),
        )
    )


@pytest.mark.parametrize(
    "tokens",
    [["a", "hello", "<S>", "</S>", "wörld"], ["x" * 49, "y" * 60, "z"], ["a"], ["<S>", "</S>"]],
)
def test_char_features_match_char_cnn(bilm, tokens):
    ids = tokens_to_ids(tokens)
    ref = bilm.char_cnn(ids)
    fast = char_features(bilm.char_cnn, ids)
    assert torch.allclose(ref, fast, atol=1e-6, rtol=0)
    g_ref = torch.autograd.grad(
        ref.square().sum(), list(bilm.char_cnn.parameters()), allow_unused=True
    )
    g_fast = torch.autograd.grad(
        fast.square().sum(), list(bilm.char_cnn.parameters()), allow_unused=True
    )
    for a, b in zip(g_ref, g_fast):
        assert (a is None) == (b is None)
        if a is not None:
            assert torch.allclose(a, b, atol=1e-5, rtol=1e-5)


def test_full_windows_match_ragged_batches_and_inference(bilm):
    """Pretraining's full windows (one input GEMM) give the values and gradients of the
    blocked path that ragged batches take, and of the no-grad inference loop."""
    torch.manual_seed(1)
    B, U, P, D = 3, 7, 6, 16
    x = torch.randn(2, B, U, P) * 2
    state = LSTMState(torch.randn(2, 2, B, P), torch.randn(2, 2, B, D))
    out, st = bilm.lstm(x, torch.full((B,), U), state)
    assert out.shape == (2, 2, B, U, P)
    # The same rows plus one shorter row: the batch is ragged, every step takes the other path.
    x4 = torch.cat([x, torch.randn(2, 1, U, P)], dim=1)
    st4 = LSTMState(*(torch.cat([t, torch.randn(2, 2, 1, t.shape[-1])], dim=2) for t in state))
    out4, st4 = bilm.lstm(x4, torch.tensor([U, U, U, U - 2]), st4)
    assert torch.allclose(out, out4[:, :, :B], atol=1e-6, rtol=0)
    assert torch.allclose(st.c, st4.c[:, :, :B], atol=1e-6, rtol=0)
    with torch.no_grad():
        out_inf, st_inf = bilm.lstm(x, torch.full((B,), U), state)
    assert torch.allclose(out, out_inf, atol=1e-6, rtol=0)
    assert torch.allclose(st.h, st_inf.h, atol=1e-6, rtol=0)
    params = list(bilm.lstm.parameters())
    g = torch.autograd.grad(out.sum() + st.c.sum(), params)
    g4 = torch.autograd.grad(out4[:, :, :B].sum() + st4.c[:, :, :B].sum(), params)
    for a, b in zip(g, g4):
        assert torch.allclose(a, b, atol=1e-5, rtol=1e-5)
