"""spaCy pipelines in other languages: German, Russian (Cyrillic), Chinese (CJK, no spaces,
spaCy's default character segmenter, offline) and Arabic (right to left), on a tiny biLM
loaded by catalogue name from an NLPL-style archive served over local HTTP."""

import io
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest
import spacy

import spacy_elmo  # noqa: F401  (registers the factory)
from spacy_elmo.hub.catalogue import CATALOGUE, warn_if_other_language
from spacy_elmo.hub.entries import ModelEntry, Source

from ..hub.server import LocalServer

TINY = Path(spacy_elmo.__file__).parent / "assets" / "tiny"
TEXTS = {
    "de": ["Grüße aus Köln.", "Die Straße ist naß und kalt.", "Ja."],
    "ru": ["Привет, мир!", "Ёжик в тумане шёл домой.", "Да."],
    "zh": ["我爱北京天安门。", "今天天气很好", "好"],
    "ar": ["مرحبا بالعالم", "اللغة العربية تكتب من اليمين إلى اليسار.", "نعم"],
}


@pytest.fixture
def served_models(tmp_path, monkeypatch):
    """One catalogue entry per language, each an NLPL-style zip of the tiny biLM."""
    monkeypatch.setenv("SPACY_ELMO_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("SPACY_ELMO_OFFLINE", raising=False)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.write(TINY / "options.json", "options.json")
        zf.write(TINY / "weights.hdf5", "model.hdf5")
    with LocalServer() as server:
        for lang in TEXTS:
            url = server.serve(f"/repository/20/tiny-{lang}.zip", buffer.getvalue())
            entry = ModelEntry(
                name=f"tiny-{lang}",
                description="tiny test biLM",
                training_data="none",
                licence="MIT",
                parameters=None,
                options=None,
                sources=(Source(archive=url),),
                lang=lang,
            )
            monkeypatch.setitem(CATALOGUE, entry.name, entry)
        yield


def make_nlp(lang):
    nlp = spacy.blank(lang)
    nlp.add_pipe("elmo", config={"model": {"name": f"tiny-{lang}", "state": "zero"}})
    return nlp


@pytest.mark.parametrize("lang", list(TEXTS))
def test_vectors_shape_determinism_batch_invariance(served_models, lang):
    nlp = make_nlp(lang)
    docs = [nlp(text) for text in TEXTS[lang]]
    for doc in docs:
        assert len(doc) > 0
        assert doc._.elmo.shape == (
            len(doc),
            32,
        )  # the tiny biLM: 2P = 32 and np.isfinite(doc._.elmo).all()
    again = [nlp(text)._.elmo for text in TEXTS[lang]]
    batched = [doc._.elmo for doc in nlp.pipe(TEXTS[lang], batch_size=3)]
    for one, two, three in zip(docs, again, batched):
        np.testing.assert_array_equal(one._.elmo, two)
        np.testing.assert_allclose(one._.elmo, three, atol=1e-5, rtol=0)


def test_chinese_is_segmented_into_characters_offline(served_models):
    nlp = make_nlp("zh")
    doc = nlp("我爱北京")
    assert [t.text for t in doc] == ["我", "爱", "北", "京"]
    # Different characters get different vectors (the UTF-8 char CNN sees all of them).
    assert not np.allclose(doc._.elmo[0], doc._.elmo[1])


@pytest.mark.parametrize("lang", ["ru", "ar"])
def test_pipeline_round_trips(served_models, tmp_path, lang):
    nlp = make_nlp(lang)
    before = [nlp(text)._.elmo for text in TEXTS[lang]]
    nlp.to_disk(tmp_path / "pipeline")
    loaded = spacy.load(tmp_path / "pipeline")
    assert loaded.lang == lang
    for text, vectors in zip(TEXTS[lang], before):
        np.testing.assert_allclose(loaded(text)._.elmo, vectors, atol=1e-6, rtol=0)


def test_language_mismatch_warns_naming_both(served_models):
    with pytest.warns(UserWarning, match=r"\[W013\].*'de' text.*language is 'ru'"):
        assert warn_if_other_language("tiny-de", "ru")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert not warn_if_other_language("tiny-de", "de")
        assert not warn_if_other_language(None, "ru")  # files: no language recorded
        assert not warn_if_other_language("tiny-de", "xx")  # spaCy's multi-language class


def test_add_pipe_warns_for_a_model_of_another_language(served_models):
    nlp = spacy.blank("ru")
    with pytest.warns(UserWarning, match=r"\[W013\].*'zh' text.*language is 'ru'"):
        nlp.add_pipe("elmo", config={"model": {"name": "tiny-zh"}})
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        spacy.blank("zh").add_pipe("elmo", config={"model": {"name": "tiny-zh"}})


def test_init_config_proposes_the_models_of_the_language():
    from typer.testing import CliRunner

    from spacy_elmo.cli.app import app

    result = CliRunner().invoke(app, ["init-config", "-", "--lang", "de", "--pipeline", "ner"])
    assert result.exit_code == 0, result.output
    assert "models for 'de': nlpl-142" in result.output
    english = CliRunner().invoke(app, ["init-config", "-", "--lang", "en", "--pipeline", "ner"])
    assert "models for" not in english.output
    multi = CliRunner().invoke(app, ["init-config", "-", "--lang", "xx", "--pipeline", "ner"])
    assert "models for" not in multi.output  # spaCy's multi-language class suits the default
