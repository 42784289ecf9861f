import importlib.metadata
import os
import subprocess
import sys

import numpy as np
import pytest
import spacy
from spacy.tokens import Doc

from spacy_elmo import ElmoEmbedder

TEXT = "The quick brown fox jumps over the lazy dog. It was not amused by this at all!"


def test_entry_points_resolve():
    factories = {e.name for e in importlib.metadata.entry_points(group="spacy_factories")}
    assert {"elmo", "elmo_cleanup"} <= factories
    names = [
        e.name
        for e in importlib.metadata.entry_points(group="spacy_architectures")
        if e.name.startswith("spacy-elmo.")
    ]
    assert sorted(names) == [
        "spacy-elmo.ElmoLayers.v1",
        "spacy-elmo.ElmoListener.v1",
        "spacy-elmo.ElmoTok2Vec.v1",
        "spacy-elmo.ScalarMix.v1",
    ]
    for name in names:
        assert callable(spacy.registry.architectures.get(name))


def test_add_pipe_without_import_uses_default_model():
    # A fresh interpreter that never imports spacy_elmo: spaCy must find the factory
    # through the entry points.
    code = (
        "import sys, spacy\n"
        "nlp = spacy.blank('en')\n"
        "nlp.add_pipe('elmo')\n"
        "doc = nlp('Hello world !')\n"
        "from spacy_elmo.util import default_model_paths\n"
        "from spacy_elmo import ElmoEmbedder\n"
        "ref = ElmoEmbedder(*default_model_paths()).embed_sentence(['Hello', 'world', '!']).mean(0)\n"
        "assert abs(doc._.elmo - ref).max() < 1e-5, abs(doc._.elmo - ref).max()\n"
        "print(doc._.elmo.shape)\n"
    )
    env = {**os.environ, "OMP_NUM_THREADS": "1"}  # see one_torch_thread in conftest.py
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().startswith("(3, ")


def test_extensions_and_shapes(make_nlp, tiny_paths):
    nlp = make_nlp(store_layers=True)
    doc = nlp(TEXT)
    n = len(doc)
    assert doc._.elmo.shape == (n, 32) and doc._.elmo.dtype == np.float32
    assert doc._.elmo_layers.shape == (3, n, 32) and doc._.elmo_layers.dtype == np.float32
    assert doc[3]._.elmo.shape == (32,)
    np.testing.assert_allclose(doc[3]._.elmo, doc._.elmo[3])
    np.testing.assert_allclose(doc[2:5]._.elmo, doc._.elmo[2:5].mean(0), rtol=1e-6)
    # default fixed mix: an even average of the layers
    np.testing.assert_allclose(doc._.elmo, doc._.elmo_layers.mean(0), rtol=1e-5, atol=1e-6)
    # a blank doc without sentences is one biLM sequence when short: same as the embedder
    ref = ElmoEmbedder(*tiny_paths).embed_sentence([t.text for t in doc])
    np.testing.assert_allclose(doc._.elmo_layers, ref, atol=1e-5)


def test_fixed_mix_settings(make_nlp):
    layers = make_nlp(store_layers=True)(TEXT)._.elmo_layers
    top = make_nlp(scalar_mix=[-1e9, -1e9, 1.0], gamma=2.0)(TEXT)._.elmo
    np.testing.assert_allclose(top, 2.0 * layers[-1], atol=1e-5)
    normed = make_nlp(layer_norm=True)(TEXT)._.elmo
    expected = np.mean([(x - x.mean()) / np.sqrt(x.var() + 1e-13) for x in layers], axis=0)
    np.testing.assert_allclose(normed, expected, atol=1e-4)
    with pytest.raises(ValueError, match="E202"):
        make_nlp(scalar_mix=[0.0, 1.0])(TEXT)


def test_bad_config(tiny_paths):
    nlp = spacy.blank("en")
    with pytest.raises(ValueError, match="E402"):
        nlp.add_pipe("elmo", config={"model": {"options_file": tiny_paths[0]}})
    with pytest.raises(ValueError, match="E104"):
        nlp.add_pipe("elmo", config={"model": {"state": "hot"}})
    with pytest.raises(ValueError, match="E110.*window"):
        nlp.add_pipe("elmo", config={"model": {"window": 0}})
    with pytest.raises(ValueError, match="E114"):
        nlp.add_pipe("elmo", config={"model": {"precision": "half"}})
    with pytest.raises(ValueError, match="E209"):
        nlp.add_pipe("elmo", config={"model": {"device": "gpu0"}})
    missing = {"options_file": "/missing/options.json", "weight_file": "/missing/weights.hdf5"}
    nlp.add_pipe("elmo", config={"model": missing})  # files are read on first use
    with pytest.raises(ValueError, match=r"\[E001\].*/missing/options.json"):
        nlp("Hello")


def test_bfloat16_precision(make_nlp, tmp_path):
    exact = make_nlp(store_layers=True)(TEXT)._.elmo_layers
    nlp = make_nlp(store_layers=True, precision="bfloat16")
    low = nlp(TEXT)._.elmo_layers
    assert nlp.get_pipe("elmo").embedder.precision == "bfloat16"
    # a lean reduced-precision biLM holds its highway layers in bfloat16 too, so layer 0 is
    # close to float32 but no longer exact (docs/benchmarks.md: ~0.1 % median)
    assert 0 < np.abs(low[0] - exact[0]).max() < 5e-3 * np.abs(exact[0]).max()
    assert 0 < np.abs(low - exact).max() < 2e-2 * np.abs(exact).max()
    nlp.to_disk(tmp_path / "pipeline")
    loaded = spacy.load(tmp_path / "pipeline")
    assert loaded.get_pipe("elmo").embedder.precision == "bfloat16"
    np.testing.assert_allclose(loaded(TEXT)._.elmo_layers, low, atol=1e-5)


def test_set_vectors(make_nlp):
    plain = make_nlp()(TEXT)
    assert not plain[0].has_vector  # blank pipeline: no static vectors, hooks off by default
    doc = make_nlp(set_vectors=True)(TEXT)
    np.testing.assert_allclose(doc[1].vector, doc[1]._.elmo)
    np.testing.assert_allclose(doc[1:4].vector, doc[1:4]._.elmo)
    np.testing.assert_allclose(doc.vector, doc._.elmo.mean(0), rtol=1e-5, atol=1e-6)
    a, b = doc[1]._.elmo, doc[2]._.elmo
    cos = float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))
    assert doc[1].similarity(doc[2]) == pytest.approx(cos, abs=1e-5)
    assert doc[0:3].similarity(doc[3:6]) < 1.0
    assert doc.similarity(doc) == pytest.approx(1.0, abs=1e-5)


def test_sentences_are_separate_sequences(make_nlp, tiny_paths):
    nlp = make_nlp(store_layers=True)
    words = "The cat sat . A dog barked loudly .".split()
    doc = Doc(
        nlp.vocab,
        words=words,
        sent_starts=[True, False, False, False, True, False, False, False, False],
    )
    doc = nlp(doc)
    emb = nlp.get_pipe("elmo").embedder
    first, second = emb.embed_batch([words[:4], words[4:]])
    np.testing.assert_allclose(doc._.elmo_layers[:, :4], first, atol=1e-5)
    np.testing.assert_allclose(doc._.elmo_layers[:, 4:], second, atol=1e-5)
    # without boundaries the doc is one sequence, so the second sentence sees the first
    whole = nlp(Doc(nlp.vocab, words=words))._.elmo_layers
    assert np.abs(whole[1:, 4:] - second[1:]).max() > 1e-4


def test_windows_on_long_doc(make_nlp, tiny_paths):
    nlp = make_nlp(store_layers=True, window=8, overlap=3)
    words = [f"w{i % 17}" for i in range(50)]
    doc = nlp(Doc(nlp.vocab, words=words))
    emb = nlp.get_pipe("elmo").embedder
    # window 2 keeps tokens 8..15 and was run on tokens 5..18
    ref = emb.embed_sentence(words[5:19])
    np.testing.assert_allclose(doc._.elmo_layers[:, 8:16], ref[:, 3:11], atol=1e-5)
    last = emb.embed_sentence(words[45:50])  # last window: tokens 48, 49 with 3 of context before
    np.testing.assert_allclose(doc._.elmo_layers[:, 48:50], last[:, 3:5], atol=1e-5)


def test_very_long_doc(make_nlp):
    nlp = make_nlp(cache_size=0)
    doc = nlp.make_doc("word , and more words . " * 16_667)  # 100,002 tokens
    doc = nlp(doc)
    assert doc._.elmo.shape == (len(doc), 32)
    assert len(doc) > 100_000
    assert np.isfinite(doc._.elmo).all()
    assert np.abs(doc._.elmo[-1]).sum() > 0


def test_empty_and_whitespace_docs(make_nlp):
    nlp = make_nlp(store_layers=True)
    empty = nlp("")
    assert empty._.elmo.shape == (0, 32)
    assert empty._.elmo_layers.shape == (3, 0, 32)
    assert empty[:]._.elmo.shape == (32,)
    spaces = nlp("   \n\n  ")
    assert all(t.is_space for t in spaces)
    assert np.all(spaces._.elmo == 0)
    # whitespace tokens are skipped: the words around them see no difference
    with_space = nlp("Hello   world\n\n again")
    without = nlp("Hello world again")
    words = [t.i for t in with_space if not t.is_space]
    assert len(words) == 3 and len(with_space) == 5
    np.testing.assert_allclose(with_space._.elmo[words], without._.elmo, atol=1e-5)
    assert np.all(with_space._.elmo[[t.i for t in with_space if t.is_space]] == 0)


def test_odd_tokens(make_nlp):
    nlp = make_nlp()
    doc = nlp("x" * 1000 + " 😀 中文字符 Ünïcödé \u200b \U0001f9ec e\u0301")
    assert len(doc[0].text) == 1000
    assert doc._.elmo.shape == (len(doc), 32)
    assert np.isfinite(doc._.elmo).all()
    assert np.abs(doc._.elmo).sum(axis=1).min() > 0


def test_batch_invariance(make_nlp):
    nlp = make_nlp(cache_size=0)
    texts = [TEXT, "Short one .", "", "A much longer text, " * 20, "Emoji 😀 and 中文 ."]
    alone = [nlp(t)._.elmo for t in texts]
    for batch_size in (2, 5):
        for doc, ref in zip(nlp.pipe(texts, batch_size=batch_size), alone):
            np.testing.assert_allclose(doc._.elmo, ref, atol=1e-5)
    reordered = list(nlp.pipe(texts[::-1], batch_size=5))[::-1]
    for doc, ref in zip(reordered, alone):
        np.testing.assert_allclose(doc._.elmo, ref, atol=1e-5)


def test_stateful_depends_on_history(make_nlp):
    nlp = make_nlp(state="stateful")
    first = nlp(TEXT)._.elmo
    second = nlp(TEXT)._.elmo
    assert np.abs(first - second).max() > 1e-6


def test_n_process(make_nlp):
    nlp = make_nlp()
    texts = [f"Text number {i} , about {'cats' if i % 2 else 'dogs'} ." for i in range(12)]
    ref = [nlp(t)._.elmo for t in texts]
    docs = list(nlp.pipe(texts, n_process=2, batch_size=3))
    assert len(docs) == len(texts)
    for doc, r in zip(docs, ref):
        np.testing.assert_allclose(doc._.elmo, r, atol=1e-5)


def test_n_process_spawn(make_nlp):
    """Under "spawn" the pipeline is pickled into the workers (spaCy#6662-style failures)."""
    import multiprocessing

    nlp = make_nlp()
    texts = ["A bank by the river .", "The bank raised rates .", "", "Play it again ."]
    ref = [nlp(t)._.elmo for t in texts]
    method = multiprocessing.get_start_method()
    multiprocessing.set_start_method("spawn", force=True)
    try:
        docs = list(nlp.pipe(texts, n_process=2, batch_size=1))
    finally:
        multiprocessing.set_start_method(method, force=True)
    for doc, r in zip(docs, ref):
        np.testing.assert_allclose(doc._.elmo, r, atol=1e-5)
    # The unpickled component can still hand its config to replace_listeners.
    import pickle

    elmo = pickle.loads(pickle.dumps(nlp.get_pipe("elmo")))
    assert elmo.model.attrs["replace_listener_cfg"].component_ref() is elmo


def test_cleanup_component(make_nlp):
    nlp = make_nlp(store_layers=True)
    nlp.add_pipe("elmo_cleanup")
    doc = nlp(TEXT)
    assert doc._.elmo_layers is None
    assert doc._.elmo.shape == (len(doc), 32)


def test_long_doc_peak_memory_is_bounded(make_nlp):
    import tracemalloc

    nlp = make_nlp(cache_size=0)
    doc = nlp.make_doc("word , and more words . " * 25_000)  # 150,000 tokens
    nlp("warm up")
    tracemalloc.start()
    doc = nlp(doc)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    output = doc._.elmo.nbytes  # 150,000 * 32 * 4 = 19.2 MB
    # all layers would be 3x the output; what is kept beyond the output is bounded by the
    # biLM batch size, not the doc length
    assert peak < output + 12_000_000, (peak, output)
