"""Threads sharing one embedder (or one LayerCache) get exactly what a sequential run gets.

The reference is computed in a separate process, so nothing it caches can leak into the
threaded run, and the threaded run starts on cold caches.
"""

import json
import random
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch

import spacy_elmo
from spacy_elmo import ElmoEmbedder

TINY = Path(spacy_elmo.__file__).parent / "assets" / "tiny"
FILES = (str(TINY / "options.json"), str(TINY / "weights.hdf5"))
N_THREADS = 6

_SEQUENTIAL = """
import json, sys
import numpy as np
import torch
from spacy_elmo import ElmoEmbedder
torch.set_num_threads(1)
options, weights, state, cache_size, inp, out = sys.argv[1:]
sentences = json.load(open(inp))
emb = ElmoEmbedder(options, weights, state=state, cache_size=int(cache_size))
np.savez(out, *[emb.embed_sentence(s) for s in sentences])
"""


def _sentences(n: int, seed: int = 0):
    """``n`` sentences over a vocabulary large enough to keep the word cache busy."""
    rng = random.Random(seed)
    letters = "abcdefghijklmnopqrstuvwxyzéü"
    vocab = ["".join(rng.choices(letters, k=rng.randint(1, 12))) for _ in range(1500)]
    return [rng.choices(vocab, k=rng.randint(1, 14)) for _ in range(n)]


def _sequential(tmp_path: Path, sentences, *, state: str, cache_size: int):
    inp, out = tmp_path / "sentences.json", tmp_path / "reference.npz"
    inp.write_text(json.dumps(sentences), encoding="utf8")
    args = [*FILES, state, str(cache_size), str(inp), str(out)]
    subprocess.run([sys.executable, "-c", _SEQUENTIAL, *args], check=True, timeout=300)
    with np.load(out) as data:
        return [data[f"arr_{i}"] for i in range(len(sentences))]


def _threaded(embedder: ElmoEmbedder, sentences):
    """Every thread embeds its share in batches of varying size, all starting together."""
    results = [None] * len(sentences)
    errors = []
    barrier = threading.Barrier(N_THREADS)

    def work(k: int) -> None:
        try:
            mine = list(range(k, len(sentences), N_THREADS))
            barrier.wait()
            start, size = 0, 1 + k % 4
            while start < len(mine):
                idx = mine[start : start + size]
                for i, layers in zip(idx, embedder.embed_batch([sentences[i] for i in idx])):
                    results[i] = layers
                start += size
        except BaseException as e:  # reported below, in the test's thread
            errors.append(e)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(N_THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    return results


@pytest.fixture
def one_thread_each():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.mark.parametrize("cache_size", [50_000, 300])  # 300: threads also evict
def test_threads_match_a_sequential_process(tmp_path, one_thread_each, cache_size):
    sentences = _sentences(400)
    reference = _sequential(tmp_path, sentences, state="warm", cache_size=cache_size)
    embedder = ElmoEmbedder(*FILES, state="warm", cache_size=cache_size)  # cold cache
    threaded = _threaded(embedder, sentences)
    worst = max(float(np.abs(a - b).max()) for a, b in zip(threaded, reference) if a.size)
    assert worst <= 1e-5, f"threads differ from the sequential run by up to {worst}"


def test_embedders_sharing_a_bilm_in_threads(tmp_path, one_thread_each):
    """Two embedders over one biLM (as two pipelines on the same files) in threads."""
    sentences = _sentences(120, seed=1)
    reference = _sequential(tmp_path, sentences, state="zero", cache_size=50_000)
    first = ElmoEmbedder(*FILES, state="zero")
    second = ElmoEmbedder.from_bilm(first.bilm, state="zero")
    half = len(sentences) // 2
    out = [None, None]

    def run(k: int, emb: ElmoEmbedder, part) -> None:
        out[k] = _threaded(emb, part)

    threads = [
        threading.Thread(target=run, args=(0, first, sentences[:half])),
        threading.Thread(target=run, args=(1, second, sentences[half:])),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert out[0] is not None and out[1] is not None
    for a, b in zip(out[0] + out[1], reference):
        np.testing.assert_allclose(a, b, atol=1e-5)


def test_copies_get_their_own_lock():
    import copy
    import pickle

    embedder = ElmoEmbedder(*FILES, state="stateful")
    for clone in (copy.deepcopy(embedder), pickle.loads(pickle.dumps(embedder))):
        assert clone._lock is not embedder._lock
        np.testing.assert_allclose(
            clone.embed_sentence(["a", "b"]), embedder.embed_sentence(["a", "b"]), atol=1e-5
        )
        embedder.reset_states()


class _YieldingArray(np.ndarray):
    """An array whose ``shape`` lets other threads run (sleeps), so that threads interleave
    inside the cache's bookkeeping on every call instead of only now and then."""

    @property  # type: ignore[override]
    def shape(self):
        time.sleep(1e-4)
        return super().shape


def test_layer_cache_accounting_under_threads():
    """Threads interleaving between get and put: the token count stays the sum of what is
    held, every lookup is counted once and nothing raises."""
    from spacy_elmo.models.cache import LayerCache

    arrays = [np.zeros((1, 1 + k % 19, 2), dtype=np.float32) for k in range(64)]
    cache = LayerCache(40)
    n_threads, n_ops = 8, 100
    errors = []

    def work(t: int) -> None:
        try:
            for i in range(n_ops):
                key = bytes([(t * 7 + i) % 64])
                if cache.get(key) is None:
                    cache.put(key, arrays[key[0]].copy().view(_YieldingArray))
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert cache.n_tokens == sum(v.shape[1] for v in cache._data.values()) <= 40
    assert cache.hits + cache.misses == n_threads * n_ops
