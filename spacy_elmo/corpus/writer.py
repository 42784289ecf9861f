"""HDF5 output of ``embed``: chunk files while running, AllenNLP's layout at the end.

The final file has AllenNLP's ``elmo`` command layout:

* one float32 dataset per input line, keyed ``str(line_index)`` (from 0, as AllenNLP does)
  or, with ``use_sentence_keys``, by the sentence with ``/`` written ``$SLASH$``; shape
  ``(L + 1, n_tokens, 2P)`` for ``all``, ``(n_tokens, 2P)`` for ``top`` and ``average``;
* unless ``forget_sentences`` or ``use_sentence_keys``: ``sentence_to_index``, a 1-d dataset
  of JSON strings, each an object ``{sentence: "line_index"}`` for consecutive lines. An
  input whose JSON fits in one piece (:data:`INDEX_PIECE_BYTES`) has exactly one element,
  AllenNLP's layout; a larger input has several, so no piece needs the whole input in memory.
  Read it as ``index = {}; [index.update(json.loads(p)) for p in f["sentence_to_index"]]``
  (a sentence that occurs twice maps to its last line, as in AllenNLP).

While running, every saved piece of work is a small HDF5 file of its own (written under a
temporary name, then renamed): its lines, their digest and their vectors. A chunk file that
exists is complete, which is what makes a killed run resumable. Lines are stored as their
UTF-8 bytes, joined by ``\\n`` (a line never holds one), because HDF5's variable-length
strings cannot hold a NUL character and a line may.

No file records when it was written (HDF5's object times are off), so the same input and
settings give byte-identical files.
"""

import hashlib
import json
import os
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

import h5py
import numpy as np

from ..errors import ElmoInputError, Errors

#: Size at which ``sentence_to_index`` starts a new JSON piece.
INDEX_PIECE_BYTES = 16 * 2**20
#: HDF5's metadata cache per file written (its default grows to 32 MiB on files with many
#: datasets; a few MiB keep writing just as fast).
METADATA_CACHE_BYTES = 4 * 2**20
#: Datasets written to the final file between a close and a reopen (see :func:`merge_chunks`).
REOPEN_EVERY = 50_000
OUTPUT_FORMATS = ("all", "top", "average")


def dataset_key(line: str, index: int, *, use_sentence_keys: bool) -> str:
    return line.replace("/", "$SLASH$") if use_sentence_keys else str(index)


def lines_digest(lines: Sequence[str]) -> str:
    """sha256 of the lines (each UTF-8, ``\\n``-terminated)."""
    h = hashlib.sha256()
    for line in lines:
        h.update(line.encode("utf8", "surrogatepass"))
        h.update(b"\n")
    return h.hexdigest()


def reduce_layers(layers: np.ndarray, output_format: str) -> np.ndarray:
    """``(L + 1, n, 2P)`` -> what ``output_format`` stores."""
    if output_format == "top":
        return layers[-1]
    if output_format == "average":
        return layers.mean(axis=0)
    return layers


def check_unique(lines: Sequence[str]) -> None:
    """E107 for the first line that occurs twice (``use_sentence_keys`` keys by sentence)."""
    if len(set(lines)) < len(lines):
        seen = set()
        for line in lines:
            if line in seen:
                raise ElmoInputError(Errors.E107.format(sentence=line))
            seen.add(line)


class ChunkWriter:
    """Writes one chunk file, lines ``first``, ``first + 1``, ...: call :meth:`add` for
    every line (any order), then :meth:`commit` with the lines. Until then the chunk exists
    only under a temporary name."""

    def __init__(self, path: Path, *, first: int, use_sentence_keys: bool):
        self.path = path
        self.tmp = path.with_name(f"{path.name}.tmp-{os.getpid()}")
        self.first = first
        self.use_sentence_keys = use_sentence_keys
        self.file = _create(self.tmp)
        self.vectors = h5py.Group(h5py.h5g.create(self.file.id, b"vectors", gcpl=_no_times()))

    def add(self, index: int, line: str, array: np.ndarray) -> None:
        """Store the vectors of ``line``, line ``index`` of the input (from 0)."""
        key = dataset_key(line, index, use_sentence_keys=self.use_sentence_keys)
        array = np.ascontiguousarray(array, dtype=np.float32)
        _write_dataset(self.vectors.id, key.encode("utf8", "surrogatepass"), array)

    def commit(
        self, lines: Sequence[str], state: Optional[Tuple[np.ndarray, np.ndarray]] = None
    ) -> None:
        """Record ``lines`` (the ones added, in input order), close the file, flush it to
        disk and give it its final name. ``state``: the carried LSTM state after these lines
        (``state="stateful"`` only)."""
        f = self.file
        f.attrs["first"] = self.first
        f.attrs["n_lines"] = len(lines)
        f.attrs["digest"] = lines_digest(lines)
        joined = "\n".join(lines).encode("utf8", "surrogatepass")
        _write_array(f.id, b"lines", np.frombuffer(joined, dtype=np.uint8))
        if state is not None:
            _write_array(f.id, b"state_h", np.ascontiguousarray(state[0]))
            _write_array(f.id, b"state_c", np.ascontiguousarray(state[1]))
        f.close()
        _fsync(self.tmp)
        os.replace(self.tmp, self.path)

    def abort(self) -> None:
        self.file.close()
        self.tmp.unlink(missing_ok=True)


def read_chunk_info(path: Path) -> Tuple[int, int, str]:
    """``(first, n_lines, digest)`` of a committed chunk file."""
    with h5py.File(path, "r") as f:
        return int(f.attrs["first"]), int(f.attrs["n_lines"]), str(f.attrs["digest"])


def read_chunk_state(path: Path) -> Optional[Tuple[np.ndarray, np.ndarray]]:
    with h5py.File(path, "r") as f:
        if "state_h" not in f:
            return None
        return f["state_h"][...], f["state_c"][...]


def merge_chunks(
    chunk_paths: Sequence[Path],
    tmp_output: Path,
    *,
    use_sentence_keys: bool,
    write_index: bool,
    index_piece_bytes: int = INDEX_PIECE_BYTES,
    reopen_every: int = REOPEN_EVERY,
) -> int:
    """Write the final file from the chunk files, in line order. Memory: one chunk's lines,
    one ``sentence_to_index`` piece and libhdf5's bookkeeping for at most ``reopen_every``
    new datasets (the output is closed and reopened after that many).

    :returns: Number of lines written.
    """
    n = since_reopen = 0
    out = _create(tmp_output)
    index = _IndexWriter(out, index_piece_bytes) if write_index else None
    try:
        for path in chunk_paths:
            n_lines = _copy_chunk(path, out, index, use_sentence_keys=use_sentence_keys)
            n += n_lines
            since_reopen += n_lines
            if since_reopen >= reopen_every:
                # libhdf5 keeps bookkeeping for every object created while a file is open
                # (~45 MB per million datasets, measured), released only on close.
                out.close()
                out = _open_for_append(tmp_output)
                since_reopen = 0
        if index is not None:
            index.close(out)
    finally:
        out.close()
    _fsync(tmp_output)
    return n


def _copy_chunk(
    path: Path, out: h5py.File, index: Optional["_IndexWriter"], *, use_sentence_keys: bool
) -> int:
    """Copy one chunk file's vectors into ``out`` (and its lines into the index)."""
    with h5py.File(path, "r") as chunk:
        lines = _read_lines(chunk)
        first = int(chunk.attrs["first"])
        for i, line in enumerate(lines):
            key = dataset_key(line, first + i, use_sentence_keys=use_sentence_keys)
            if use_sentence_keys and key in out:
                raise ElmoInputError(Errors.E107.format(sentence=line))
            name = key.encode("utf8", "surrogatepass")
            _copy_dataset(chunk.id, b"vectors/" + name, out.id, name)
            if index is not None:
                index.add(out, line, first + i)
    return len(lines)


def _read_lines(chunk: h5py.File) -> List[str]:
    if int(chunk.attrs["n_lines"]) == 0:
        return []
    return chunk["lines"][...].tobytes().decode("utf8", "surrogatepass").split("\n")


def _create(path: Path) -> h5py.File:
    """A new HDF5 file in the format of HDF5 1.8 (readable by any HDF5 since 2008): its
    groups index links in a B-tree of its own, and libhdf5's memory stays flat however many
    datasets a file holds (the older format's grew by about 100 bytes per dataset). The root
    group records no times, so two runs write the same bytes."""
    fapl = h5py.h5p.create(h5py.h5p.FILE_ACCESS)
    fapl.set_libver_bounds(h5py.h5f.LIBVER_V18, h5py.h5f.LIBVER_V18)
    fcpl = h5py.h5p.create(h5py.h5p.FILE_CREATE)
    fcpl.set_obj_track_times(False)
    fid = h5py.h5f.create(os.fsencode(path), h5py.h5f.ACC_TRUNC, fcpl=fcpl, fapl=fapl)
    return _small_metadata_cache(h5py.File(fid))


def _no_times(kind: Any = h5py.h5p.GROUP_CREATE) -> Any:
    """A creation property list whose object records no times (HDF5 stores the creation
    and modification times in every object's header by default)."""
    plist = h5py.h5p.create(kind)
    plist.set_obj_track_times(False)
    return plist


_DATASET_NO_TIMES = _no_times(h5py.h5p.DATASET_CREATE)  # one list serves every dataset


def _open_for_append(path: Path) -> h5py.File:
    return _small_metadata_cache(h5py.File(path, "a", libver=("v108", "v108")))


def _small_metadata_cache(f: h5py.File) -> h5py.File:
    config = f.id.get_mdc_config()
    config.set_initial_size = True
    config.initial_size = config.min_size = 2**20
    config.max_size = METADATA_CACHE_BYTES
    f.id.set_mdc_config(config)
    return f


def _write_dataset(group: h5py.h5g.GroupID, name: bytes, array: np.ndarray) -> None:
    """What ``group.create_dataset(name, data=array)`` stores (a contiguous little-endian
    float32 dataset), through h5py's low-level API, without its per-call Python overhead."""
    _write_array(group, name, array, h5py.h5t.IEEE_F32LE)


def _write_array(
    group: h5py.h5g.GroupID, name: bytes, array: np.ndarray, dtype: Any = None
) -> None:
    """A contiguous dataset holding ``array``, without times (``dtype``: the file's type;
    default the array's own)."""
    space = h5py.h5s.create_simple(array.shape)
    file_type = dtype if dtype is not None else h5py.h5t.py_create(array.dtype)
    dataset = h5py.h5d.create(group, name, file_type, space, dcpl=_DATASET_NO_TIMES)
    dataset.write(h5py.h5s.ALL, h5py.h5s.ALL, array)


def _copy_dataset(src: h5py.h5g.GroupID, src_name: bytes, dst: h5py.h5g.GroupID, name: bytes):
    """Read and write rather than H5Ocopy: as fast here, and libhdf5 kept about a quarter
    less memory over 200k copies."""
    dataset = h5py.h5d.open(src, src_name)
    array = np.empty(dataset.shape, dtype=np.float32)
    dataset.read(h5py.h5s.ALL, h5py.h5s.ALL, array)
    _write_dataset(dst, name, array)


class _IndexWriter:
    """``sentence_to_index`` in JSON pieces of about ``piece_bytes`` each, built as UTF-8
    text (no dict: a repeated sentence appears twice in a piece and ``json.loads`` keeps the
    last one, as a dict would), so a piece costs its own size in memory. The file is passed
    to every call because :func:`merge_chunks` reopens it now and then."""

    NAME = "sentence_to_index"

    def __init__(self, out: h5py.File, piece_bytes: int):
        out.create_dataset(
            self.NAME,
            (0,),
            maxshape=(None,),
            dtype=h5py.string_dtype(),
            chunks=(1,),
            track_times=False,
        )
        self.piece_bytes = piece_bytes
        self.piece = bytearray()

    def add(self, out: h5py.File, line: str, index: int) -> None:
        self.piece += b", " if self.piece else b"{"
        self.piece += json.dumps(line).encode("ascii")
        self.piece += b': "%d"' % index
        if len(self.piece) >= self.piece_bytes:
            self._flush(out)

    def _flush(self, out: h5py.File) -> None:
        ds = out[self.NAME]
        n = ds.shape[0]
        ds.resize((n + 1,))
        self.piece += b"}" if self.piece else b"{}"
        ds[n] = bytes(self.piece)
        self.piece = bytearray()

    def close(self, out: h5py.File) -> None:
        if self.piece or out[self.NAME].shape[0] == 0:
            self._flush(out)


def read_index(f: h5py.File) -> Dict[str, str]:
    """The whole ``sentence_to_index`` of an output file, from all of its pieces."""
    index: Dict[str, str] = {}
    for piece in f["sentence_to_index"]:
        index.update(json.loads(piece))
    return index


def iter_datasets(f: h5py.File) -> Iterator[Tuple[str, np.ndarray]]:
    """Every vectors dataset of an output file (not ``sentence_to_index``)."""
    for key in f:
        if key != "sentence_to_index":
            yield key, f[key][...]


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
