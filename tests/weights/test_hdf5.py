"""Reading, writing and validating options.json + weights.hdf5."""

import h5py
import numpy as np
import pytest
import torch

from spacy_elmo.errors import ElmoFormatError
from spacy_elmo.pytorch.bilm import ELMoBiLM
from spacy_elmo.pytorch.char_ids import batch_to_ids
from spacy_elmo.pytorch.config import CharCNNConfig, ELMoConfig, LSTMConfig
from spacy_elmo.weights import (
    expected_shapes,
    load_bilm,
    load_options,
    save_options,
    save_weights,
)

from ..conftest import NOSKIP, SKIP
from .conftest import edit_options

SENTENCES = [["The", "cat", "sat", "."], ["Zürich", "👍🏽", "x" * 60], []]


def _layers(bilm):
    with torch.no_grad():
        return bilm(batch_to_ids(SENTENCES)).layers


@pytest.mark.parametrize("folder", [SKIP, NOSKIP], ids=["skip", "noskip"])
def test_round_trip_of_original_files(tmp_path, folder):
    bilm = load_bilm(folder / "options.json", folder / "lm_weights.hdf5")
    save_options(bilm.config, tmp_path / "options.json")
    save_weights(bilm, tmp_path / "weights.hdf5")
    assert load_options(tmp_path / "options.json") == bilm.config
    with (
        h5py.File(folder / "lm_weights.hdf5", "r") as a,
        h5py.File(tmp_path / "weights.hdf5", "r") as b,
    ):
        for key in expected_shapes(bilm.config):
            np.testing.assert_array_equal(a[key][...], b[key][...])
            assert b[key].dtype == np.float32
    again = load_bilm(tmp_path / "options.json", tmp_path / "weights.hdf5")
    torch.testing.assert_close(_layers(bilm), _layers(again), rtol=0, atol=0)


def test_round_trip_of_new_model(tmp_path):
    config = ELMoConfig(
        char_cnn=CharCNNConfig(
            embedding_dim=8, filters=((1, 8), (3, 16)), n_highway=1, activation="tanh"
        ),
        lstm=LSTMConfig(dim=24, projection_dim=8, n_layers=3, cell_clip=None, proj_clip=2.0),
    )
    torch.manual_seed(0)
    bilm = ELMoBiLM(config).eval()
    save_options(config, tmp_path / "options.json", extra={"n_train_tokens": 10})
    save_weights(bilm, tmp_path / "weights.hdf5")
    again = load_bilm(tmp_path / "options.json", tmp_path / "weights.hdf5")
    assert again.config == config
    torch.testing.assert_close(_layers(bilm), _layers(again), rtol=0, atol=0)
    assert not (tmp_path / "weights.hdf5.tmp").exists()


def test_missing_paths(copied, tmp_path):
    opt, w = copied
    with pytest.raises(ElmoFormatError, match=r"\[E001\].*options file"):
        load_bilm(tmp_path / "nope.json", w)
    with pytest.raises(ElmoFormatError, match=r"\[E001\].*weights file"):
        load_bilm(opt, tmp_path / "nope.hdf5")


def test_not_hdf5(copied):
    opt, _ = copied
    with pytest.raises(ElmoFormatError, match=r"\[E002\].*not an HDF5 file"):
        load_bilm(opt, opt)  # options.json passed as the weights


def test_truncated_file(copied):
    opt, w = copied
    data = w.read_bytes()
    w.write_bytes(data[: len(data) // 2])
    with pytest.raises(ElmoFormatError, match=r"\[E00[29]\]"):
        load_bilm(opt, w)


def test_missing_dataset(copied):
    opt, w = copied
    with h5py.File(w, "a") as f:
        del f["RNN_1/RNN/MultiRNNCell/Cell1/LSTMCell/W_P_0"]
    with pytest.raises(ElmoFormatError, match=r"\[E003\].*Cell1/LSTMCell/W_P_0"):
        load_bilm(opt, w)


def test_shape_mismatch(copied):
    opt, w = copied
    edit_options(opt, lambda o: o["lstm"].update(dim=128))
    with pytest.raises(ElmoFormatError, match=r"\[E004\].*\(32, 256\).*\(32, 512\)"):
        load_bilm(opt, w)


def test_corrupt_values_and_dtype(copied):
    opt, w = copied
    with h5py.File(w, "a") as f:
        data = f["CNN_proj/b_proj"][...]
        data[3] = np.nan
        f["CNN_proj/b_proj"][...] = data
    with pytest.raises(ElmoFormatError, match=r"\[E010\].*CNN_proj/b_proj.*1 non-finite"):
        load_bilm(opt, w)
    with h5py.File(w, "a") as f:
        del f["CNN_proj/b_proj"]
        f.create_dataset("CNN_proj/b_proj", data=np.zeros(16, dtype=np.int32))
    with pytest.raises(ElmoFormatError, match=r"\[E011\]"):
        load_bilm(opt, w)


@pytest.mark.parametrize(
    "edit,pattern",
    [
        (lambda o: o.pop("lstm"), r"\[E006\].*'lstm'"),
        (lambda o: o["char_cnn"].pop("filters"), r"\[E006\].*char_cnn.filters"),
        (lambda o: o["lstm"].pop("projection_dim"), r"\[E006\].*lstm.projection_dim"),
        (lambda o: o["char_cnn"].update(n_characters=261), r"\[E110\].*n_characters.*261.*262"),
        (
            lambda o: o["char_cnn"].update(max_characters_per_token=64),
            r"\[E110\].*max_characters_per_token",
        ),
        (lambda o: o["lstm"].update(dim="4096"), r"\[E110\].*lstm.dim"),
        (lambda o: o["char_cnn"].update(filters=[[1, 4], [2]]), r"\[E110\].*filters"),
    ],
)
def test_bad_options(copied, edit, pattern):
    opt, w = copied
    edit_options(opt, edit)
    with pytest.raises(ElmoFormatError, match=pattern):
        load_bilm(opt, w)


def test_options_not_json(copied):
    opt, w = copied
    opt.write_text("{ not json")
    with pytest.raises(ElmoFormatError, match=r"\[E005\]"):
        load_bilm(opt, w)
    with pytest.raises(ElmoFormatError, match=r"\[E005\]"):
        load_bilm(w, w)  # weights passed as options


def test_training_keys_are_ignored_and_unknown_keys_warned(copied):
    opt, w = copied
    edit_options(opt, lambda o: o.update(n_epochs=10, unroll_steps=20))
    load_bilm(opt, w)
    edit_options(opt, lambda o: o["lstm"].update(dimm=3))
    with pytest.warns(UserWarning, match=r"\[W001\].*lstm.dimm"):
        load_bilm(opt, w)


def test_null_clip_means_no_clipping(copied):
    opt, _ = copied
    edit_options(opt, lambda o: o["lstm"].update(cell_clip=0, proj_clip=None))
    config = load_options(opt)
    assert config.lstm.cell_clip is None and config.lstm.proj_clip is None
