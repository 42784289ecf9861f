"""`models`, `download`, and URLs / names in the other commands (in-process typer runs)."""

import h5py
import numpy as np
import pytest
from typer.testing import CliRunner

from spacy_elmo import ElmoEmbedder
from spacy_elmo.cli import app
from spacy_elmo.errors import ElmoDownloadError
from spacy_elmo.hub import CATALOGUE

from .conftest import TINY

runner = CliRunner()


def test_models_table_offline_with_empty_cache(hub_env, monkeypatch):
    monkeypatch.setenv("SPACY_ELMO_OFFLINE", "1")
    result = runner.invoke(app, ["models"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split("|")[1].strip() == "name"
    rows = {line.split("|")[1].strip(): line for line in lines[2:]}
    assert set(rows) == {"default", *CATALOGUE}
    assert "| 1024 " in rows["original"] and "| 93.6M " in rows["original"]
    assert "| no " in rows["original"] and "| yes " in rows["default"]


def test_models_table_says_what_each_model_is_for(hub_env, monkeypatch):
    monkeypatch.setenv("SPACY_ELMO_OFFLINE", "1")
    lines = runner.invoke(app, ["models"]).stdout.splitlines()
    assert lines[0].split("|")[3].strip() == "use it for"
    use = {line.split("|")[1].strip(): line.split("|")[3].strip() for line in lines[2:]}
    assert all(use.values()), use
    assert "not for accuracy" in use["default"] and "accuracy" in use["original"]


def test_models_shows_and_filters_the_language(hub_env, monkeypatch):
    monkeypatch.setenv("SPACY_ELMO_OFFLINE", "1")
    lines = runner.invoke(app, ["models"]).stdout.splitlines()
    assert lines[0].split("|")[2].strip() == "lang"
    langs = {line.split("|")[1].strip(): line.split("|")[2].strip() for line in lines[2:]}
    assert langs["original"] == "en" and langs["nlpl-142"] == "de" and langs["nlpl-179"] == "zh"
    german = runner.invoke(app, ["models", "--lang", "de"])
    names = [line.split("|")[1].strip() for line in german.stdout.splitlines()[2:]]
    assert german.exit_code == 0 and names == ["nlpl-142"]
    none = runner.invoke(app, ["models", "--lang", "xx"])
    assert none.exit_code == 1 and "No catalogue model" in none.output


def test_download_prints_the_path_and_reuses_it_offline(hub_env, server, tiny_bytes, monkeypatch):
    url = server.serve("/w.hdf5", tiny_bytes[1])
    first = runner.invoke(app, ["download", url, "--no-progress"])
    assert first.exit_code == 0, first.output
    path = first.stdout.strip()
    assert open(path, "rb").read() == tiny_bytes[1]
    server.stop()
    monkeypatch.setenv("SPACY_ELMO_OFFLINE", "1")
    again = runner.invoke(app, ["download", url])
    assert again.exit_code == 0 and again.stdout.strip() == path


def test_embed_with_urls(hub_env, server, tiny_bytes, tmp_path):
    (tmp_path / "in.txt").write_text("Hello world .\n", encoding="utf8")
    opt_url = server.serve("/o.json", tiny_bytes[0])
    w_url = server.serve("/w.hdf5", tiny_bytes[1])
    args = ["embed", str(tmp_path / "in.txt"), str(tmp_path / "out.hdf5"), "--top"]
    args += ["--options-file", opt_url, "--weight-file", w_url, "--state", "zero"]
    result = runner.invoke(app, args + ["--no-progress"])
    assert result.exit_code == 0, result.output
    with h5py.File(tmp_path / "out.hdf5", "r") as f:
        got = f["0"][...]
    emb = ElmoEmbedder(TINY / "options.json", TINY / "weights.hdf5", state="zero")
    np.testing.assert_allclose(got, emb.embed_sentence(["Hello", "world", "."])[-1], atol=1e-6)


def test_embed_model_name_with_files_is_a_coded_error(tmp_path):
    (tmp_path / "in.txt").write_text("Hello\n", encoding="utf8")
    args = ["embed", str(tmp_path / "in.txt"), str(tmp_path / "o.hdf5"), "--top"]
    result = runner.invoke(app, args + ["--model", "small", "--weight-file", "w.hdf5"])
    assert isinstance(result.exception, ElmoDownloadError) and "[E402]" in str(result.exception)


def test_init_weights_url_folder_is_a_coded_error():
    from spacy_elmo.cli.pretrain import _init_folder

    with pytest.raises(ElmoDownloadError, match=r"\[E414\]"):
        _init_folder("https://h.example/run/")
    assert str(_init_folder("some/folder")) == "some/folder"
