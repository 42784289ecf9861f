"""The catalogue of published biLMs that can be loaded by name (``ElmoEmbedder("original")``).

Every entry was checked against public sources (docs/models.md gives them): the AllenNLP ELMo
page for the four English models (parameters, LSTM sizes, highway layers, training data), the
download URLs as used by AllenNLP, flair and SuPar, and the Hugging Face Hub listing for the
mirror. A sha256 is recorded only where a public source states it; none does for these files,
so the downloads are checked by size (Content-Length), by format (HDF5 signature, JSON) and by
architecture (every dataset shape against the options) instead.
"""

import difflib
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple

from ..errors import ElmoDownloadError, Errors

#: The embedded model shipped in the package (spacy_elmo/assets/default): no download.
DEFAULT_NAME = "default"
S3 = "https://s3-us-west-2.amazonaws.com/allennlp/models/elmo"
#: Stated with the AllenNLP/bilm-tf releases: the code is Apache-2.0; no separate licence
#: file ships with the weights.
ALLENNLP_LICENCE = "Apache-2.0 (AllenNLP release; no separate weights licence)"
ONE_BILLION = "1B Word Benchmark (~800M tokens of WMT 2011 news crawl)"


@dataclass(frozen=True)
class Source:
    """Where one copy of a model lives: ``options`` and ``weights`` are locations (URLs)."""

    options: str
    weights: str


@dataclass(frozen=True)
class ModelEntry:
    """One published biLM.

    ``options`` is the model's options.json as established from public sources (it lets
    ``models`` show widths with no network); the fetched file is compared with it (W010).
    ``sources`` are tried in order: the original host first, then mirrors.
    """

    name: str
    description: str
    training_data: str
    licence: str
    parameters: int
    options: Dict[str, Any]
    sources: Tuple[Source, ...]
    weights_sha256: Optional[str] = None
    options_sha256: Optional[str] = None
    #: Exact size of weights.hdf5 in bytes where a public source states it (else None).
    weights_bytes: Optional[int] = None
    evidence: str = ""
    aliases: Tuple[str, ...] = field(default=())
    #: What to pick it for (the "use it for" column of ``python -m spacy_elmo models``).
    use_for: str = ""

    @property
    def dims(self) -> int:
        """Width of every output layer: ``2P``."""
        return 2 * int(self.options["lstm"]["projection_dim"])

    @property
    def layers(self) -> int:
        """Number of biLSTM layers ``L`` (outputs: ``L + 1`` layers)."""
        return int(self.options["lstm"].get("n_layers", 1))

    @property
    def download_bytes(self) -> int:
        """Size of weights.hdf5: exact where known, else 4 bytes per float32 parameter (the
        files store nothing else of note)."""
        return self.weights_bytes if self.weights_bytes is not None else 4 * self.parameters


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


__all__ = ["CATALOGUE", "DEFAULT_NAME", "ModelEntry", "Source", "get_entry", "known_names"]
