"""resolve_bilm and everything that calls it, against a real local server (and a local
stand-in for the Hugging Face Hub): URL == path, names, mirrors, offline, two processes."""

import json
import subprocess
import sys
import warnings

import numpy as np
import pytest

from spacy_elmo import ElmoEmbedder
from spacy_elmo.errors import ElmoDownloadError
from spacy_elmo.hub import CATALOGUE, ModelEntry, Source, resolve_bilm
from spacy_elmo.hub.catalogue import _bilm_tf_options
from spacy_elmo.util import default_model_paths

from .conftest import TINY

SENTENCE = ["The", "bank", "raised", "its", "rates", "."]


def _serve_tiny(server, tiny_bytes, prefix="/tiny", **weights_kwargs):
    return (
        server.serve(f"{prefix}/options.json", tiny_bytes[0]),
        server.serve(f"{prefix}/weights.hdf5", tiny_bytes[1], **weights_kwargs),
    )


@pytest.fixture
def tiny_entry(monkeypatch):
    """Register a catalogue entry whose sources the test fills in."""

    def add(*sources, options=None):
        options = options or json.loads((TINY / "options.json").read_text())
        entry = ModelEntry(
            name="tiny-test",
            description="test",
            training_data="none",
            licence="MIT",
            parameters=0,
            options=options,
            sources=tuple(Source(options=o, weights=w) for o, w in sources),
        )
        monkeypatch.setitem(CATALOGUE, entry.name, entry)
        return entry

    return add


def test_load_by_url_equals_load_by_path_and_works_without_server(hub_env, server, tiny_bytes):
    opt_url, w_url = _serve_tiny(server, tiny_bytes)
    by_path = ElmoEmbedder(TINY / "options.json", TINY / "weights.hdf5", state="zero")
    expected = by_path.embed_sentence(SENTENCE)
    got = ElmoEmbedder(opt_url, w_url, state="zero").embed_sentence(SENTENCE)
    np.testing.assert_array_equal(got, expected)
    server.stop()
    again = ElmoEmbedder(opt_url, w_url, state="zero").embed_sentence(SENTENCE)
    np.testing.assert_array_equal(again, expected)


def test_argument_errors():
    assert resolve_bilm() == default_model_paths() == resolve_bilm(name="default")
    with pytest.raises(ElmoDownloadError, match=r"\[E402\].*name='small' and options_file"):
        resolve_bilm(name="small", options_file="o.json")
    with pytest.raises(ElmoDownloadError, match=r"\[E402\].*only weight_file"):
        resolve_bilm(weight_file="https://h.example/w.hdf5")
    with pytest.raises(ElmoDownloadError, match=r"\[E401\].*Did you mean 'small'"):
        ElmoEmbedder("smal")


def test_embedder_by_name_and_offline_reuse(hub_env, server, tiny_bytes, tiny_entry, monkeypatch):
    tiny_entry(_serve_tiny(server, tiny_bytes))
    monkeypatch.setenv("SPACY_ELMO_OFFLINE", "1")
    with pytest.raises(ElmoDownloadError, match=r"\[E412\].*'tiny-test'.*download tiny-test"):
        ElmoEmbedder("tiny-test", state="zero")
    assert server.state.log == []  # offline: not a single request
    monkeypatch.delenv("SPACY_ELMO_OFFLINE")
    emb = ElmoEmbedder("tiny-test", state="zero")
    assert emb.output_dim == 32
    monkeypatch.setenv("SPACY_ELMO_OFFLINE", "1")
    n = len(server.state.log)
    assert ElmoEmbedder("tiny-test", state="zero").output_dim == 32 and len(server.state.log) == n


def test_mirror_is_used_when_the_original_host_fails(hub_env, server, tiny_bytes, tiny_entry):
    gone = (server.url("/gone/options.json"), server.url("/gone/weights.hdf5"))
    tiny_entry(gone, _serve_tiny(server, tiny_bytes, prefix="/mirror"))
    with pytest.warns(UserWarning, match=r"\[W011\].*mirror"):
        files = resolve_bilm(name="tiny-test")
    assert files.weights.read_bytes() == tiny_bytes[1]


def test_options_differing_from_the_record_warn(hub_env, server, tiny_bytes, tiny_entry):
    tiny_entry(_serve_tiny(server, tiny_bytes), options=_bilm_tf_options(1024, 128, 1))
    with pytest.warns(UserWarning, match=r"\[W010\]"):
        resolve_bilm(name="tiny-test")


TWO_PROCESSES = """
import sys
from spacy_elmo.hub import resolve_bilm
files = resolve_bilm(options_file=sys.argv[1], weight_file=sys.argv[2])
print(files.weights)
"""


def test_two_processes_transfer_once(hub_env, server, tiny_bytes):
    # the weights answer slowly, so both processes want them at the same time
    opt_url, w_url = _serve_tiny(server, tiny_bytes, delay=1.0)
    cmd = [sys.executable, "-c", TWO_PROCESSES, opt_url, w_url]
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in "ab"]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    assert outs[0][0] == outs[1][0]
    assert len(server.state.requests("/tiny/weights.hdf5")) == 1
    assert len(server.state.requests("/tiny/options.json")) == 1


def test_hf_location_through_a_local_hub(hub_env, server, tiny_bytes, monkeypatch):
    server.state.hub[("someone/tiny-elmo", "options.json")] = tiny_bytes[0]
    server.state.hub[("someone/tiny-elmo", "weights.hdf5")] = tiny_bytes[1]
    monkeypatch.setenv("HF_ENDPOINT", server.root)
    files = resolve_bilm(
        options_file="hf://someone/tiny-elmo/options.json",
        weight_file="hf://someone/tiny-elmo@main/weights.hdf5",
    )
    assert files.weights.read_bytes() == tiny_bytes[1]
    assert files.weights.is_relative_to(hub_env / "huggingface")
    gets = [r for r in server.state.log if r.method == "GET"]
    assert len(gets) == 2
    with pytest.raises(ElmoDownloadError, match=r"\[E413\] .*file"):
        resolve_bilm(
            options_file="hf://someone/tiny-elmo/options.json",
            weight_file="hf://someone/tiny-elmo/missing.hdf5",
        )
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    n = len(server.state.log)
    again = resolve_bilm(
        options_file="hf://someone/tiny-elmo/options.json",
        weight_file="hf://someone/tiny-elmo@main/weights.hdf5",
    )
    assert again == files and len(server.state.log) == n
    with pytest.raises(ElmoDownloadError, match=r"\[E412\].*HF_HUB_OFFLINE"):
        resolve_bilm(name="original")


def test_bilm_files_loader_accepts_urls(hub_env, server, tiny_bytes):
    from spacy_elmo.hub.cache import url_cache_path
    from spacy_elmo.pipeline.loader import make_bilm_files_loader_v1

    opt_url, w_url = _serve_tiny(server, tiny_bytes)
    import spacy

    nlp = spacy.blank("en")
    elmo = nlp.add_pipe("elmo")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        make_bilm_files_loader_v1(options_file=opt_url, weight_file=w_url)(elmo.model)
    shim = elmo.model.shims[0]
    assert shim.files["weights.hdf5"] == url_cache_path(w_url)
    assert shim.files["options.json"] == url_cache_path(opt_url)


def test_init_weights_from_a_hub_folder(hub_env, server, tiny_bytes, monkeypatch):
    from spacy_elmo.cli.pretrain import _init_folder

    server.state.hub[("someone/run", "export/options.json")] = tiny_bytes[0]
    server.state.hub[("someone/run", "export/weights.hdf5")] = tiny_bytes[1]
    server.state.hub[("someone/run", "other/big.bin")] = b"x" * 10
    monkeypatch.setenv("HF_ENDPOINT", server.root)
    folder = _init_folder("hf://someone/run/export")
    assert (folder / "weights.hdf5").read_bytes() == tiny_bytes[1]
    assert (folder / "options.json").read_bytes() == tiny_bytes[0]
    assert not server.state.requests("/someone/run/resolve/" + "a" * 40 + "/other/big.bin")
