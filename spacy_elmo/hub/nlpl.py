"""Catalogue entries of the NLPL word-embeddings repository (http://vectors.nlpl.eu/repository):
zip archives, each under its repository ID.

Facts and their sources (docs/models.md repeats them per entry):

* ELMoForManyLangs (IDs 136-179, repository version 11): the language of each ID and its
  download URL ``http://vectors.nlpl.eu/repository/11/<ID>.zip`` are those of the download
  table of https://github.com/HIT-SCIR/ELMoForManyLangs (README, "Downloads"); the training
  data ("20-million-words data randomly sampled from the raw text released by the [CoNLL 2018]
  shared task (wikidump + common crawl) for each language") and the architecture ("the same
  hyperparameter settings as Peters et al. (2018)": its bundled
  cnn_50_100_512_4096_sample.json, projection 512, 2 layers, so 2P = 1024) from the same
  README; the licence is that repository's LICENSE (MIT; no separate licence is stated for
  the weights). Vocabulary sizes are not published, so neither are parameter counts.
* NorELMo (IDs 210, 211, 217, 218, repository version 2.0): IDs and training corpora from
  https://wiki.nlpl.eu/Vectors/norlm/elmo ("NorELMo"), the URL form
  ``http://vectors.nlpl.eu/repository/20/<ID>.zip`` as the NorLM pages link their
  repository entries (e.g. NorBERT, ID 216). Architecture and licence are not stated there:
  the archive's own options.json is used, and the licence column says "see source".
"""

from typing import Dict, List, Tuple

from .entries import ModelEntry, Source

MANYLANGS_README = "https://github.com/HIT-SCIR/ELMoForManyLangs#downloads"
NORELMO_PAGE = "https://wiki.nlpl.eu/Vectors/norlm/elmo"
MANYLANGS_DATA = (
    "20M words sampled from the CoNLL 2018 shared task raw text (Wikipedia dump + Common Crawl)"
)
MANYLANGS_LICENCE = "MIT (ELMoForManyLangs repository licence; no separate weights licence)"

#: (NLPL ID, spaCy / ISO 639 code, language) as in the ELMoForManyLangs download table.
MANYLANGS: Tuple[Tuple[int, str, str], ...] = (
    (136, "ar", "Arabic"),
    (137, "bg", "Bulgarian"),
    (138, "ca", "Catalan"),
    (139, "cs", "Czech"),
    (140, "cu", "Old Church Slavonic"),
    (141, "da", "Danish"),
    (142, "de", "German"),
    (143, "el", "Greek"),
    (144, "en", "English"),
    (145, "es", "Spanish"),
    (146, "et", "Estonian"),
    (147, "eu", "Basque"),
    (148, "fa", "Persian"),
    (149, "fi", "Finnish"),
    (150, "fr", "French"),
    (151, "ga", "Irish"),
    (152, "gl", "Galician"),
    (153, "grc", "Ancient Greek"),
    (154, "he", "Hebrew"),
    (155, "hi", "Hindi"),
    (156, "hr", "Croatian"),
    (157, "hu", "Hungarian"),
    (158, "id", "Indonesian"),
    (159, "it", "Italian"),
    (160, "ja", "Japanese"),
    (161, "ko", "Korean"),
    (162, "la", "Latin"),
    (163, "lv", "Latvian"),
    (164, "nl", "Dutch"),
    (165, "nb", "Norwegian Bokmål"),
    (166, "nn", "Norwegian Nynorsk"),
    (167, "pl", "Polish"),
    (168, "pt", "Portuguese"),
    (169, "ro", "Romanian"),
    (170, "ru", "Russian"),
    (171, "sk", "Slovak"),
    (172, "sl", "Slovene"),
    (173, "sv", "Swedish"),
    (174, "tr", "Turkish"),
    (175, "ug", "Uyghur"),
    (176, "uk", "Ukrainian"),
    (177, "ur", "Urdu"),
    (178, "vi", "Vietnamese"),
    (179, "zh", "Chinese (traditional, Wikipedia)"),
)

#: (NLPL ID, alias, training data) from the NorELMo page.
NORELMO: Tuple[Tuple[int, str, str], ...] = (
    (210, "norelmo-lemmas", "lemmatized Norwegian Wikipedia (Sept. 2020), ~160M words"),
    (211, "norelmo-wiki", "tokenized Norwegian Wikipedia (Sept. 2020), ~160M words"),
    (217, "norelmo30", "NorBERT corpus (Wikipedia + Norsk Aviskorpus), 30k target words"),
    (218, "norelmo100", "NorBERT corpus (Wikipedia + Norsk Aviskorpus), 100k target words"),
)


def _manylangs(nlpl_id: int, lang: str, language: str) -> ModelEntry:
    return ModelEntry(
        name=f"nlpl-{nlpl_id}",
        aliases=(f"manylangs-{lang}",),
        use_for=f"{language} (ELMoForManyLangs)",
        description=f"ELMoForManyLangs {language} biLM (HIT-SCIR, CoNLL 2018)",
        training_data=MANYLANGS_DATA,
        licence=MANYLANGS_LICENCE,
        parameters=None,
        options=None,
        arch=(1024, 2),
        sources=(Source(archive=f"http://vectors.nlpl.eu/repository/11/{nlpl_id}.zip"),),
        lang=lang,
        fact_source=MANYLANGS_README,
        layout="manylangs",
        evidence="ELMoForManyLangs README download table (language -> NLPL ID/URL), "
        "technique details (data, hyperparameters), LICENSE (MIT)",
    )


def _norelmo(nlpl_id: int, alias: str, data: str) -> ModelEntry:
    return ModelEntry(
        name=f"nlpl-{nlpl_id}",
        aliases=(alias,),
        use_for="Norwegian (NorELMo)",
        description=f"NorELMo Norwegian biLM, NLPL repository ID {nlpl_id}",
        training_data=data,
        licence="see source (not stated on the NorELMo page)",
        parameters=None,
        options=None,
        sources=(Source(archive=f"http://vectors.nlpl.eu/repository/20/{nlpl_id}.zip"),),
        lang="no",
        fact_source=NORELMO_PAGE,
        evidence="NLPL NorELMo page (IDs, corpora)",
    )


NLPL_ENTRIES: List[ModelEntry] = [
    *(_manylangs(*row) for row in MANYLANGS),
    *(_norelmo(*row) for row in NORELMO),
]
#: Language name of every code used above (the ``models`` table and docs).
LANGUAGE_NAMES: Dict[str, str] = {
    "en": "English",
    "no": "Norwegian",
    **{code: name for _, code, name in MANYLANGS},
}

__all__ = ["LANGUAGE_NAMES", "MANYLANGS", "NLPL_ENTRIES", "NORELMO"]
