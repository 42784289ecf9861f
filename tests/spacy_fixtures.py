"""Fixtures shared by the spaCy-side test packages (imported by their conftest.py)."""

import dataclasses
from pathlib import Path

import pytest
import spacy
import torch

import spacy_elmo
from spacy_elmo.settings import BiLMSettings

TINY = Path(spacy_elmo.__file__).parent / "assets" / "tiny"
DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="session")
def tiny_paths():
    """(options.json, weights.hdf5) of the tiny test biLM (2P = 32, 3 output layers)."""
    return str(TINY / "options.json"), str(TINY / "weights.hdf5")


@pytest.fixture(scope="package", autouse=True)
def one_torch_thread():
    """One torch thread for these tests: on a small shared machine, torch's OpenMP threads
    waiting on each other make the per-timestep LSTM ops up to ~100x slower."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="package", autouse=True)
def keep_tiny_loaded(one_torch_thread, tiny_paths):
    """Keep one warm tiny biLM alive: every pipeline of the session then shares it instead of
    loading and warming up its own (loaded biLMs are shared while one user holds them)."""
    nlp = spacy.blank("en")
    files = {"options_file": tiny_paths[0], "weight_file": tiny_paths[1]}
    nlp.add_pipe("elmo", config={"model": files})
    nlp("warm up")
    yield nlp


@pytest.fixture
def make_nlp(tiny_paths):
    """A blank English pipeline with an ``elmo`` component on the tiny biLM; settings of the
    biLM go to the model section, the others to the component's."""

    def make(**settings):
        nlp = spacy.blank("en")
        model = {"options_file": tiny_paths[0], "weight_file": tiny_paths[1]}
        bilm = {f.name for f in dataclasses.fields(BiLMSettings)}
        model.update({k: v for k, v in settings.items() if k in bilm})
        config = {k: v for k, v in settings.items() if k not in bilm}
        nlp.add_pipe("elmo", config={"model": model, **config})
        return nlp

    return make
