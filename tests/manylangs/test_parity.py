"""ELMoForManyLangs models: every layer equal to the elmoformanylangs package's own Embedder.

The fixtures (tests/fixtures/manylangs/README.md) are tiny random models written and run by
the package itself (tools/make_manylangs_fixtures.py); nothing here imports it.
"""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from spacy_elmo import ElmoEmbedder
from spacy_elmo.errors import ElmoFormatError
from spacy_elmo.pytorch.char_vocab import TokenVocabulary
from spacy_elmo.weights import load_bilm
from spacy_elmo.weights.manylangs import load_manylangs, read_dictionary

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "manylangs"
SENTENCES = json.loads((FIXTURES / "sentences.json").read_text(encoding="utf-8"))
MODELS = ["with_words", "chars_only"]
TOL = 1e-5


def reference(name):
    data = np.load(FIXTURES / name / "outputs.npz")
    return [data[f"s{i}"] for i in range(len(SENTENCES))]


@pytest.mark.parametrize("name", MODELS)
def test_every_layer_matches_the_package_batched(name):
    embedder = ElmoEmbedder(FIXTURES / name / "config.json", FIXTURES / name, state="zero")
    outputs = embedder.embed_batch(SENTENCES)
    for i, (ours, theirs) in enumerate(zip(outputs, reference(name))):
        assert ours.shape == theirs.shape, i
        for layer in range(theirs.shape[0]):
            np.testing.assert_allclose(ours[layer], theirs[layer], atol=TOL, rtol=0)


@pytest.mark.parametrize("name", MODELS)
def test_every_layer_matches_one_sentence_at_a_time(name):
    bilm = load_manylangs(FIXTURES / name)
    for sentence, theirs in zip(SENTENCES, reference(name)):
        with torch.no_grad():
            out = bilm(bilm.batch_to_ids([sentence]))
        np.testing.assert_allclose(out.layers[:, 0].numpy(), theirs, atol=TOL, rtol=0)


def test_load_bilm_dispatches_on_the_config_file():
    bilm = load_bilm(FIXTURES / "with_words" / "config.json", FIXTURES / "with_words")
    assert bilm.vocabulary is not None and bilm.word_embedding is not None
    assert bilm.id_width == 51  # 50 character slots + the word id


def test_the_fixtures_exercise_what_they_claim():
    # The word model really uses its word embedding: zeroing it changes layer 0.
    bilm = load_manylangs(FIXTURES / "with_words")
    ids = bilm.batch_to_ids([SENTENCES[0]])
    with torch.no_grad():
        before = bilm(ids).layers[0].clone()
        bilm.word_embedding.proj.zero_()
        assert not torch.allclose(before, bilm(ids).layers[0])
    # The tight clips of chars_only are reached (|h| == proj_clip somewhere).
    top = reference("chars_only")[1][1:]
    assert np.isclose(np.abs(top).max(), 0.25, atol=1e-6) or np.abs(top).max() > 0.25
    # Out-of-dictionary characters map to <oov>; a long token is cut to 48 characters.
    vocab = bilm.vocabulary
    oov = vocab.chars["<oov>"] + 1
    assert vocab.token_ids("😀")[1] == oov
    assert vocab.token_ids("x" * 60) == vocab.token_ids("x" * 48)


def test_marker_ids_follow_the_package():
    chars = {
        s: i for i, s in enumerate(["<bow>", "<eow>", "<oov>", "<pad>", "<bos>", "<eos>", "a"])
    }
    vocab = TokenVocabulary(chars=chars, words=None, max_chars=6)
    # begin slot: id of <eow>; end slot: id of <bow> (the package's swap); +1 shift.
    assert vocab.token_ids("ab") == [2, 7, 3, 1, 4, 4]
    assert vocab.token_ids("<bos>") == [2, 5, 1, 4, 4, 4]


def test_ideographic_space_line(tmp_path):
    path = tmp_path / "char.dic"
    path.write_text("a\t0\n1\n", encoding="utf-8")
    assert read_dictionary(path) == {"a": 0, "\u3000": 1}


# --- refusals ----------------------------------------------------------------------------
def copy_model(tmp_path, name="with_words"):
    folder = tmp_path / name
    shutil.copytree(FIXTURES / name, folder)
    return folder


def test_pickled_code_is_refused(tmp_path):
    folder = copy_model(tmp_path)

    class Payload:
        def __reduce__(self):
            return (print, ("pickled code ran",))

    torch.save({"x": Payload()}, folder / "encoder.pkl")
    with pytest.raises(ElmoFormatError, match=r"\[E024\].*weights_only=True"):
        load_manylangs(folder)


def test_wrong_shape_is_refused_before_building(tmp_path):
    folder = copy_model(tmp_path)
    state = torch.load(folder / "encoder.pkl", weights_only=True)
    state["forward_layer_1.state_projection.weight"] = torch.zeros(3, 3)
    del state["backward_layer_0.state_linearity.bias"]
    torch.save(state, folder / "encoder.pkl")
    with pytest.raises(ElmoFormatError, match=r"\[E025\].*missing.*has shape \(3, 3\)"):
        load_manylangs(folder)


def test_missing_files_and_symbols(tmp_path):
    folder = copy_model(tmp_path)
    (folder / "word.dic").unlink()
    with pytest.raises(ElmoFormatError, match=r"\[E020\].*word dictionary"):
        load_manylangs(folder)
    folder = copy_model(tmp_path, "chars_only")
    lines = (folder / "char.dic").read_text(encoding="utf-8").splitlines()
    (folder / "char.dic").write_text(
        "\n".join(line for line in lines if not line.startswith("<oov>")), encoding="utf-8"
    )
    with pytest.raises(ElmoFormatError, match=r"\[E02[13]\]"):
        load_manylangs(folder)


def test_unsupported_encoder_is_refused(tmp_path):
    folder = copy_model(tmp_path, "chars_only")
    net = json.loads((folder / "net.json").read_text())
    net["encoder"]["name"] = "lstm"
    (folder / "net.json").write_text(json.dumps(net))
    with pytest.raises(ElmoFormatError, match=r"\[E026\].*encoder.name"):
        load_manylangs(folder)


def test_absolute_config_path_falls_back_to_the_folder(tmp_path):
    # Published config.json files name the network config by an absolute path of the
    # authors' machine; the package (and this loader) then looks in the model folder.
    folder = copy_model(tmp_path, "chars_only")
    (folder / "config.json").write_text(json.dumps({"config_path": "/home/x/configs/net.json"}))
    assert load_manylangs(folder).config.lstm.n_layers == 3


def test_missing_published_network_config_uses_the_package_values(tmp_path):
    from spacy_elmo.weights.manylangs import read_network_config

    folder = copy_model(tmp_path, "chars_only")
    name = "cnn_50_100_512_4096_sample.json"
    (folder / "config.json").write_text(json.dumps({"config_path": f"/abs/{name}"}))
    network, _ = read_network_config(folder)
    assert (
        network["encoder"]["projection_dim"] == 512 and network["token_embedder"]["word_dim"] == 100
    )


@pytest.mark.parametrize("precision", ["bfloat16", "int8"])
@pytest.mark.parametrize("name", MODELS)
def test_reduced_precisions_load_lean_and_stay_close(name, precision):
    """The lean loader takes these models too: their LSTM weights held only in the reduced
    precision, the vectors within its rounding of float32's."""
    exact = ElmoEmbedder(FIXTURES / name / "config.json", FIXTURES / name, state="zero")
    lean = ElmoEmbedder(
        FIXTURES / name / "config.json", FIXTURES / name, state="zero", precision=precision
    )
    assert lean.bilm.lstm.lean_dtype is not None
    for ours, ref in zip(lean.embed_batch(SENTENCES), exact.embed_batch(SENTENCES)):
        scale = np.abs(ref).max()
        np.testing.assert_allclose(ours, ref, atol=0.03 * scale, rtol=0)
