"""NLPL-style zip archives: served over real HTTP (tests/hub/server.py), fetched with the
hub's guarantees, unpacked safely into the cache and loaded by name."""

import io
import json
import stat
import zipfile
from pathlib import Path

import numpy as np
import pytest

from spacy_elmo import ElmoEmbedder
from spacy_elmo.errors import ElmoDownloadError
from spacy_elmo.hub import archive as archive_mod
from spacy_elmo.hub.catalogue import CATALOGUE
from spacy_elmo.hub.entries import ModelEntry, Source
from spacy_elmo.hub.resolve import resolve_bilm

from .conftest import TINY

MANYLANGS = Path(__file__).resolve().parents[1] / "fixtures" / "manylangs"
SENTENCES = [["Grüße", "aus", "Köln"], ["Привет", "мир", "."], ["中", "国"]]


def make_zip(files, *, links=()):
    """A zip of ``{name: bytes}``; ``links`` become symbolic-link members."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in files.items():
            zf.writestr(name, data)
        for name, target in links:
            info = zipfile.ZipInfo(name)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            zf.writestr(info, target)
    return buffer.getvalue()


def nlpl_zip():
    """The layout of an NLPL ELMo archive (bilm-tf files, model.hdf5, a vocabulary, meta)."""
    return make_zip(
        {
            "options.json": (TINY / "options.json").read_bytes(),
            "model.hdf5": (TINY / "weights.hdf5").read_bytes(),
            "vocab.txt": "<S>\n</S>\n<UNK>\nGrüße\n".encode(),
            "meta.json": b"{}",
        }
    )


def manylangs_zip(name="with_words"):
    folder = MANYLANGS / name
    return make_zip({f"de.model/{p.name}": p.read_bytes() for p in folder.iterdir()})


@pytest.fixture
def entry(monkeypatch, server, hub_env):
    """Register a catalogue entry whose archive the local server serves."""

    def register(body: bytes, *, name="test-nlpl", lang="de", layout="bilm-tf"):
        url = server.serve(f"/repository/20/{name}.zip", body)
        made = ModelEntry(
            name=name,
            description="test",
            training_data="test",
            licence="test",
            parameters=None,
            options=None,
            sources=(Source(archive=url),),
            lang=lang,
            layout=layout,
        )
        monkeypatch.setitem(CATALOGUE, name, made)
        return url

    return register


def test_nlpl_zip_loads_by_name_equal_to_its_files(entry, hub_env):
    entry(nlpl_zip())
    by_name = ElmoEmbedder("test-nlpl", state="zero")
    by_files = ElmoEmbedder(TINY / "options.json", TINY / "weights.hdf5", state="zero")
    for ours, theirs in zip(by_name.embed_batch(SENTENCES), by_files.embed_batch(SENTENCES)):
        np.testing.assert_array_equal(ours, theirs)
    files = resolve_bilm(name="test-nlpl")
    assert files.weights.name == "model.hdf5" and hub_env in files.weights.parents


def test_second_load_is_offline(entry, server, monkeypatch):
    url = entry(nlpl_zip())
    resolve_bilm(name="test-nlpl")
    monkeypatch.setenv("SPACY_ELMO_OFFLINE", "1")
    again = resolve_bilm(name="test-nlpl")
    assert again.options.is_file()
    assert len(server.state.requests(url.replace(server.root, ""))) == 1  # fetched once


def test_manylangs_zip_loads_by_name_equal_to_the_package(entry):
    entry(manylangs_zip(), layout="manylangs")
    embedder = ElmoEmbedder("test-nlpl", state="zero")
    sentences = json.loads((MANYLANGS / "sentences.json").read_text(encoding="utf-8"))
    reference = np.load(MANYLANGS / "with_words" / "outputs.npz")
    for i, got in enumerate(embedder.embed_batch(sentences)):
        np.testing.assert_allclose(got, reference[f"s{i}"], atol=1e-5, rtol=0)


@pytest.mark.parametrize(
    "files, links, reason",
    [
        ({"../evil.txt": b"x", "options.json": b"{}"}, (), "'..' component"),
        ({"/etc/evil": b"x"}, (), "absolute path"),
        ({"a\\..\\b": b"x"}, (), "backslash"),
        ({"options.json": b"{}"}, (("model.hdf5", "/etc/passwd"),), "link"),
    ],
)
def test_unsafe_members_are_refused_and_nothing_unpacked(entry, hub_env, files, links, reason):
    url = entry(make_zip(files, links=links))
    with pytest.raises(ElmoDownloadError, match=rf"\[E430\].*{reason}"):
        resolve_bilm(name="test-nlpl")
    assert not archive_mod.unpacked_folder(url).exists()
    assert not (hub_env.parent / "evil.txt").exists()


def test_size_bound(entry, monkeypatch):
    entry(nlpl_zip())
    monkeypatch.setattr(archive_mod, "MAX_UNPACKED_BYTES", 1000)
    with pytest.raises(ElmoDownloadError, match=r"\[E431\]"):
        resolve_bilm(name="test-nlpl")


def test_not_a_zip_is_removed(entry):
    url = entry(b"<html>not found</html>" * 10)
    with pytest.raises(ElmoDownloadError, match=r"\[E432\]"):
        resolve_bilm(name="test-nlpl")
    from spacy_elmo.hub.cache import url_cache_path

    assert not url_cache_path(url).exists()


def test_archive_without_a_model(entry):
    entry(make_zip({"README": b"hello"}))
    with pytest.raises(ElmoDownloadError, match=r"\[E433\].*README"):
        resolve_bilm(name="test-nlpl")


def test_catalogue_archives_are_nlpl_urls():
    archives = [e for e in CATALOGUE.values() if e.sources[0].archive]
    assert len(archives) == 48  # 44 ELMoForManyLangs + 4 NorELMo
    for e in archives:
        number = e.name.split("-")[1]
        assert e.sources[0].archive.endswith(f"/{number}.zip")
        assert e.sources[0].archive.startswith("http://vectors.nlpl.eu/repository/")
        assert e.fact_source.startswith("https://")
