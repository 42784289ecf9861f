"""Plain http(s) downloads against a real local server: resume, cuts, errors, atomicity."""

import pytest

from spacy_elmo.errors import ElmoDownloadError
from spacy_elmo.hub import FetchPolicy, fetch_url
from spacy_elmo.hub.cache import url_cache_path

FAST = FetchPolicy(timeout=5, tries=3, backoff=0.0, progress=False)


def _debris(cache):
    """Files in the cache that could be mistaken for a download (not .part/.lock/source)."""
    if not cache.exists():
        return []
    skip = (".part", ".lock", "source.json")
    return [p for p in cache.rglob("*") if p.is_file() and not p.name.endswith(skip)]


def test_fetch_then_reuse_without_server(hub_env, server, tiny_bytes):
    url = server.serve("/m/weights.hdf5", tiny_bytes[1])
    path = fetch_url(url, kind="weights", policy=FAST)
    assert path.read_bytes() == tiny_bytes[1]
    assert path == url_cache_path(url) and path.is_relative_to(hub_env)
    server.stop()
    assert fetch_url(url, kind="weights", policy=FAST) == path  # no request: cached


def test_resume_sends_only_the_missing_bytes(hub_env, server, tiny_bytes):
    body = tiny_bytes[1]
    url = server.serve("/w.hdf5", body)
    part = url_cache_path(url).with_name("w.hdf5.part")
    part.parent.mkdir(parents=True)
    part.write_bytes(body[:1000])  # a transfer killed after 1000 bytes
    path = fetch_url(url, kind="weights", policy=FAST)
    assert path.read_bytes() == body and not part.exists()
    (req,) = server.state.requests("/w.hdf5")
    assert req.range == "bytes=1000-" and req.sent == len(body) - 1000


def test_cut_transfer_is_retried_and_resumed(hub_env, server, tiny_bytes):
    body = tiny_bytes[1]
    url = server.serve("/cut.hdf5", body, behaviour="cut_once", cut_at=5000)
    path = fetch_url(url, kind="weights", policy=FAST)
    assert path.read_bytes() == body
    first, second = server.state.requests("/cut.hdf5")
    assert first.sent == 5000 and second.range == "bytes=5000-"
    assert first.sent + second.sent == len(body)


def test_always_cut_gives_coded_error_and_no_model_file(hub_env, server, tiny_bytes):
    url = server.serve("/bad.hdf5", tiny_bytes[1], behaviour="cut", cut_at=100)
    with pytest.raises(ElmoDownloadError, match=r"\[E407\].*resumes"):
        fetch_url(url, kind="weights", policy=FAST)
    assert not url_cache_path(url).exists() and _debris(hub_env) == []
    # each try resumed where the previous one stopped
    assert [r.range for r in server.state.requests("/bad.hdf5")] == [
        None,
        "bytes=100-",
        "bytes=200-",
    ]


def test_server_ignoring_range_starts_over(hub_env, server, tiny_bytes):
    body = tiny_bytes[1]
    url = server.serve("/nr.hdf5", body, behaviour="no_range")
    part = url_cache_path(url).with_name("nr.hdf5.part")
    part.parent.mkdir(parents=True)
    part.write_bytes(b"x" * 1000)  # stale bytes: must not end up in the file
    assert fetch_url(url, kind="weights", policy=FAST).read_bytes() == body


@pytest.mark.parametrize("status", [404, 403])
def test_client_errors_are_final(hub_env, server, status):
    url = server.serve("/x.hdf5", b"", behaviour="status", status=status)
    with pytest.raises(ElmoDownloadError, match=rf"\[E404\] HTTP {status}"):
        fetch_url(url, kind="weights", policy=FAST)
    assert len(server.state.requests("/x.hdf5")) == 1  # no retry
    assert _debris(hub_env) == []


def test_server_errors_are_retried(hub_env, server):
    url = server.serve("/x.hdf5", b"", behaviour="status", status=503)
    with pytest.raises(ElmoDownloadError, match=r"\[E405\] .*503.* 3 times"):
        fetch_url(url, kind="weights", policy=FAST)
    assert len(server.state.requests("/x.hdf5")) == 3


def test_timeout_is_retried_then_coded(hub_env, server, tiny_bytes):
    url = server.serve("/slow.hdf5", tiny_bytes[1], delay=1.0)
    policy = FetchPolicy(timeout=0.2, tries=2, backoff=0.0, progress=False)
    with pytest.raises(ElmoDownloadError, match=r"\[E406\].*2 tries"):
        fetch_url(url, kind="weights", policy=policy)
    assert _debris(hub_env) == []


def test_html_page_is_not_kept_as_weights(hub_env, server):
    url = server.serve("/page.hdf5", b"", behaviour="html")
    with pytest.raises(ElmoDownloadError, match=r"\[E408\].*HTML"):
        fetch_url(url, kind="weights", policy=FAST)
    assert not url_cache_path(url).exists()
    assert not url_cache_path(url).with_name("page.hdf5.part").exists()


def test_bad_json_is_not_kept_as_options(hub_env, server):
    url = server.serve("/options.json", b"{not json")
    with pytest.raises(ElmoDownloadError, match=r"\[E409\]"):
        fetch_url(url, kind="options", policy=FAST)
    assert _debris(hub_env) == []


def test_checksum_mismatch_deletes_the_file(hub_env, server, tiny_bytes):
    url = server.serve("/w.hdf5", tiny_bytes[1])
    with pytest.raises(ElmoDownloadError, match=r"\[E410\]"):
        fetch_url(url, kind="weights", sha256="0" * 64, policy=FAST)
    assert _debris(hub_env) == [] and not url_cache_path(url).with_name("w.hdf5.part").exists()


def test_offline_with_empty_cache_sends_no_request(hub_env, server, monkeypatch, tiny_bytes):
    url = server.serve("/w.hdf5", tiny_bytes[1])
    monkeypatch.setenv("SPACY_ELMO_OFFLINE", "1")
    with pytest.raises(ElmoDownloadError, match=r"\[E412\].*SPACY_ELMO_OFFLINE.*download"):
        fetch_url(url, kind="weights", policy=FAST)
    assert server.state.log == []


def test_unwritable_cache(hub_env, server, tmp_path, monkeypatch, tiny_bytes):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv("SPACY_ELMO_CACHE", str(blocker / "cache"))  # under a file: no mkdir
    url = server.serve("/w.hdf5", tiny_bytes[1])
    with pytest.raises(ElmoDownloadError, match=r"\[E411\].*SPACY_ELMO_CACHE"):
        fetch_url(url, kind="weights", policy=FAST)


def test_missing_optional_packages_give_a_coded_error(hub_env, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "requests", None)  # as if the `hub` extra were missing
    with pytest.raises(ElmoDownloadError, match=r"\[E415\].*spacy-elmo\[hub\]"):
        fetch_url("https://h.example/w.hdf5", kind="weights", policy=FAST)


def test_package_imports_without_fetch_libraries():
    import subprocess
    import sys

    code = (
        "import sys, spacy_elmo, spacy_elmo.hub\n"
        "assert not {'requests', 'huggingface_hub'} & set(sys.modules), 'imported eagerly'\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
