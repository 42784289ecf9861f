import h5py
import numpy as np
import pytest
import torch

from spacy_elmo.errors import ElmoInputError
from spacy_elmo.pytorch.char_ids import batch_to_ids
from spacy_elmo.pytorch.scalar_mix import ScalarMix

from ..conftest import SKIP


@pytest.mark.parametrize("layer_norm,key", [(False, "mix"), (True, "mix_layer_norm")])
def test_matches_allennlp(tiny_bilm, reference_sentences, layer_norm, key):
    """AllenNLP mixes before removing the boundaries, so layer-norm stats include them."""
    mix = ScalarMix(
        n_layers=3, trainable=False, initial_weights=[0.5, -1.0, 2.0], layer_norm=layer_norm
    )
    with h5py.File(SKIP / "allennlp_reference_layers.hdf5", "r") as f:
        for i, sentence in enumerate(reference_sentences):
            with torch.no_grad():
                out = tiny_bilm(batch_to_ids([sentence]), keep_boundaries=True)
                got = mix(out.layers, out.mask)[0, 1 : len(sentence) + 1].numpy()
            np.testing.assert_allclose(got, f[f"{key}/{i}"][...], atol=1e-6, rtol=1e-5)


def test_top_layer_selection_and_gamma():
    layers = torch.randn(3, 2, 4, 8)
    mix = ScalarMix(n_layers=3, trainable=False, initial_weights=[-9e10, -9e10, 1.0], gamma=2.0)
    torch.testing.assert_close(mix(layers), 2.0 * layers[2])
    assert not mix.weights.requires_grad and not mix.gamma.requires_grad


def test_trainable_gets_gradients():
    mix = ScalarMix(n_layers=3)
    torch.testing.assert_close(mix.normalized_weights(), torch.full((3,), 1 / 3))
    layers = torch.randn(3, 2, 4, 8)
    (mix(layers) * torch.arange(8.0)).sum().backward()
    assert mix.weights.grad.abs().sum() > 0 and mix.gamma.grad.abs().sum() > 0


def test_layer_dropout_only_in_training():
    mix = ScalarMix(n_layers=3, layer_dropout=0.5)
    torch.manual_seed(0)
    seen = {tuple((mix.normalized_weights() > 0).tolist()) for _ in range(50)}
    assert len(seen) > 1 and all(any(s) for s in seen)
    mix.eval()
    torch.testing.assert_close(mix.normalized_weights(), torch.full((3,), 1 / 3))


def test_wrong_number_of_layers():
    with pytest.raises(ElmoInputError, match=r"\[E108\]"):
        ScalarMix(n_layers=3, initial_weights=[1.0, 2.0])
    with pytest.raises(ElmoInputError, match=r"\[E108\]"):
        ScalarMix(n_layers=3)(torch.zeros(2, 1, 1, 4))
