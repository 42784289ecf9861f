"""``ElmoEmbedder.carried_state``: the public way to save and restore ``state="stateful"``.

Corpus embedding (``spacy_elmo.corpus``) saves it with each chunk and sets it back on
resume; it must behave like the embedder's own carried state.
"""

import numpy as np
import pytest
import torch

from spacy_elmo import ElmoEmbedder
from spacy_elmo.errors import ElmoInputError
from spacy_elmo.pytorch.lstm import LSTMState

BATCHES = [
    [["The", "bank", "closed", "."], ["She", "sat", "by", "the", "river"]],
    [["Rates", "went", "up", "."], ["Fish", "swam", "."]],
]


def test_saved_state_restores_the_stream(tiny_files):
    embedder = ElmoEmbedder(*tiny_files, state="stateful")
    assert embedder.carried_state is None  # nothing carried before the first batch
    embedder.embed_batch(BATCHES[0])
    saved = embedder.carried_state
    assert saved is not None and saved.h.shape[2] == 2  # one slot per batch row
    expected = embedder.embed_batch(BATCHES[1])
    # A fresh embedder given the saved state continues exactly where the first one was.
    other = ElmoEmbedder(*tiny_files, state="stateful")
    other.carried_state = saved
    for got, want in zip(other.embed_batch(BATCHES[1]), expected):
        np.testing.assert_array_equal(got, want)
    # Without it, the same batch gives other vectors (the state matters).
    fresh = ElmoEmbedder(*tiny_files, state="stateful").embed_batch(BATCHES[1])
    assert np.abs(fresh[0] - expected[0]).max() > 1e-4


def test_getter_returns_a_copy(tiny_files):
    embedder = ElmoEmbedder(*tiny_files, state="stateful")
    embedder.embed_batch(BATCHES[0])
    saved = embedder.carried_state
    assert saved is not None
    before = saved.h.clone()
    embedder.embed_batch(BATCHES[1])  # updates the carried state in place
    assert torch.equal(saved.h, before)
    assert not torch.equal(embedder.carried_state.h, before)


def test_setting_none_forgets(tiny_files):
    embedder = ElmoEmbedder(*tiny_files, state="stateful")
    first = embedder.embed_batch(BATCHES[0])
    embedder.carried_state = None
    for got, want in zip(embedder.embed_batch(BATCHES[0]), first):
        np.testing.assert_array_equal(got, want)


def test_wrong_shape_is_a_coded_error(tiny_files):
    embedder = ElmoEmbedder(*tiny_files, state="stateful")
    embedder.embed_batch(BATCHES[0])
    saved = embedder.carried_state
    assert saved is not None
    with pytest.raises(ElmoInputError, match=r"\[E110\].*carried_state.*for this biLM"):
        embedder.carried_state = LSTMState(saved.h[..., :-1], saved.c)
    with pytest.raises(ElmoInputError, match=r"\[E110\]"):
        embedder.carried_state = LSTMState(saved.h[0], saved.c[0])
