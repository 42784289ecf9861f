"""``Elmo.pipe`` composes its own biLM batches: vectors and call counts whatever spaCy's
``batch_size`` is."""

import numpy as np
import pytest

from spacy_elmo.pipeline.pipe import PIPE_WINDOW_BATCHES, pipe_window
from spacy_elmo.settings import BiLMSettings

WORDS = "the quick brown fox jumps over a lazy dog while it rains on Tuesday".split()


def _texts(n):
    """``n`` texts of 1 to 14 words, in no length order."""
    return [" ".join(WORDS[: 1 + (i * 5) % len(WORDS)]) for i in range(n)]


@pytest.fixture
def count_calls(monkeypatch):
    """Counts biLM batches: the real ``embed_batch_torch`` of the component's embedder,
    called through."""

    def install(nlp):
        embedder = nlp.get_pipe("elmo").embedder
        real = embedder.embed_batch_torch
        calls = []

        def counted(batch, **kwargs):
            calls.append(len(batch))
            return real(batch, **kwargs)

        monkeypatch.setattr(embedder, "embed_batch_torch", counted)
        return calls

    return install


def test_batch_size_one_and_large_give_the_same_vectors(make_nlp):
    nlp = make_nlp(cache_size=0)
    texts = _texts(90) + ["", "A much longer text, " * 30]
    one = [d._.elmo for d in nlp.pipe(texts, batch_size=1)]
    big = [d._.elmo for d in nlp.pipe(texts, batch_size=1000)]
    alone = [nlp(t)._.elmo for t in texts[:5] + texts[-2:]]
    assert [v.shape[0] for v in one] == [len(nlp.make_doc(t)) for t in texts]  # order kept
    for a, b in zip(one, big):
        np.testing.assert_allclose(a, b, atol=1e-5)
    for a, b in zip(one[:5] + one[-2:], alone):
        np.testing.assert_allclose(a, b, atol=1e-5)


def test_few_bilm_calls_with_batch_size_one(make_nlp, count_calls):
    nlp = make_nlp(cache_size=0, batch_size=16)
    calls = count_calls(nlp)
    texts = _texts(120)
    list(nlp.pipe(texts, batch_size=1))
    # 120 one-sentence docs in biLM batches of 16: 8 calls, not one per doc.
    assert len(calls) == 8
    assert max(calls) == 16
    calls.clear()
    list(nlp.pipe(texts, batch_size=1000))
    assert len(calls) == 8


def test_window_is_a_few_bilm_batches(make_nlp, count_calls):
    nlp = make_nlp(cache_size=0, batch_size=4, max_batch_tokens=64)
    calls = count_calls(nlp)
    max_tokens, max_docs = pipe_window(BiLMSettings(batch_size=4, max_batch_tokens=64))
    assert (max_tokens, max_docs) == (PIPE_WINDOW_BATCHES * 64, PIPE_WINDOW_BATCHES * 4)
    docs = list(nlp.pipe(_texts(3 * max_docs), batch_size=1))
    assert len(docs) == 3 * max_docs
    # each window of max_docs docs fills PIPE_WINDOW_BATCHES batches of 4 rows
    assert len(calls) == 3 * PIPE_WINDOW_BATCHES
    assert all(n == 4 for n in calls)


def test_stateful_keeps_spacys_batches(make_nlp, count_calls):
    nlp = make_nlp(state="stateful")
    calls = count_calls(nlp)
    list(nlp.pipe(_texts(6), batch_size=1))
    assert len(calls) == 6  # its state runs from one spaCy batch to the next


def test_errors_go_to_spacys_error_handler(make_nlp):
    nlp = make_nlp()
    seen = []
    elmo = nlp.get_pipe("elmo")
    elmo.set_error_handler(lambda name, proc, docs, e: seen.append((name, len(docs), e)))
    elmo.settings = type(elmo.settings)(scalar_mix=[1.0, 2.0])  # wrong length: E202
    elmo._weights = None
    docs = list(nlp.pipe(_texts(5), batch_size=1))
    assert len(docs) == 5
    assert len(seen) == 1 and seen[0][:2] == ("elmo", 5)
    assert "E202" in str(seen[0][2])
