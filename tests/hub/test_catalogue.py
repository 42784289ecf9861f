"""The catalogue is consistent: valid options, widths and parameter counts that match the
names, well-formed locations, and helpful errors for unknown names."""

import re

import pytest

from spacy_elmo.errors import ElmoDownloadError
from spacy_elmo.hub import CATALOGUE, get_entry, known_names, parse_location
from spacy_elmo.hub.table import count_parameters
from spacy_elmo.weights.options import config_from_dict

ARCH = re.compile(r"2x(\d+)_(\d+)_2048cnn_(\d)xhighway")


BILM_TF = [name for name, entry in CATALOGUE.items() if entry.options is not None]


@pytest.mark.parametrize("name", BILM_TF)
def test_entry_is_consistent(name):
    entry = CATALOGUE[name]
    config = config_from_dict(entry.options)  # raises on an invalid options dict
    config.validate()
    dim, proj, highways = map(int, ARCH.search(entry.sources[0].weights).groups())
    assert (config.lstm.dim, config.lstm.projection_dim) == (dim, proj)
    assert config.char_cnn.n_highway == highways
    assert entry.dims == 2 * proj and entry.layers == config.lstm.n_layers == 2
    assert count_parameters(entry.options) == entry.parameters
    for source in entry.sources:
        assert parse_location(source.options).is_remote
        assert parse_location(source.weights).is_remote
        assert source.options.endswith(".json") and source.weights.endswith(".hdf5")
    for sha in (entry.weights_sha256, entry.options_sha256):
        assert sha is None or re.fullmatch(r"[0-9a-f]{64}", sha)


def test_published_sizes():
    # AllenNLP's table: 13.6M / 28.0M / 93.6M parameters, ELMo widths 256 / 512 / 1024
    got = {n: (round(e.parameters / 1e6, 1), e.dims) for n, e in CATALOGUE.items() if e.parameters}
    assert got["small"] == (13.6, 256) and got["medium"] == (28.0, 512)
    assert got["original"] == got["original-5.5b"] == got["pubmed"] == (93.6, 1024)


def test_unknown_name_lists_close_names():
    with pytest.raises(ElmoDownloadError, match=r"\[E401\].*'orignal'.*Did you mean 'original'"):
        get_entry("orignal")
    assert get_entry("5.5B").name == "original-5.5b"
    assert known_names()[0] == "default"


@pytest.mark.parametrize(
    "value,kind,repo,revision,path",
    [
        ("hf://o/r/weights.hdf5", "hf", "o/r", None, "weights.hdf5"),
        ("hf://o/r@v1.0/sub/options.json", "hf", "o/r", "v1.0", "sub/options.json"),
        ("https://h.example/x/w.hdf5", "url", "", None, ""),
        ("relative/options.json", "path", "", None, ""),
    ],
)
def test_locations(value, kind, repo, revision, path):
    loc = parse_location(value)
    assert (loc.kind, loc.repo_id, loc.revision, loc.path) == (kind, repo, revision, path)


@pytest.mark.parametrize("value", ["ftp://h/x", "hf://only-owner", "hf://o/r@/x", "https://"])
def test_bad_locations(value):
    with pytest.raises(ElmoDownloadError, match=r"\[E403\]"):
        parse_location(value)


def test_every_entry_has_a_language_and_a_public_source():
    for entry in CATALOGUE.values():
        assert re.fullmatch(r"[a-z]{2,3}", entry.lang), entry.name
        assert entry.fact_source.startswith("https://"), entry.name
    assert {e.lang for e in CATALOGUE.values()} >= {"en", "de", "ru", "zh", "ar", "no"}


def test_models_for_a_language():
    from spacy_elmo.hub.catalogue import entries_for, get_entry

    assert [e.name for e in entries_for("ru")] == ["nlpl-170"]
    assert get_entry("manylangs-ru").name == "nlpl-170"
    assert {"nlpl-165", "nlpl-217"} <= {e.name for e in entries_for("nb")}  # spaCy's Norwegian
