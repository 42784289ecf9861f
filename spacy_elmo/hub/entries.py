"""The types of catalogue entries: where a model lives (:class:`Source`) and what is known
about it (:class:`ModelEntry`). The entries themselves are in ``catalogue.py`` (AllenNLP's)
and ``nlpl.py`` (the NLPL repository's)."""

from dataclasses import dataclass, field
from typing import Any, Dict, Optional, Tuple


@dataclass(frozen=True)
class Source:
    """Where one copy of a model lives: ``options`` and ``weights`` are locations (URLs), or
    ``archive`` is the URL of a zip holding the model (NLPL repository; both others empty)."""

    options: str = ""
    weights: str = ""
    archive: str = ""

    @property
    def where(self) -> str:
        """The location shown for this source: the archive, else the weights."""
        return self.archive or self.weights


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
    #: None where no public source states it (architecture or vocabulary unknown).
    parameters: Optional[int]
    #: None where no public source gives the architecture (the archive's own file is used).
    options: Optional[Dict[str, Any]]
    sources: Tuple[Source, ...]
    weights_sha256: Optional[str] = None
    options_sha256: Optional[str] = None
    #: Exact size of weights.hdf5 in bytes where a public source states it (else None).
    weights_bytes: Optional[int] = None
    evidence: str = ""
    aliases: Tuple[str, ...] = field(default=())
    #: What to pick it for (the "use it for" column of ``python -m spacy_elmo models``).
    use_for: str = ""
    #: ISO 639 code of the language the model was trained on (spaCy's code where it has one).
    lang: str = "en"
    #: Where the facts of the entry come from (docs/models.md lists them).
    fact_source: str = "https://allennlp.org/elmo"
    #: "bilm-tf" (options.json + hdf5) or "manylangs" (an ELMoForManyLangs folder).
    layout: str = "bilm-tf"
    #: ``(2P, L)`` where a public source states them but ``options`` is None.
    arch: Optional[Tuple[int, int]] = None

    @property
    def dims(self) -> Optional[int]:
        """Width of every output layer: ``2P`` (None: not published)."""
        if self.options is None:
            return None if self.arch is None else self.arch[0]
        return 2 * int(self.options["lstm"]["projection_dim"])

    @property
    def layers(self) -> Optional[int]:
        """Number of biLSTM layers ``L`` (outputs: ``L + 1`` layers; None: not published)."""
        if self.options is None:
            return None if self.arch is None else self.arch[1]
        return int(self.options["lstm"].get("n_layers", 1))

    @property
    def download_bytes(self) -> Optional[int]:
        """Size of weights.hdf5: exact where known, else 4 bytes per float32 parameter (the
        files store nothing else of note); None where neither is known."""
        if self.weights_bytes is not None:
            return self.weights_bytes
        return None if self.parameters is None else 4 * self.parameters


__all__ = ["ModelEntry", "Source"]
