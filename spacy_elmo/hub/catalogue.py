"""The catalogue of published biLMs that can be loaded by name (``ElmoEmbedder("original")``).

Every entry was checked against public sources (docs/models.md gives them): the AllenNLP ELMo
page for the four English models (parameters, LSTM sizes, highway layers, training data), the
download URLs as used by AllenNLP, flair and SuPar, and the Hugging Face Hub listing for the
mirror. A sha256 is recorded only where a public source states it; none does for these files,
so the downloads are checked by size (Content-Length), by format (HDF5 signature, JSON) and by
architecture (every dataset shape against the options) instead.
"""

import difflib
import warnings
from typing import Any, Dict, List, Optional

from ..errors import ElmoDownloadError, Errors, Warnings
from .entries import ModelEntry, Source
from .nlpl import NLPL_ENTRIES

#: The embedded model shipped in the package (spacy_elmo/assets/default): no download.
DEFAULT_NAME = "default"
# The language of the embedded default biLM.
DEFAULT_LANG = "en"
S3 = "https://s3-us-west-2.amazonaws.com/allennlp/models/elmo"
#: Stated with the AllenNLP/bilm-tf releases: the code is Apache-2.0; no separate licence
#: file ships with the weights.
ALLENNLP_LICENCE = "Apache-2.0 (AllenNLP release; no separate weights licence)"
ONE_BILLION = "1B Word Benchmark (~800M tokens of WMT 2011 news crawl)"


def _bilm_tf_options(dim: int, projection_dim: int, n_highway: int) -> Dict[str, Any]:
    """options.json of AllenNLP's English biLMs: they differ only in D, P and highways."""
    return {
        "lstm": {
            "use_skip_connections": True,
            "projection_dim": projection_dim,
            "cell_clip": 3,
            "proj_clip": 3,
            "dim": dim,
            "n_layers": 2,
        },
        "char_cnn": {
            "activation": "relu",
            "filters": [[1, 32], [2, 32], [3, 64], [4, 128], [5, 256], [6, 512], [7, 1024]],
            "n_highway": n_highway,
            "embedding": {"dim": 16},
            "n_characters": 262,
            "max_characters_per_token": 50,
        },
    }


def _s3(arch: str, weights_suffix: str = "", folder: Optional[str] = None) -> Source:
    base = f"{S3}/{folder or arch}/elmo_{arch}"
    return Source(options=f"{base}_options.json", weights=f"{base}_weights{weights_suffix}.hdf5")


_HF_ORIGINAL = (
    "hf://lysandre/elmo-2x4096_512_2048cnn_2xhighway@20d7005306acf8a4f3654740c63bafbff99ecc1b"
)

CATALOGUE: Dict[str, ModelEntry] = {
    e.name: e
    for e in (
        ModelEntry(
            name="small",
            use_for="speed first; the weakest published model",
            description="AllenNLP's small English biLM (2x1024_128_2048cnn_1xhighway)",
            training_data=ONE_BILLION,
            licence=ALLENNLP_LICENCE,
            parameters=13_593_296,
            options=_bilm_tf_options(1024, 128, 1),
            sources=(_s3("2x1024_128_2048cnn_1xhighway"),),
            evidence="AllenNLP ELMo table (13.6M, 1024/128, 1 highway); options as asserted "
            "by Texar's tests",
        ),
        ModelEntry(
            name="medium",
            use_for="a balance of speed and accuracy",
            description="AllenNLP's medium English biLM (2x2048_256_2048cnn_1xhighway)",
            training_data=ONE_BILLION,
            licence=ALLENNLP_LICENCE,
            parameters=28_027_728,
            options=_bilm_tf_options(2048, 256, 1),
            sources=(_s3("2x2048_256_2048cnn_1xhighway"),),
            evidence="AllenNLP ELMo table (28.0M, 2048/256, 1 highway); options from the "
            "file name and table (parameter count matches exactly)",
        ),
        ModelEntry(
            name="original",
            use_for="accuracy: the model of the paper",
            description="AllenNLP's original English biLM of Peters et al. 2018 "
            "(2x4096_512_2048cnn_2xhighway)",
            training_data=ONE_BILLION,
            licence=ALLENNLP_LICENCE,
            parameters=93_600_848,
            options=_bilm_tf_options(4096, 512, 2),
            sources=(
                _s3("2x4096_512_2048cnn_2xhighway"),
                Source(
                    options=f"{_HF_ORIGINAL}/options.json",
                    weights=f"{_HF_ORIGINAL}/weights.hdf5",
                ),
            ),
            evidence="AllenNLP ELMo table (93.6M, 4096/512, 2 highways); options quoted "
            "identically by several repositories; Hub mirror lysandre/elmo-2x4096_512_2048cnn_"
            "2xhighway lists weights.hdf5 at 374 MB",
        ),
        ModelEntry(
            name="original-5.5b",
            use_for="best English accuracy",
            description="AllenNLP's English biLM trained on 5.5B tokens "
            "(2x4096_512_2048cnn_2xhighway_5.5B)",
            training_data="5.5B tokens: Wikipedia (1.9B) + WMT 2008-2012 news crawl (3.6B)",
            licence=ALLENNLP_LICENCE,
            parameters=93_600_848,
            options=_bilm_tf_options(4096, 512, 2),
            sources=(_s3("2x4096_512_2048cnn_2xhighway_5.5B"),),
            evidence="AllenNLP ELMo table (93.6M, same architecture as original)",
            aliases=("5.5b", "original_5b"),
        ),
        ModelEntry(
            name="pubmed",
            use_for="biomedical text",
            description="AllenNLP's contributed biomedical biLM (2x4096_512_2048cnn_2xhighway, "
            "PubMed only)",
            training_data="PubMed text (contributed model; corpus size not published with it)",
            licence=ALLENNLP_LICENCE,
            parameters=93_600_848,
            options=_bilm_tf_options(4096, 512, 2),
            sources=(
                _s3(
                    "2x4096_512_2048cnn_2xhighway",
                    weights_suffix="_PubMed_only",
                    folder="contributed/pubmed",
                ),
            ),
            evidence="AllenNLP 'contributed' folder, URLs as used by flair's ELMoEmbeddings; "
            "architecture from the file name",
        ),
    )
}


# The NLPL repository's entries (ELMoForManyLangs and NorELMo) live in their own module:
# they are many, and their facts have other sources.
CATALOGUE.update((entry.name, entry) for entry in NLPL_ENTRIES)


def entries_for(lang: Optional[str]) -> List[ModelEntry]:
    """The catalogue entries for language ``lang`` (all of them for None)."""
    if lang is None:
        return list(CATALOGUE.values())
    return [e for e in CATALOGUE.values() if same_language(e.lang, lang)]


#: Codes that name the same language for this purpose: spaCy's Norwegian is ``nb``.
_SAME = {"no": {"no", "nb"}, "nb": {"no", "nb"}}


def same_language(model_lang: str, lang: str) -> bool:
    """Whether a model trained on ``model_lang`` suits a pipeline of language ``lang``."""
    a, b = model_lang.strip().lower(), lang.strip().lower()
    return a == b or b in _SAME.get(a, set())


def suits(model_lang: str, lang: str) -> bool:
    """Whether a model trained on ``model_lang`` suits a pipeline of language ``lang``: the
    same language, or spaCy's multi-language class (``xx``/``mul``), which suits every model."""
    return same_language(model_lang, lang) or lang.strip().lower() in ("xx", "mul")


def warn_if_other_language(name: Optional[str], lang: str) -> bool:
    """W013 when the catalogue model ``name`` was trained on another language than ``lang``
    (a pipeline's ``nlp.lang``); True if it warned. Files and unknown names say nothing:
    options.json records no language."""
    if not name:
        return False  # files (or nothing): no language is recorded for them
    if name.strip() == DEFAULT_NAME:
        model_lang = DEFAULT_LANG
    else:
        try:
            model_lang = get_entry(name).lang
        except ElmoDownloadError:
            return False  # an unknown name fails with E401 where it is loaded
    if suits(model_lang, lang):
        return False
    warnings.warn(
        Warnings.W013.format(model=name or DEFAULT_NAME, model_lang=model_lang, nlp_lang=lang)
    )
    return True


def known_names() -> List[str]:
    """Every name ``resolve_bilm`` accepts, ``default`` first."""
    return [DEFAULT_NAME, *CATALOGUE]


def get_entry(name: str) -> ModelEntry:
    """The catalogue entry called ``name`` (or one of its aliases); E401 lists close names."""
    key = name.strip().lower()
    for entry in CATALOGUE.values():
        if key == entry.name or key in entry.aliases:
            return entry
    # Only names that `python -m spacy_elmo models` shows are suggested (aliases still load).
    close = difflib.get_close_matches(key, known_names(), n=3, cutoff=0.5)
    hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    raise ElmoDownloadError(
        Errors.E401.format(name=name, close=hint, names=", ".join(known_names()))
    )


__all__ = [
    "CATALOGUE",
    "DEFAULT_NAME",
    "ModelEntry",
    "Source",
    "entries_for",
    "get_entry",
    "known_names",
    "same_language",
    "warn_if_other_language",
]
