"""Model files held in memory: the bytes of a saved pipeline's options.json and weights.hdf5
are read where they are, never written to a temporary folder to be read back.

:func:`~spacy_elmo.weights.load_options`, :func:`~spacy_elmo.weights.load_bilm` and the
other readers take a :class:`MemoryFile` wherever they take a path, and run every check
they run on a file (size bounds, links, presence, shapes, dtypes, finiteness); their
messages name the file by the :class:`MemoryFile`'s ``name``.
"""

import io
from pathlib import Path
from typing import BinaryIO, Union

#: A model file: a path, or an open binary file such as a :class:`MemoryFile`.
ModelFile = Union[str, Path, BinaryIO]


class MemoryFile(io.BytesIO):
    """The bytes of a model file, with the name its error messages give (h5py opens
    a seekable file object as it opens a file on disk)."""

    def __init__(self, data: bytes, *, name: str) -> None:
        super().__init__(data)
        self.name = name


def is_file_object(source: object) -> bool:
    """Whether ``source`` is an open file rather than a path."""
    return hasattr(source, "read") and hasattr(source, "seek")


def file_label(source: ModelFile) -> Path:
    """How messages name ``source``: its path, or an open file's ``name``."""
    if is_file_object(source):
        return Path(str(getattr(source, "name", "<file in memory>")))
    return Path(source)  # type: ignore[arg-type]
