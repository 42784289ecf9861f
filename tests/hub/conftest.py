from pathlib import Path

import pytest

from .server import LocalServer

TINY = Path(__file__).resolve().parents[2] / "spacy_elmo" / "assets" / "tiny"


@pytest.fixture
def hub_env(tmp_path, monkeypatch):
    """An empty cache and Hugging Face home under tmp_path; online; quiet."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("SPACY_ELMO_CACHE", str(cache))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
    monkeypatch.setenv("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    for name in ("SPACY_ELMO_OFFLINE", "HF_HUB_OFFLINE", "HF_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    return cache


@pytest.fixture
def server():
    with LocalServer() as s:
        yield s


@pytest.fixture(scope="session")
def tiny_bytes():
    return (TINY / "options.json").read_bytes(), (TINY / "weights.hdf5").read_bytes()
