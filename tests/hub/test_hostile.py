"""Hostile and broken servers against the download code, on a real local server: bodies that
are not the model, bodies that never end or never stop, bad redirects, bad names, no network.
Every case must end in a coded error (or a working download) and leave nothing to trap a
later load."""

import json
import subprocess
import sys
import time
import warnings

import h5py
import numpy as np
import pytest

from spacy_elmo.errors import ElmoDownloadError
from spacy_elmo.hub import CATALOGUE, FetchPolicy, ModelEntry, Source, fetch_url, resolve_bilm
from spacy_elmo.hub.cache import url_cache_path
from spacy_elmo.hub.catalogue import get_entry, known_names
from spacy_elmo.hub.checks import HDF5_SIGNATURE, size_limit
from spacy_elmo.weights import load_bilm, load_options

from .conftest import TINY

FAST = FetchPolicy(timeout=60, tries=2, backoff=0.0, progress=False)
MB = 1 << 20


def _files(cache):
    return sorted(p for p in cache.rglob("*") if p.is_file()) if cache.exists() else []


def _written(cache):
    """Files with any content (lock files are empty)."""
    return [p for p in _files(cache) if p.stat().st_size > 0]


def _model_files(cache):
    """Files that a load could pick up (not partial, lock or record files)."""
    skip = (".part", ".lock", ".source.json")
    return [p for p in _files(cache) if not p.name.endswith(skip)]


@pytest.fixture
def tiny_config():
    return load_options(TINY / "options.json")


# --- 1. a bad body never becomes a cache entry; a bad entry does not stay -----------------


def test_body_longer_than_its_content_length_is_not_cached(hub_env, server, tiny_bytes):
    options, weights = tiny_bytes
    opt_url = server.serve("/t/options.json", options)
    w_url = server.serve("/t/weights.hdf5", weights, behaviour="short_length", announce=9000)
    with pytest.raises(ElmoDownloadError, match=r"\[E418\].*weights"):
        resolve_bilm(options_file=opt_url, weight_file=w_url, policy=FAST)
    assert not url_cache_path(w_url).exists() and _files(url_cache_path(w_url).parent) == [
        url_cache_path(w_url).with_name("weights.hdf5.lock")
    ]
    server.serve("/t/weights.hdf5", weights)  # the server is fixed: the next run works
    files = resolve_bilm(options_file=opt_url, weight_file=w_url, policy=FAST)
    assert files.weights.read_bytes() == weights


def test_hdf5_signature_then_junk_is_refused(hub_env, server, tiny_config):
    junk = HDF5_SIGNATURE + np.random.default_rng(0).bytes(300_000)
    url = server.serve("/j/weights.hdf5", junk)
    with pytest.raises(ElmoDownloadError, match=r"\[E418\]"):
        fetch_url(url, kind="weights", policy=FAST, config=tiny_config)
    with pytest.raises(ElmoDownloadError, match=r"\[E418\].*HDF5"):  # no options known
        fetch_url(url, kind="weights", policy=FAST)
    assert _model_files(hub_env) == []


def test_weights_of_another_shape_are_refused(hub_env, server, tmp_path, tiny_config):
    other = tmp_path / "other.hdf5"
    with h5py.File(other, "w") as f:
        f["char_embed"] = np.zeros((261, 8), dtype=np.float32)  # tiny needs (261, 16)
    url = server.serve("/o/weights.hdf5", other.read_bytes())
    with pytest.raises(ElmoDownloadError, match=r"\[E418\].*char_embed"):
        fetch_url(url, kind="weights", policy=FAST, config=tiny_config)
    assert _model_files(hub_env) == []


def _plant(url, body):
    """A cache entry as an older version (or a damaged disk) may have left it."""
    dest = url_cache_path(url)
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_bytes(body)
    (dest.parent / "source.json").write_text(json.dumps({"url": url}))
    return dest


@pytest.mark.parametrize("bad", ["junk", "other_model"])
def test_bad_cache_entry_is_removed_and_fetched_again(hub_env, server, tiny_bytes, bad):
    options, weights = tiny_bytes
    opt_url = server.serve("/c/options.json", options)
    w_url = server.serve("/c/weights.hdf5", weights)
    default_weights = (TINY.parent / "default" / "weights.hdf5").read_bytes()
    _plant(w_url, HDF5_SIGNATURE + b"\0" * 5000 if bad == "junk" else default_weights)
    with pytest.warns(UserWarning, match=r"\[W012\].*fetched again"):
        files = resolve_bilm(options_file=opt_url, weight_file=w_url, policy=FAST)
    assert files.weights.read_bytes() == weights
    assert len(server.state.requests("/c/weights.hdf5")) == 1
    load_bilm(files.options, files.weights)  # and it loads
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the good entry is now reused silently
        assert resolve_bilm(options_file=opt_url, weight_file=w_url, policy=FAST) == files
    assert len(server.state.requests("/c/weights.hdf5")) == 1


def test_bad_cache_entry_offline_is_removed_and_reported(hub_env, server, monkeypatch):
    url = server.url("/off/weights.hdf5")
    dest = _plant(url, b"<html>login</html>")
    monkeypatch.setenv("SPACY_ELMO_OFFLINE", "1")
    with pytest.warns(UserWarning, match=r"\[W012\]"):
        with pytest.raises(ElmoDownloadError, match=r"\[E412\]"):
            fetch_url(url, kind="weights", policy=FAST)
    assert not dest.exists() and server.state.log == []


# --- 2. stalls ------------------------------------------------------------------------------


def test_trickling_body_is_a_stall(hub_env, server, monkeypatch, tiny_bytes):
    monkeypatch.setenv("SPACY_ELMO_DOWNLOAD_TIMEOUT", "1")
    policy = FetchPolicy(tries=2, backoff=0.0, progress=False)
    assert policy.timeout == 1.0
    url = server.serve(
        "/slow/weights.hdf5", tiny_bytes[1][:4000], behaviour="trickle", interval=0.2
    )
    start = time.monotonic()
    with pytest.raises(ElmoDownloadError, match=r"\[E421\].*stalled 2 times.*1024 bytes in 1 s"):
        fetch_url(url, kind="weights", policy=policy)
    assert time.monotonic() - start < 8  # two windows of 1 s (plus a read each)
    assert len(server.state.requests("/slow/weights.hdf5")) == 2
    assert _model_files(hub_env) == []


@pytest.mark.parametrize("value", ["0", "-3", "soon", "inf"])
def test_bad_timeout_variable_is_coded(hub_env, monkeypatch, value):
    monkeypatch.setenv("SPACY_ELMO_DOWNLOAD_TIMEOUT", value)
    with pytest.raises(ElmoDownloadError, match=r"\[E417\].*SPACY_ELMO_DOWNLOAD_TIMEOUT"):
        fetch_url("http://127.0.0.1:9/w.hdf5", kind="weights")


# --- 3. size bounds -------------------------------------------------------------------------


def test_endless_chunked_body_is_stopped_at_the_bound(hub_env, server, tiny_config):
    limit = size_limit("weights", tiny_config)
    assert 420_480 < limit < 2 * MB  # 0.42 MB of float32 plus the HDF5 margin
    piece = HDF5_SIGNATURE + b"\0" * (64 * 1024 - 8)
    url = server.serve("/big/weights.hdf5", piece, behaviour="chunked", repeat=80)  # 5 MiB
    with pytest.raises(ElmoDownloadError, match=rf"\[E420\].*at most {limit}"):
        fetch_url(url, kind="weights", policy=FAST, config=tiny_config)
    assert _written(hub_env) == []


def test_announced_size_over_the_bound_is_refused_before_writing(hub_env, server, tiny_config):
    default_weights = (TINY.parent / "default" / "weights.hdf5").read_bytes()  # 12 MB
    url = server.serve("/d/weights.hdf5", default_weights)
    with pytest.raises(ElmoDownloadError, match=rf"\[E420\].*\({len(default_weights)} bytes"):
        fetch_url(url, kind="weights", policy=FAST, config=tiny_config)
    assert _written(hub_env) == [] and not server.state.requests("/d/weights.hdf5")[0].range
    assert not url_cache_path(url).with_name("weights.hdf5.part").exists()


def test_options_are_bounded_too(hub_env, server):
    url = server.serve("/huge/options.json", b" " * 65536, behaviour="chunked", repeat=40)
    with pytest.raises(ElmoDownloadError, match=r"\[E420\].*options file.*at most 1048576"):
        fetch_url(url, kind="options", policy=FAST)
    assert _written(hub_env) == []


def test_compressed_body_is_refused_without_decompressing(hub_env, server):
    url = server.serve("/z/weights.hdf5", HDF5_SIGNATURE + b"\0" * (4 * MB), behaviour="gzip")
    with pytest.raises(ElmoDownloadError, match=r"\[E419\].*gzip"):
        fetch_url(url, kind="weights", policy=FAST)
    assert _written(hub_env) == []
    assert not url_cache_path(url).with_name("weights.hdf5.part").exists()


# --- 4. redirects, names, hf:// paths -----------------------------------------------------


def test_redirect_loop_is_coded(hub_env, server):
    url = server.serve("/loop.hdf5", b"", behaviour="redirect", location="/loop.hdf5")
    with pytest.raises(ElmoDownloadError, match=r"\[E422\].*redirects"):
        fetch_url(url, kind="weights", policy=FAST)
    assert _model_files(hub_env) == []


def test_redirect_to_a_local_file_is_coded(hub_env, server):
    url = server.serve("/f.hdf5", b"", behaviour="redirect", location="file:///etc/passwd")
    with pytest.raises(ElmoDownloadError, match=r"\[E423\].*file:///etc/passwd"):
        fetch_url(url, kind="weights", policy=FAST)
    assert _model_files(hub_env) == []


def test_very_long_file_name_is_stored_under_a_short_one(hub_env, server, tiny_bytes):
    name = "w" * 300 + ".hdf5"
    url = server.serve(f"/{name}", tiny_bytes[1])
    path = fetch_url(url, kind="weights", policy=FAST)
    assert path.read_bytes() == tiny_bytes[1]
    assert len(path.name) <= 120 and path.name.endswith(".hdf5")
    other = server.serve("/" + "w" * 299 + "x.hdf5", tiny_bytes[1])  # same start: own file
    assert fetch_url(other, kind="weights", policy=FAST).name != path.name


@pytest.mark.parametrize(
    "location",
    [
        "hf://someone/repo/../../../etc/weights.hdf5",
        "hf://someone/repo/sub/../weights.hdf5",
        "hf://someone/repo@../weights.hdf5",
        "hf://someone/repo@main/..\\weights.hdf5",
    ],
)
def test_hf_locations_that_climb_are_refused(hub_env, location):
    with pytest.raises(ElmoDownloadError, match=r"\[E403\].*outside the repository"):
        resolve_bilm(options_file=str(TINY / "options.json"), weight_file=location)


def test_hub_mirror_with_a_climbing_commit_is_coded(hub_env, server, tiny_bytes, monkeypatch):
    server.state.hub[("someone/tiny", "weights.hdf5")] = tiny_bytes[1]
    server.state.hub_commit = "../../../../escaped"
    monkeypatch.setenv("HF_ENDPOINT", server.root)
    outside = hub_env.parent
    before = {p for p in outside.rglob("*") if not p.is_relative_to(hub_env)}
    with pytest.raises(ElmoDownloadError, match=r"\[E424\].*HF_ENDPOINT"):
        resolve_bilm(
            options_file=str(TINY / "options.json"), weight_file="hf://someone/tiny/weights.hdf5"
        )
    after = {p for p in outside.rglob("*") if not p.is_relative_to(hub_env)}
    assert after == before


# --- 5. the cache's record is not a download ----------------------------------------------


def test_url_named_source_json_keeps_its_own_file(hub_env, server, tiny_bytes):
    opt_url = server.serve("/s/source.json", tiny_bytes[0])
    w_url = server.serve("/s/weights.hdf5", tiny_bytes[1])
    files = resolve_bilm(options_file=opt_url, weight_file=w_url, policy=FAST)
    assert files.options.read_bytes() == tiny_bytes[0]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        again = resolve_bilm(options_file=opt_url, weight_file=w_url, policy=FAST)
    assert again == files and again.options.read_bytes() == tiny_bytes[0]
    record = json.loads((files.options.parent / ".source.json").read_text())
    assert record == {"url": opt_url}


def test_old_layout_overwritten_entry_is_fetched_again(hub_env, server, tiny_bytes):
    opt_url = server.serve("/s/source.json", tiny_bytes[0])
    w_url = server.serve("/s/weights.hdf5", tiny_bytes[1])
    _plant(opt_url, json.dumps({"url": opt_url}).encode())  # what the old layout left
    with pytest.warns(UserWarning, match=r"\[W012\].*source.json"):
        files = resolve_bilm(options_file=opt_url, weight_file=w_url, policy=FAST)
    assert files.options.read_bytes() == tiny_bytes[0]


# --- 6. no network: fail fast, name every place -------------------------------------------


@pytest.fixture
def refused_port():
    import socket

    with socket.socket() as s:  # bound but never listening: connections are refused
        s.bind(("127.0.0.1", 0))
        yield s.getsockname()[1]


def _resolves(host):
    import socket

    try:
        socket.getaddrinfo(host, 80)
    except OSError:
        return False
    return True


def test_no_network_fails_fast_and_names_every_place(hub_env, refused_port, monkeypatch):
    if _resolves("nonexistent.invalid"):
        pytest.skip("this machine's resolver answers for .invalid names")
    refused = f"http://127.0.0.1:{refused_port}/m"
    nowhere = "http://nonexistent.invalid/m"
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{refused_port}")
    pinned = "hf://someone/tiny@" + "b" * 40
    options = json.loads((TINY / "options.json").read_text())
    entry = ModelEntry(
        name="tiny-net",
        description="test",
        training_data="none",
        licence="MIT",
        parameters=0,
        options=options,
        sources=tuple(
            Source(options=f"{base}/options.json", weights=f"{base}/weights.hdf5")
            for base in (refused, nowhere, pinned)
        ),
    )
    monkeypatch.setitem(CATALOGUE, entry.name, entry)
    start = time.monotonic()
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        with pytest.raises(ElmoDownloadError) as info:
            resolve_bilm(name="tiny-net", policy=FetchPolicy(progress=False))  # 5 tries, backoff
    elapsed = time.monotonic() - start
    message = str(info.value)
    assert message.startswith("[E425]") and "3 places" in message
    for place in (refused, nowhere, pinned):
        assert place in message
    assert "connection refused" in message and "does not resolve" in message
    assert elapsed < 5, elapsed  # retries would take 15 s per place


def test_cli_download_refused_is_quick_and_coded(hub_env, refused_port):
    url = f"http://127.0.0.1:{refused_port}/weights.hdf5"
    start = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "spacy_elmo", "download", url, "--no-progress"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    elapsed = time.monotonic() - start
    assert result.returncode != 0 and "[E406]" in result.stderr and "refused" in result.stderr
    assert "Traceback" not in result.stderr
    assert elapsed < 10, elapsed  # interpreter start included; retries alone took 15 s


def test_cli_download_redirect_loop_has_no_traceback(hub_env, server):
    url = server.serve("/loop.hdf5", b"", behaviour="redirect", location="/loop.hdf5")
    result = subprocess.run(
        [sys.executable, "-m", "spacy_elmo", "download", url, "--no-progress"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0 and "[E422]" in result.stderr
    assert "Traceback" not in result.stderr


def test_typo_suggestions_are_names_the_models_table_shows():
    for typo in ("original_5", "5.5", "orignal", "smal"):
        with pytest.raises(ElmoDownloadError, match=r"\[E401\]") as info:
            get_entry(typo)
        hint = str(info.value).split("Did you mean ", 1)
        if len(hint) == 2:
            suggested = [s.strip(" '") for s in hint[1].split("?", 1)[0].split(",")]
            assert set(suggested) <= set(known_names()), suggested
    assert get_entry("5.5b").name == "original-5.5b"  # aliases still load
