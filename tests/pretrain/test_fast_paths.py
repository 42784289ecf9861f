"""The training paths through the char CNN and the LSTMs compute the same function (values
and gradients) as the inference modules whose parameters they use."""

import pytest
import torch

from spacy_elmo.pretrain.char_features import char_features
from spacy_elmo.pretrain.lstm_window import lstm_window
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


def test_lstm_window_matches_lstm(bilm):
    torch.manual_seed(1)
    B, U, P, D = 3, 7, 6, 16
    x = torch.randn(2, B, U, P) * 2
    state = LSTMState(torch.randn(2, 2, B, P), torch.randn(2, 2, B, D))
    out_ref, st_ref = bilm.lstm(x, torch.full((B,), U), state)
    out_fast, st_fast = lstm_window(bilm.lstm, x, state)
    assert out_fast.shape == (2, 2, B, U, P)
    assert torch.allclose(out_ref, out_fast, atol=1e-6, rtol=0)
    assert torch.allclose(st_ref.h, st_fast.h, atol=1e-6) and torch.allclose(
        st_ref.c, st_fast.c, atol=1e-6
    )
    params = list(bilm.lstm.parameters())
    g_ref = torch.autograd.grad(out_ref.sum() + st_ref.c.sum(), params)
    g_fast = torch.autograd.grad(out_fast.sum() + st_fast.c.sum(), params)
    for a, b in zip(g_ref, g_fast):
        assert torch.allclose(a, b, atol=1e-5, rtol=1e-5)
