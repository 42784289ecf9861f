"""The biLM against the original TensorFlow (bilm-tf) and AllenNLP outputs."""

import json

import h5py
import numpy as np
import pytest
import torch

from spacy_elmo.errors import ElmoInputError
from spacy_elmo.pytorch.char_ids import batch_to_ids
from spacy_elmo.weights import load_bilm

from ..conftest import NOSKIP, SKIP


def _run(bilm, sentences, state=None, **kwargs):
    with torch.no_grad():
        return bilm(batch_to_ids(sentences), state, **kwargs)


@pytest.mark.parametrize("folder", [SKIP, NOSKIP], ids=["skip", "noskip"])
def test_stateful_matches_tensorflow(folder):
    """10 batches of 3 with states carried by batch row, as the TF fixtures were made."""
    bilm = load_bilm(folder / "options.json", folder / "lm_weights.hdf5")
    lists = json.load(open(folder / "sentences.json"))
    expected = [h5py.File(folder / f"lm_embeddings_{k}.hdf5", "r") for k in range(3)]
    state = None
    for i in range(10):
        batch = [lists[k][i].split() for k in range(3)]
        out = _run(bilm, batch, state)
        state = out.final_state
        for k in range(3):
            ref = expected[k][str(i)][...]
            ref = np.concatenate([ref[0], ref[1]], axis=-1)
            got = out.layers[-1, k, : len(batch[k])].numpy()
            np.testing.assert_allclose(got, ref, atol=1e-6, rtol=1e-5)


def test_zero_state_matches_allennlp(tiny_bilm, reference_sentences):
    """All 3 layers of 38 sentences, batched together (AllenNLP ran each alone)."""
    out = _run(tiny_bilm, reference_sentences)
    with h5py.File(SKIP / "allennlp_reference_layers.hdf5", "r") as f:
        for i, sentence in enumerate(reference_sentences):
            ref = f[f"layers/{i}"][...]
            got = out.layers[:, i, : len(sentence)].numpy()
            np.testing.assert_allclose(got, ref, atol=1e-6, rtol=1e-5)
    assert not out.layers[:, ~out.mask].any()


def test_layer0_matches_tensorflow_token_embeddings(tiny_bilm):
    words = open(SKIP / "vocab_test.txt", encoding="utf8").read().split()
    with h5py.File(SKIP / "elmo_token_embeddings.hdf5", "r") as f:
        ref = f["embedding"][...]
    assert ref.shape == (len(words), 16)
    with torch.no_grad():
        got = tiny_bilm.embed_tokens(batch_to_ids([words]))[0].numpy()
    np.testing.assert_allclose(got, ref, atol=1e-6, rtol=1e-5)
    # Layer 0 of the full output is the same vector twice.
    out = _run(tiny_bilm, [words[:5]])
    np.testing.assert_allclose(out.layers[0, 0, :, :16], out.layers[0, 0, :, 16:])
    np.testing.assert_allclose(out.layers[0, 0, :, :16].numpy(), ref[:5], atol=1e-6, rtol=1e-5)


def test_keep_boundaries_and_empty_sentences(tiny_bilm):
    out = _run(tiny_bilm, [["a", "b"], []], keep_boundaries=True)
    assert out.layers.shape == (3, 2, 4, 32)
    assert out.mask.tolist() == [[True] * 4, [True, True, False, False]]
    removed = _run(tiny_bilm, [["a", "b"], []])
    assert removed.layers.shape == (3, 2, 2, 32)
    torch.testing.assert_close(removed.layers[:, 0], out.layers[:, 0, 1:3])
    assert not removed.layers[:, 1].any()
    # An empty sentence still runs <S> </S> and advances its state.
    assert removed.final_state.h[:, :, 1].abs().sum() > 0


def test_batch_order_does_not_matter(tiny_bilm, reference_sentences):
    sents = reference_sentences[:6]
    a = _run(tiny_bilm, sents).layers
    b = _run(tiny_bilm, sents[::-1]).layers
    for i, s in enumerate(sents):
        n = len(s)
        torch.testing.assert_close(a[:, i, :n], b[:, 5 - i, :n], atol=1e-5, rtol=0)


def test_gradients_flow_when_trainable(tiny_files):
    bilm = load_bilm(*tiny_files, trainable=True)
    out = bilm(batch_to_ids([["a", "b", "c"]]))
    out.layers.sum().backward()
    assert bilm.lstm.recurrent_weight[0].grad.abs().sum() > 0
    assert bilm.char_cnn.char_embed.grad.abs().sum() > 0


def test_bad_char_ids_are_coded_errors(tiny_bilm):
    with pytest.raises(ElmoInputError, match=r"\[E101\]"):
        tiny_bilm(torch.zeros(2, 3, 49, dtype=torch.long))
    ids = batch_to_ids([["a"]])
    ids[0, 0, 3] = 999
    with pytest.raises(ElmoInputError, match=r"\[E102\].*999"):
        tiny_bilm(ids)
