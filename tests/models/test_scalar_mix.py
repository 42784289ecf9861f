import numpy as np
import torch

from spacy_elmo.models import build_scalar_mix_v1


def _layers(rng, lengths, K=3, D=4):
    return [rng.normal(size=(K, n, D)).astype("float32") for n in lengths]


def test_forward_matches_numpy():
    rng = np.random.default_rng(0)
    X = _layers(rng, [3, 0, 5])
    model = build_scalar_mix_v1(n_layers=3, initial_weights=[0.5, -1.0, 2.0], gamma=0.7)
    model.initialize()
    Y = model.predict(X)
    w = np.exp([0.5, -1.0, 2.0])
    w /= w.sum()
    assert [y.shape for y in Y] == [(3, 4), (0, 4), (5, 4)]
    for x, y in zip(X, Y):
        np.testing.assert_allclose(y, 0.7 * np.tensordot(w, x, axes=1), rtol=1e-5, atol=1e-6)
    assert model.predict([]) == []


def test_backward_values():
    rng = np.random.default_rng(1)
    X = _layers(rng, [2, 3])
    model = build_scalar_mix_v1(n_layers=3, gamma=1.5)
    Y, backprop = model.begin_update(X)
    dY = [np.ones_like(y) for y in Y]
    dX = backprop(dY)
    assert dX == []  # nothing flows into the frozen biLM layers
    module = model.layers[0].shims[0]._model
    # d/dgamma = sum(mixed); d/dw_k = gamma * s_k * (S_k - sum_j s_j S_j), S_k = sum(layer k)
    S = np.array([sum(x[k].sum() for x in X) for k in range(3)])
    s = np.full(3, 1 / 3)
    np.testing.assert_allclose(module.gamma.grad.numpy(), [np.dot(s, S)], rtol=1e-4)
    np.testing.assert_allclose(
        module.weights.grad.numpy(), 1.5 * s * (S - np.dot(s, S)), rtol=1e-4, atol=1e-4
    )


def test_frozen_mix_has_no_gradients():
    rng = np.random.default_rng(2)
    model = build_scalar_mix_v1(n_layers=3, trainable=False)
    Y, backprop = model.begin_update(_layers(rng, [2]))
    assert backprop([np.ones_like(Y[0])]) == []
    module = model.layers[0].shims[0]._model
    assert module.weights.grad is None and not module.weights.requires_grad


def test_dropout_only_in_training():
    rng = np.random.default_rng(3)
    X = _layers(rng, [50], D=16)
    model = build_scalar_mix_v1(n_layers=3, dropout=0.5)
    a, b = model.predict(X), model.predict(X)
    np.testing.assert_array_equal(a[0], b[0])
    Y, _ = model.begin_update(X)
    assert (Y[0] == 0).mean() > 0.2
    assert torch.is_grad_enabled()
