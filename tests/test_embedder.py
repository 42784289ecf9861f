"""ElmoEmbedder: AllenNLP 0.9 semantics, determinism, HDF5 output."""

import json
import warnings

import h5py
import numpy as np
import pytest

from spacy_elmo import ElmoEmbedder
from spacy_elmo.errors import ElmoInputError

from .conftest import SKIP


@pytest.fixture(scope="module")
def warm(tiny_files):
    return ElmoEmbedder(*tiny_files)


@pytest.fixture(scope="module")
def zero(tiny_files):
    return ElmoEmbedder(*tiny_files, state="zero")


def test_zero_state_matches_allennlp(zero, reference_sentences):
    results = list(zero.embed_sentences(reference_sentences, batch_size=5))
    with h5py.File(SKIP / "allennlp_reference_layers.hdf5", "r") as f:
        for i, got in enumerate(results):
            assert got.dtype == np.float32
            np.testing.assert_allclose(got, f[f"layers/{i}"][...], atol=1e-6, rtol=1e-5)


def test_stateful_matches_tensorflow(tiny_files):
    embedder = ElmoEmbedder(*tiny_files, state="stateful")
    lists = json.load(open(SKIP / "sentences.json"))
    for i in range(10):
        batch = [lists[k][i].split() for k in range(3)]
        for k, got in enumerate(embedder.embed_batch(batch)):
            with h5py.File(SKIP / f"lm_embeddings_{k}.hdf5", "r") as f:
                ref = f[str(i)][...]
            np.testing.assert_allclose(got[-1], np.concatenate(ref, -1), atol=1e-6, rtol=1e-5)
    # The state persists across calls; reset_states forgets it.
    first = lists[0][0].split()
    a = embedder.embed_sentence(first)
    embedder.reset_states()
    b = embedder.embed_sentence(first)
    assert np.abs(a - b).max() > 1e-3


@pytest.mark.parametrize("mode", ["warm", "zero"])
def test_batch_invariance(tiny_files, reference_sentences, mode):
    embedder = ElmoEmbedder(*tiny_files, state=mode)
    sents = reference_sentences[:12]
    alone = [embedder.embed_sentence(s) for s in sents]
    batched = embedder.embed_batch(sents)
    shuffled = embedder.embed_batch(sents[::-1])[::-1]
    streamed = list(embedder.embed_sentences(sents, batch_size=5))
    for a, b, c, d in zip(alone, batched, shuffled, streamed):
        for other in (b, c, d):
            np.testing.assert_allclose(a, other, atol=1e-5, rtol=0)


def test_warm_differs_from_zero_but_is_deterministic(tiny_files, warm, zero):
    s = ["The", "bank", "raised", "its", "rates", "."]
    assert np.abs(warm.embed_sentence(s)[2] - zero.embed_sentence(s)[2]).max() > 1e-3
    # layer 0 does not depend on the state (fresh char-CNN caches: the fixtures' caches hold
    # vectors computed in other batches, which may differ in the last bit)
    fresh_warm, fresh_zero = (ElmoEmbedder.from_bilm(e.bilm, state=e.state) for e in (warm, zero))
    np.testing.assert_array_equal(fresh_warm.embed_sentence(s)[0], fresh_zero.embed_sentence(s)[0])
    again = ElmoEmbedder(*tiny_files)
    np.testing.assert_allclose(again.embed_sentence(s), warm.embed_sentence(s), atol=1e-6)


def test_empty_sentences_and_batches(warm):
    out = warm.embed_batch([[], ["a"], []])
    assert [o.shape for o in out] == [(3, 0, 32), (3, 1, 32), (3, 0, 32)]
    assert warm.embed_sentence([]).shape == (3, 0, 32)
    assert warm.embed_batch([[]])[0].shape == (3, 0, 32)
    assert warm.embed_batch([]) == []


def test_any_unicode_and_huge_tokens(warm):
    tokens = ["👍🏽", "東京", "\u0000", " ", "x" * 1000, "<S>", "\ud800"]
    out = warm.embed_sentence(tokens)
    assert out.shape == (3, len(tokens), 32) and np.isfinite(out).all()


def test_cache_eviction_gives_same_vectors(tiny_files, reference_sentences):
    small = ElmoEmbedder(*tiny_files, cache_size=20)
    none = ElmoEmbedder(*tiny_files, cache_size=0)
    for s in reference_sentences[:8]:
        np.testing.assert_allclose(small.embed_sentence(s), none.embed_sentence(s), atol=1e-6)
    assert len(small._cache_index) <= 20


def test_from_bilm(tiny_bilm, warm):
    other = ElmoEmbedder.from_bilm(tiny_bilm)
    s = ["a", "b"]
    np.testing.assert_allclose(other.embed_sentence(s), warm.embed_sentence(s), atol=1e-6)


def test_bad_arguments(tiny_files, warm):
    with pytest.raises(ElmoInputError, match=r"\[E104\]"):
        ElmoEmbedder(*tiny_files, state="fresh")
    with pytest.raises(ElmoInputError, match=r"\[E103\]"):
        warm.embed_sentence("not tokenized")
    with pytest.raises(ElmoInputError, match=r"\[E110\]"):
        list(warm.embed_sentences([["a"]], batch_size=0))
    with pytest.raises(ElmoInputError, match=r"\[E402\].*only options_file"):
        ElmoEmbedder(tiny_files[0])
    with pytest.raises(ElmoInputError, match=r"\[E114\].*'float16'"):
        ElmoEmbedder(*tiny_files, precision="float16")


@pytest.mark.parametrize("mode", ["warm", "zero"])
def test_bfloat16_precision(tiny_files, reference_sentences, mode):
    exact = ElmoEmbedder(*tiny_files, state=mode)
    low = ElmoEmbedder.from_bilm(exact.bilm, state=mode, precision="bfloat16")
    sents = reference_sentences[:12]
    for a, b in zip(exact.embed_batch(sents), low.embed_batch(sents)):
        assert b.dtype == np.float32 and b.shape == a.shape
        np.testing.assert_array_equal(b[0], a[0])  # the char CNN stays float32
        scale = np.abs(a).max()
        assert 0 < np.abs(b - a).max() <= 2e-2 * scale  # close, and really bfloat16
    # still deterministic: a sentence's vectors do not depend on its batch
    for a, b in zip([low.embed_sentence(s) for s in sents], low.embed_batch(sents[::-1])[::-1]):
        np.testing.assert_allclose(a, b, atol=1e-5, rtol=0)
    assert exact.precision == "float32" and low.precision == "bfloat16"


@pytest.mark.parametrize("fmt", ["all", "top", "average"])
def test_embed_file_layout(warm, tmp_path, fmt):
    lines = ["The cat sat .", "  Zürich is nice  ", "The cat sat ."]
    (tmp_path / "in.txt").write_text("\n".join(lines) + "\n", encoding="utf8")
    n = warm.embed_file(
        tmp_path / "in.txt", tmp_path / "out.hdf5", fmt, batch_size=2, progress=False
    )
    assert n == 3
    with h5py.File(tmp_path / "out.hdf5", "r") as f:
        assert set(f) == {"0", "1", "2", "sentence_to_index"}
        index = json.loads(f["sentence_to_index"][0])
        assert index == {"The cat sat .": "2", "Zürich is nice": "1"}
        full = warm.embed_sentence(lines[1].split())
        expected = {"all": full, "top": full[-1], "average": full.mean(0)}[fmt]
        np.testing.assert_allclose(f["1"][...], expected, atol=1e-5)


def test_embed_file_errors(warm, tmp_path):
    (tmp_path / "in.txt").write_text("a b\n\nc\n", encoding="utf8")
    with pytest.raises(ElmoInputError, match=r"\[E106\] Line 2 of"):  # counted from 1
        warm.embed_file(tmp_path / "in.txt", tmp_path / "o.hdf5", progress=False)
    (tmp_path / "in.txt").write_text("a b\na b\n", encoding="utf8")
    with pytest.raises(ElmoInputError, match=r"\[E107\]"):
        warm.embed_file(
            tmp_path / "in.txt", tmp_path / "o.hdf5", use_sentence_keys=True, progress=False
        )
    with pytest.raises(ElmoInputError, match=r"\[E105\]"):
        warm.embed_file(tmp_path / "in.txt", tmp_path / "o.hdf5", output_format="mean")
    with pytest.raises(ElmoInputError, match=r"\[E001\]"):
        warm.embed_file(tmp_path / "missing.txt", tmp_path / "o.hdf5")


def test_unavailable_device_is_a_coded_error(tiny_files):
    import torch

    if torch.cuda.is_available():
        pytest.skip("CUDA is available here")
    with pytest.raises(ValueError, match=r"\[E109\].*cuda"):
        ElmoEmbedder(*tiny_files, device="cuda")


@pytest.mark.skipif(not __import__("torch").cuda.is_available(), reason="needs a GPU")
def test_cuda_matches_cpu(tiny_files, reference_sentences):
    cpu = ElmoEmbedder(*tiny_files)
    gpu = ElmoEmbedder(*tiny_files, device="cuda")
    for a, b in zip(cpu.embed_batch(reference_sentences), gpu.embed_batch(reference_sentences)):
        np.testing.assert_allclose(a, b, atol=1e-4)


def test_bfloat16_warns_without_cpu_support(tiny_bilm, monkeypatch):
    import spacy_elmo.embedder as embedder_module
    from spacy_elmo.util import cpu_has_bf16_gemm

    assert cpu_has_bf16_gemm() in (True, False, None)
    # this machine's CPU cannot be swapped: pretend /proc/cpuinfo lacks the flags
    monkeypatch.setattr(embedder_module, "cpu_has_bf16_gemm", lambda: False)
    with pytest.warns(UserWarning, match=r"\[W004\]"):
        ElmoEmbedder.from_bilm(tiny_bilm, state="zero", precision="bfloat16")
    monkeypatch.setattr(embedder_module, "cpu_has_bf16_gemm", lambda: True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ElmoEmbedder.from_bilm(tiny_bilm, state="zero", precision="bfloat16")
        ElmoEmbedder.from_bilm(tiny_bilm, state="zero")


@pytest.mark.parametrize(
    "kwargs,code",
    [
        ({"state": [1]}, "E104"),
        ({"device": [1]}, "E110"),
        ({"device": 3}, "E110"),
        ({"precision": [1]}, "E114"),
        ({"precision": {"float32": 1}}, "E114"),
        ({"cache_size": "3"}, "E110"),
        ({"cache_size": True}, "E110"),
        ({"cache_size": 2.0}, "E110"),
    ],
)
def test_arguments_of_the_wrong_type_are_coded(tiny_files, tiny_bilm, kwargs, code):
    with pytest.raises(ElmoInputError, match=rf"\[{code}\]"):
        ElmoEmbedder(*tiny_files, **kwargs)
    if "device" not in kwargs:  # from_bilm has no device: the biLM is already placed
        with pytest.raises(ElmoInputError, match=rf"\[{code}\]"):
            ElmoEmbedder.from_bilm(tiny_bilm, **kwargs)


def test_cache_size_beyond_memory_is_refused(tiny_files, tiny_bilm):
    # 10**15 word types x 16 float32 values: 64 PB, more than any machine has
    for make in (
        lambda: ElmoEmbedder(*tiny_files, cache_size=10**15),
        lambda: ElmoEmbedder.from_bilm(tiny_bilm, cache_size=10**15),
    ):
        with pytest.raises(ElmoInputError, match=r"\[E115\] cache_size=10+ needs at least"):
            make()


def test_cache_size_of_a_billion_with_the_default_model():
    from spacy_elmo.memory import host_memory

    memory = host_memory()
    if memory is None or memory >= 10**9 * 128 * 4:
        pytest.skip("this machine has 512 GB of memory: the cache is then allowed")
    with pytest.raises(ElmoInputError, match=r"\[E115\] cache_size=1000000000 needs .*512\.0 GB"):
        ElmoEmbedder(cache_size=10**9)


def test_word_cache_grows_with_the_words_seen(tiny_files, reference_sentences):
    from spacy_elmo.embedder import MIN_CACHE_ROWS

    big = ElmoEmbedder(*tiny_files, state="zero", cache_size=10**6)
    capped = ElmoEmbedder(*tiny_files, state="zero", cache_size=1500)
    uncached = ElmoEmbedder(*tiny_files, state="zero", cache_size=0)
    first = big.embed_sentence(reference_sentences[0])
    # one sentence: one small table, not 10**6 rows (64 MB) at once
    assert big._cache_rows is not None and big._cache_rows.shape[0] == MIN_CACHE_ROWS
    np.testing.assert_array_equal(first, uncached.embed_sentence(reference_sentences[0]))
    words = [[f"w{i}" for i in range(k, k + 100)] for k in range(0, 3000, 100)]
    expected = uncached.embed_batch(words)
    for embedder in (big, capped):  # one sentence at a time: 1500 rows can hold each
        for sentence, ref in zip(words, expected):
            np.testing.assert_allclose(embedder.embed_sentence(sentence), ref, atol=1e-6)
    assert 3000 <= big._cache_rows.shape[0] <= 2 * 3000 + MIN_CACHE_ROWS
    assert capped._cache_rows.shape[0] == 1500  # never above cache_size
