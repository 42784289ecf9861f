"""``BiLMSource``: where a biLM's two files come from, resolved once and never changed.

A source is a pair of local paths (named by the settings, by a ``bilm_loader`` or by a saved
pipeline's folder) or the two files' bytes (a pipeline restored from bytes). Bytes are read
in memory (:class:`~spacy_elmo.weights.MemoryFile`), never written to a temporary folder.
The content digest, which keys the biLMs shared across pipelines (:mod:`spacy_elmo.shared`),
is computed at most once per source.
"""

import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Optional, Tuple, Union

from ..embedder import ElmoEmbedder
from ..errors import ElmoFormatError, Errors
from ..hub import resolve_bilm
from ..settings import BiLMSettings
from ..shared import bytes_digest, file_digest
from ..weights import MemoryFile, load_bilm
from ..weights.files import check_model_file

OPTIONS_NAME = "options.json"
WEIGHTS_NAME = "weights.hdf5"
#: The only files a serialized biLM holds; names from serialized data are checked against it.
FILE_NAMES = (OPTIONS_NAME, WEIGHTS_NAME)
PathLike = Union[str, Path]


def resolve_bilm_files(settings: BiLMSettings) -> Tuple[Path, Path]:
    """``(options.json, weights.hdf5)`` named by the settings, local: a catalogue name, two
    paths or URLs (fetched into the cache), or the embedded default model. The one place
    that turns settings into files."""
    files = resolve_bilm(
        name=settings.name, options_file=settings.options_file, weight_file=settings.weight_file
    )
    return files.options, files.weights


def check_file_names(files: Any) -> Dict[str, bytes]:
    """The ``files`` map of serialized data, if it holds exactly the two biLM files as bytes
    (E213, E215 otherwise).

    Names are used as file names when the biLM is saved: anything else (an absolute path,
    ``../``) could write outside the pipeline's folder.
    """
    names = list(files) if isinstance(files, dict) else files
    if not isinstance(files, dict) or set(files) != set(FILE_NAMES):
        raise ElmoFormatError(Errors.E213.format(names=names, expected=list(FILE_NAMES)))
    wrong = [f"{n!r} holds {type(d).__name__}" for n, d in files.items() if type(d) is not bytes]
    if wrong:
        raise ElmoFormatError(
            Errors.E215.format(
                what="the biLM files",
                problem=", ".join(wrong) + ", not bytes",
                expected="the bytes of " + " and ".join(FILE_NAMES),
            )
        )
    return dict(files)


@dataclass(frozen=True)
class BiLMSource:
    """The biLM's options.json and weights.hdf5: both paths, or both bytes."""

    options: Union[Path, bytes] = field(repr=False)
    weights: Union[Path, bytes] = field(repr=False)

    @classmethod
    def from_settings(cls, settings: BiLMSettings) -> "BiLMSource":
        """The files the settings name (URLs and catalogue names fetched into the cache)."""
        return cls.from_paths(*resolve_bilm_files(settings))

    @classmethod
    def from_paths(cls, options_file: PathLike, weight_file: PathLike) -> "BiLMSource":
        return cls(options=Path(options_file), weights=Path(weight_file))

    @classmethod
    def from_bytes(cls, files: Any) -> "BiLMSource":
        """From ``{"options.json": bytes, "weights.hdf5": bytes}`` (E213, E215 otherwise)."""
        checked = check_file_names(files)
        return cls(options=checked[OPTIONS_NAME], weights=checked[WEIGHTS_NAME])

    def __repr__(self) -> str:
        if self.paths is None:
            sizes = f"{len(self.options):,} + {len(self.weights):,} bytes"  # type: ignore[arg-type]
            return f"BiLMSource(in memory: {sizes})"
        return f"BiLMSource(options={str(self.options)!r}, weights={str(self.weights)!r})"

    @property
    def paths(self) -> Optional[Dict[str, Path]]:
        """``{"options.json": path, "weights.hdf5": path}``, or None for bytes."""
        if isinstance(self.options, Path) and isinstance(self.weights, Path):
            return {OPTIONS_NAME: self.options, WEIGHTS_NAME: self.weights}
        return None

    def check(self) -> None:
        """Coded errors (E001, E012-E015) for a path that is not a readable file."""
        if self.paths is not None:
            check_model_file(self.paths[OPTIONS_NAME], what="options file", name=OPTIONS_NAME)
            check_model_file(self.paths[WEIGHTS_NAME], what="weights file", name=WEIGHTS_NAME)

    @functools.cached_property
    def digest(self) -> str:
        """SHA-256 of both files' contents (after :meth:`check`): equal for equal files,
        from paths or from bytes alike."""
        parts = [
            bytes_digest(part) if isinstance(part, bytes) else file_digest(part)
            for part in (self.options, self.weights)
        ]
        return bytes_digest(" ".join(parts).encode("ascii"))

    def file_bytes(self) -> Dict[str, bytes]:
        """Both files' bytes, unchanged."""
        if self.paths is None:
            return {OPTIONS_NAME: self.options, WEIGHTS_NAME: self.weights}  # type: ignore
        return {name: path.read_bytes() for name, path in self.paths.items()}

    def load(self, *, state: str, device: str, precision: str) -> ElmoEmbedder:
        """A new runtime for these files. Bytes are read in memory; a damaged file among
        them is E216 (naming the file of the data)."""
        if self.paths is not None:
            options, weights = self.paths[OPTIONS_NAME], self.paths[WEIGHTS_NAME]
            return ElmoEmbedder(options, weights, state=state, device=device, precision=precision)
        options_file = MemoryFile(self.options, name=OPTIONS_NAME)  # type: ignore[arg-type]
        weights_file = MemoryFile(self.weights, name=WEIGHTS_NAME)  # type: ignore[arg-type]
        try:
            bilm = _load_in_memory(options_file, weights_file, device=device, precision=precision)
        except ElmoFormatError as e:
            raise ElmoFormatError(Errors.E216.format(error=e)) from None
        return ElmoEmbedder.from_bilm(bilm, state=state, precision=precision)


def _load_in_memory(options: MemoryFile, weights: MemoryFile, *, device: str, precision: str):
    """The biLM, loaded as :class:`ElmoEmbedder` loads one from paths: at a reduced precision
    its LSTM weights are held only in that precision."""
    if precision != "float32":
        from ..weights.lean import load_lean_bilm

        # load_lean_bilm reads through load_options / iter_weights, which take open files
        lean = load_lean_bilm(options, weights, precision=precision, device=device)  # type: ignore[arg-type]
        return lean
    return load_bilm(options, weights, device=device)
