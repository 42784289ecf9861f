import pytest

from spacy_elmo.util import ASSETS

TINY = (ASSETS / "tiny" / "options.json", ASSETS / "tiny" / "weights.hdf5")


@pytest.fixture(scope="session")
def tiny_model():
    """(options.json, weights.hdf5) of the tiny model shipped in the package."""
    return TINY


@pytest.fixture(scope="session")
def tiny_embedder():
    from spacy_elmo import ElmoEmbedder

    return ElmoEmbedder(*TINY)


def sentences(n: int, seed: int = 0):
    """``n`` varied tokenized lines (lengths 1-12, some repeats, a '/' and non-ASCII)."""
    import random

    rng = random.Random(seed)
    words = ["the", "cat", "sat", "on", "a", "mat", "Zürich", "naïve", "1/2", "ELMo", ".", ","]
    return [" ".join(rng.choice(words) for _ in range(rng.randint(1, 12))) for _ in range(n)]
