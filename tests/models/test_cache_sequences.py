import numpy as np
import spacy
from spacy.tokens import Doc
from spacy.training import Example

from spacy_elmo.models.cache import LayerCache, doc_key
from spacy_elmo.models.layers import get_bilm
from spacy_elmo.models.sequences import batch_segments, doc_segments


def test_windows_keep_every_token_once():
    nlp = spacy.blank("en")
    doc = nlp.make_doc(" ".join(f"t{i}" for i in range(203)))
    segs = list(doc_segments(doc, 0, window=64, overlap=16, max_sentence_length=256))
    kept = [p for s in segs for p in s.positions[s.keep_start : s.keep_end]]
    assert kept == list(range(203))
    assert max(len(s) for s in segs) == 64 + 2 * 16
    assert segs[1].positions[0] == 48 and segs[1].keep_start == 16


def test_sentences_and_long_sentences():
    vocab = spacy.blank("en").vocab
    words = ["a"] * 5 + ["b"] * 300
    doc = Doc(vocab, words=words, sent_starts=[i in (0, 5) for i in range(len(words))])
    segs = list(doc_segments(doc, 3, window=64, overlap=16, max_sentence_length=256))
    assert segs[0].positions == tuple(range(5)) and segs[0].doc_index == 3
    # the 300-token sentence is windowed and never mixed with the first sentence
    assert all(min(s.positions) >= 5 for s in segs[1:])
    assert [p for s in segs[1:] for p in s.positions[s.keep_start : s.keep_end]] == list(
        range(5, 305)
    )


def test_whitespace_tokens_are_skipped():
    doc = spacy.blank("en")("a  b\n\nc")
    (seg,) = doc_segments(doc, 0, window=64, overlap=16, max_sentence_length=256)
    assert [doc[p].text for p in seg.positions] == ["a", "b", "c"]


def test_batches_are_bounded():
    nlp = spacy.blank("en")
    docs = [
        nlp.make_doc(" ".join("x" * (i % 7 + 1) for _ in range(n)))
        for i, n in enumerate([3, 200, 17, 64, 1, 90])
    ]
    segs = [
        s
        for i, d in enumerate(docs)
        for s in doc_segments(d, i, window=32, overlap=8, max_sentence_length=256)
    ]
    batches = list(batch_segments(segs, batch_size=4, max_batch_tokens=100, sort=True))
    assert sum(len(b) for b in batches) == len(segs)
    for b in batches:
        assert len(b) <= 4
        assert len(b) == 1 or len(b) * max(len(s) for s in b) <= 100
    lengths = [len(s) for b in batches for s in b]
    assert lengths == sorted(lengths, reverse=True)


def test_cache_lru_by_tokens():
    cache = LayerCache(max_tokens=10)
    arrays = {k: np.zeros((3, n, 2), dtype="float32") for k, n in [(b"a", 4), (b"b", 4), (b"c", 4)]}
    cache.put(b"a", arrays[b"a"])
    cache.put(b"b", arrays[b"b"])
    assert cache.get(b"a") is arrays[b"a"]  # a is now the most recent
    cache.put(b"c", arrays[b"c"])  # 12 tokens > 10: evict b
    assert cache.get(b"b") is None and cache.get(b"a") is not None and cache.n_tokens == 8
    assert not arrays[b"a"].flags.writeable
    big = np.zeros((3, 11, 2), dtype="float32")
    assert cache.put(b"big", big) is big and cache.get(b"big") is None
    assert LayerCache(0).put(b"x", arrays[b"c"]) is arrays[b"c"]


def test_doc_key_depends_on_tokens_and_sentences():
    vocab = spacy.blank("en").vocab
    a = Doc(vocab, words=["a", "b", "c"])
    b = Doc(vocab, words=["a", "b", "c"], sent_starts=[True, False, True])
    c = Doc(vocab, words=["a", "bc"])
    assert doc_key(a) == doc_key(Doc(vocab, words=["a", "b", "c"]))
    assert len({doc_key(a), doc_key(b), doc_key(c)}) == 3


def test_component_cache_returns_identical_layers(make_nlp):
    nlp = make_nlp(store_layers=True)
    bilm = get_bilm(nlp.get_pipe("elmo").model)
    cache = bilm.cache
    first = nlp("Cached text here .")._.elmo_layers
    nlp("Cached text here .")
    assert len(cache) == 0 and cache.hits == 0  # inference alone does not cache
    nlp.update([Example.from_dict(nlp.make_doc("Cached text here ."), {})])  # as in training
    assert len(cache) == 1 and not bilm.embedder.bilm.training
    second = nlp("Cached text here .")._.elmo_layers
    third = nlp("Cached text here .")._.elmo_layers
    assert cache.hits == 2 and third is second
    np.testing.assert_array_equal(second, first)
    nlp_nocache = make_nlp(store_layers=True, cache_size=0)
    np.testing.assert_array_equal(nlp_nocache("Cached text here .")._.elmo_layers, first)
    assert len(get_bilm(nlp_nocache.get_pipe("elmo").model).cache) == 0
