import pytest

from spacy_elmo.errors import ElmoFormatError
from spacy_elmo.pytorch.bilm import ELMoBiLM
from spacy_elmo.pytorch.config import CharCNNConfig, ELMoConfig, LSTMConfig, preset


@pytest.mark.parametrize(
    "name,n_params,dim",
    [("small", 13_593_296, 256), ("medium", 28_027_728, 512), ("original", 93_600_848, 1024)],
)
def test_published_sizes(name, n_params, dim):
    config = preset(name)
    assert config.n_parameters() == n_params
    assert config.output_dim == dim
    if name == "small":  # the module has exactly the file's parameters (+1 zero pad row)
        bilm = ELMoBiLM(config)
        n = sum(p.numel() for p in bilm.parameters())
        assert n == n_params + config.char_cnn.embedding_dim


def test_original_flops_per_token():
    assert round(preset("original").flops_per_token() / 1e6, 1) == 204.3


def test_5_5b_is_original_architecture():
    assert preset("5.5B") == preset("original")


def test_unknown_preset():
    with pytest.raises(ElmoFormatError, match=r"\[E008\].*small, medium, original, 5.5B"):
        preset("large")


@pytest.mark.parametrize(
    "kwargs,key",
    [
        ({"char_cnn": CharCNNConfig(n_characters=261)}, "n_characters"),
        ({"char_cnn": CharCNNConfig(max_characters_per_token=49)}, "max_characters_per_token"),
        ({"char_cnn": CharCNNConfig(activation="gelu")}, "activation"),
        ({"char_cnn": CharCNNConfig(filters=((60, 4),))}, "filters"),
        ({"lstm": LSTMConfig(dim=0)}, "lstm.dim"),
        ({"lstm": LSTMConfig(cell_clip=-1.0)}, "cell_clip"),
    ],
)
def test_impossible_values(kwargs, key):
    with pytest.raises(ElmoFormatError, match=rf"\[E110\].*{key}"):
        ELMoConfig(**kwargs)
