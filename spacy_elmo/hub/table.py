"""The rows of ``python -m spacy_elmo models``: catalogue facts plus the local cache state.

Everything here works offline: widths and sizes come from the catalogue's recorded options,
"cached" from the cache folder alone.
"""

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional

from ..util import default_model_paths
from .catalogue import DEFAULT_LANG, DEFAULT_NAME, ModelEntry, entries_for, same_language
from .resolve import cached_source

#: The embedded model is small and briefly trained: it makes everything work offline.
DEFAULT_USE = "trying things, offline tests; not for accuracy"


@dataclass(frozen=True)
class ModelRow:
    name: str
    lang: str
    use_for: str
    dims: Optional[int]
    layers: Optional[int]
    parameters: Optional[int]
    download_bytes: Optional[int]
    licence: str
    cached: bool
    where: str


def count_parameters(options: Dict[str, Any]) -> int:
    """Parameters stored in a weights.hdf5 with these options, as AllenNLP's table counts
    them (built on the meta device: no memory). The module's all-zero padding row of the
    character embedding is not in the file, so it is not counted."""
    import torch

    from ..pytorch.bilm import ELMoBiLM
    from ..weights.options import config_from_dict

    config = config_from_dict(options)
    bilm = ELMoBiLM(config, device=torch.device("meta"))
    return sum(p.numel() for p in bilm.parameters()) - config.char_cnn.embedding_dim


def _entry_row(entry: ModelEntry) -> ModelRow:
    cached = next((c for c in map(cached_source, entry.sources) if c is not None), None)
    return ModelRow(
        name=entry.name,
        lang=entry.lang,
        use_for=entry.use_for,
        dims=entry.dims,
        layers=entry.layers,
        parameters=entry.parameters,
        download_bytes=entry.download_bytes,
        licence=entry.licence.split(" ")[0],
        cached=cached is not None,
        where=str(cached.options.parent) if cached is not None else entry.sources[0].where,
    )


def _default_row() -> ModelRow:
    options_path, weights_path = default_model_paths()
    options = json.loads(Path(options_path).read_text(encoding="utf8"))
    return ModelRow(
        name=DEFAULT_NAME,
        lang=DEFAULT_LANG,
        use_for=DEFAULT_USE,
        dims=2 * int(options["lstm"]["projection_dim"]),
        layers=int(options["lstm"].get("n_layers", 1)),
        parameters=count_parameters(options),
        download_bytes=0,
        licence="MIT",
        cached=True,
        where=str(Path(weights_path).parent),
    )


def model_rows(*, lang: Optional[str] = None) -> List[ModelRow]:
    """One row per model, the embedded default first; with ``lang`` only that language's."""
    rows = [_default_row(), *(_entry_row(e) for e in entries_for(lang))]
    return [r for r in rows if lang is None or same_language(r.lang, lang)]


def _known(value: Optional[int]) -> str:
    """A number, or "?" where no public source states it (the archive's files tell)."""
    return "?" if value is None else str(value)


def _download(size: Optional[int]) -> str:
    if size is None:
        return "?"
    return "embedded" if size == 0 else f"~{size / 1e6:.0f} MB"


def format_table(rows: List[ModelRow]) -> str:
    """A Markdown table (readable in a terminal too)."""
    head = [
        "name",
        "lang",
        "use it for",
        "2P",
        "layers",
        "params",
        "download",
        "licence",
        "cached",
        "where",
    ]
    body = [
        [
            r.name,
            r.lang,
            r.use_for,
            _known(r.dims),
            _known(r.layers),
            "?" if r.parameters is None else f"{r.parameters / 1e6:.1f}M",
            _download(r.download_bytes),
            r.licence,
            "yes" if r.cached else "no",
            r.where,
        ]
        for r in rows
    ]
    widths = [max(len(x) for x in col) for col in zip(head, *body)]

    def line(cells: List[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths)) + " |"

    rule = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(head), rule, *map(line, body)])


__all__ = ["ModelRow", "count_parameters", "format_table", "model_rows"]
