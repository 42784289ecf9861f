import json
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"
SKIP = FIXTURES / "bilm-tf"
NOSKIP = FIXTURES / "bilm-tf-noskip"


@pytest.fixture(scope="session")
def tiny_files():
    """(options.json, weights.hdf5) of the tiny bilm-tf test model (skip connections)."""
    return SKIP / "options.json", SKIP / "lm_weights.hdf5"


@pytest.fixture(scope="session")
def tiny_bilm(tiny_files):
    from spacy_elmo.weights import load_bilm

    return load_bilm(*tiny_files)


@pytest.fixture(scope="session")
def reference_sentences():
    import h5py

    with h5py.File(SKIP / "allennlp_reference_layers.hdf5", "r") as f:
        return json.loads(f.attrs["sentences"])
