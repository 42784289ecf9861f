import shutil
from pathlib import Path

import numpy as np
import pytest
import spacy
import torch
from spacy.training import Example
from spacy.util import load_config, load_model_from_config

from spacy_elmo import ElmoEmbedder
from spacy_elmo.models import build_elmo_layers_v1, build_elmo_listener_v1, build_scalar_mix_v1
from spacy_elmo.models.layers import get_bilm
from spacy_elmo.util import default_model_paths

CONFIGS = Path(__file__).parents[2] / "configs"
TRAIN = [
    ("Alice lives in Paris .", [(0, 5, "PER"), (15, 20, "LOC")]),
    ("Bob visited London last year .", [(0, 3, "PER"), (12, 18, "LOC")]),
    ("The company Acme hired Carol .", [(12, 16, "ORG"), (23, 28, "PER")]),
]


def _nlp(tiny_paths, extra=None):
    config = load_config(CONFIGS / "ner_elmo.cfg")
    config["components"]["elmo"]["model"]["options_file"] = tiny_paths[0]
    config["components"]["elmo"]["model"]["weight_file"] = tiny_paths[1]
    for key, value in (extra or {}).items():
        config["components"]["elmo"][key] = value
    nlp = load_model_from_config(config, auto_fill=True, validate=True)
    examples = [Example.from_dict(nlp.make_doc(t), {"entities": e}) for t, e in TRAIN]
    nlp.initialize(lambda: examples)
    return nlp, examples


def _mix_module(nlp, component="ner"):
    (mix,) = [n for n in nlp.get_pipe(component).model.walk() if n.name == "elmo-scalar-mix"]
    return mix.layers[0].shims[0]._model


def test_gradients_reach_the_mix_and_never_the_bilm(tiny_paths):
    nlp, examples = _nlp(tiny_paths)
    elmo = nlp.get_pipe("elmo")
    mix = _mix_module(nlp)
    bilm = elmo.embedder.bilm
    bilm_before = {k: v.clone() for k, v in bilm.state_dict().items()}
    w0, g0 = mix.weights.detach().clone(), mix.gamma.detach().clone()
    optimizer = nlp.resume_training()
    for _ in range(5):
        nlp.update(examples, sgd=optimizer, drop=0.0)
    assert not torch.allclose(mix.weights.detach(), w0)
    assert not torch.allclose(mix.gamma.detach(), g0)
    assert all(not p.requires_grad and p.grad is None for p in bilm.parameters())
    for k, v in bilm.state_dict().items():
        assert torch.equal(v, bilm_before[k]), k


def test_update_computes_layers_once_per_batch(tiny_paths):
    nlp, examples = _nlp(tiny_paths)
    cache = get_bilm(nlp.get_pipe("elmo").model).cache
    cache.clear()
    cache.hits = cache.misses = 0
    nlp.update(examples, sgd=nlp.resume_training())
    # the elmo component computed each doc once; the listener used what it received
    assert (cache.misses, cache.hits) == (len(examples), 0)
    nlp.update(examples, sgd=nlp.resume_training())
    assert (cache.misses, cache.hits) == (len(examples), len(examples))


def test_each_component_has_its_own_mix(tiny_paths):
    config = load_config(CONFIGS / "ner_elmo.cfg")
    tc = load_config(CONFIGS / "textcat_elmo.cfg")
    config["nlp"]["pipeline"] = ["elmo", "ner", "textcat"]
    config["components"]["textcat"] = tc["components"]["textcat"]
    model = config["components"]["elmo"]["model"]
    model["options_file"], model["weight_file"] = tiny_paths
    nlp = load_model_from_config(config, auto_fill=True)
    examples = [
        Example.from_dict(
            nlp.make_doc(t), {"entities": e, "cats": {"A": float(i % 2), "B": float(1 - i % 2)}}
        )
        for i, (t, e) in enumerate(TRAIN)
    ]
    nlp.initialize(lambda: examples)
    assert set(nlp.get_pipe("elmo").listening_components) == {"ner", "textcat"}
    optimizer = nlp.resume_training()
    for _ in range(3):
        nlp.update(examples, sgd=optimizer)
    w_ner = _mix_module(nlp, "ner").weights.detach()
    w_tc = _mix_module(nlp, "textcat").weights.detach()
    assert _mix_module(nlp, "ner") is not _mix_module(nlp, "textcat")
    assert not torch.allclose(w_ner, w_tc)


def test_prediction_matches_with_mismatched_batches(tiny_paths):
    nlp, examples = _nlp(tiny_paths)
    texts = [t for t, _ in TRAIN] * 3
    ref = [
        nlp.get_pipe("ner").model.get_ref("tok2vec").predict([nlp.make_doc(t)])[0] for t in texts
    ]
    # different batch sizes per component: the listener cannot use what elmo sent
    docs = list(
        nlp.pipe(texts, component_cfg={"elmo": {"batch_size": 2}, "ner": {"batch_size": 4}})
    )
    assert len(docs) == len(texts)
    tok2vec = nlp.get_pipe("ner").model.get_ref("tok2vec")
    for text, r in zip(texts, ref):
        np.testing.assert_allclose(tok2vec.predict([nlp.make_doc(text)])[0], r, atol=1e-5)


def test_replace_listeners(tiny_paths, tmp_path):
    orig = tmp_path / "orig"  # biLM files that are gone when the saved pipeline loads
    orig.mkdir()
    for src in tiny_paths:
        shutil.copyfile(src, orig / Path(src).name)
    nlp, examples = _nlp((str(orig / "options.json"), str(orig / "weights.hdf5")))
    optimizer = nlp.resume_training()
    for _ in range(3):
        nlp.update(examples, sgd=optimizer)
    doc = nlp.make_doc("Dave met Erin in Berlin .")
    before = nlp.get_pipe("ner").model.get_ref("tok2vec").predict([doc])[0]
    nlp.replace_listeners("elmo", "ner", ["model.tok2vec"])
    assert nlp.get_pipe("elmo").listening_components == []
    cfg = nlp.config["components"]["ner"]["model"]["tok2vec"]["elmo"]["layers"]
    assert cfg["@architectures"] == "spacy-elmo.ElmoLayers.v1"
    assert cfg["cache_size"] == 300_000  # the component's biLM settings travel along
    (layers,) = [n for n in nlp.get_pipe("ner").model.walk() if n.name == "elmo-layers"]
    assert get_bilm(layers).embedder is nlp.get_pipe("elmo").embedder  # frozen: shared, not copied
    nlp.remove_pipe("elmo")
    after = nlp.get_pipe("ner").model.get_ref("tok2vec").predict([doc])[0]
    np.testing.assert_allclose(after, before, atol=1e-5)
    nlp.to_disk(tmp_path / "p")
    shutil.rmtree(orig)
    loaded = spacy.load(tmp_path / "p")
    assert loaded.pipe_names == ["ner"]
    reloaded = (
        loaded.get_pipe("ner").model.get_ref("tok2vec").predict([loaded.make_doc(doc.text)])[0]
    )
    np.testing.assert_allclose(reloaded, before, atol=1e-5)
    assert [e.text for e in loaded(doc.text).ents] == [e.text for e in nlp(doc.text).ents]


def test_listener_standalone_needs_its_own_layers():
    nlp = spacy.blank("en")
    docs = [nlp("No elmo component here ."), nlp("")]
    unlinked = build_elmo_listener_v1(mix=build_scalar_mix_v1(n_layers=3))
    with pytest.raises(ValueError, match=r"\[E211\].*upstream='\*'.*'layers' section"):
        unlinked.initialize(X=docs)
    with pytest.raises(ValueError, match=r"\[E211\]"):
        unlinked.predict(docs)
    # the embedded default biLM, asked for explicitly
    listener = build_elmo_listener_v1(
        mix=build_scalar_mix_v1(n_layers=3), layers=build_elmo_layers_v1()
    )
    listener.initialize(X=docs)
    out = listener.predict(docs)
    ref = ElmoEmbedder(*default_model_paths()).embed_sentence([t.text for t in docs[0]]).mean(0)
    assert out[1].shape == (0, ref.shape[1])
    np.testing.assert_allclose(out[0], ref, atol=1e-5)


def test_listener_uses_stored_layers(make_nlp):
    nlp = make_nlp(store_layers=True)
    doc = nlp("Stored layers are used .")
    listener = build_elmo_listener_v1(
        mix=build_scalar_mix_v1(n_layers=3, initial_weights=[-1e9, -1e9, 0.0])
    )
    listener.initialize(X=[doc])
    np.testing.assert_allclose(listener.predict([doc])[0], doc._.elmo_layers[-1], atol=1e-6)


def test_mix_width_mismatch_is_reported(make_nlp):
    doc = make_nlp(store_layers=True)("Three layers , not four .")
    listener = build_elmo_listener_v1(mix=build_scalar_mix_v1(n_layers=4))
    with pytest.raises(ValueError, match="E108"):
        listener.predict([doc])
