"""``ElmoShim``: holds the frozen biLM (through :class:`~spacy_elmo.ElmoEmbedder`) inside a
thinc model and carries its original files through serialization.

The files are the source of truth: ``to_bytes``/``to_disk`` copy the original options.json
and weights.hdf5 bytes unchanged, so a saved pipeline gives bit-identical vectors and needs
neither the original paths nor a network. The embedder is loaded lazily, on first use.

Every file is written to a fresh temporary file in its folder and moved into place with
``os.replace``: a link at the destination is replaced, never written through, and a write
cut short leaves the old file. Serialized data is read with coded errors (E215, E216).
"""

import copy
import hashlib
import os
import secrets
import shutil
import tempfile
import threading
import weakref
from pathlib import Path
from typing import Any, BinaryIO, Callable, Dict, Mapping, Optional, Tuple, Union

import srsly
from thinc.api import Ops, Shim, get_ops

from ..embedder import ElmoEmbedder
from ..errors import ElmoFormatError, ElmoInputError, Errors
from ..hub import resolve_bilm
from ..memory import check_fits, device_memory, host_memory
from ..settings import BiLMSettings, as_dict, from_kwargs
from .cache import LayerCache
from .device import device_for

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
    """The ``files`` map of serialized data, if it holds exactly the two biLM files as bytes.

    Names are used as file names when the biLM is loaded or saved: anything else (an
    absolute path, ``../``) could write outside the pipeline's folder.
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


def read_serialized(data: Any, *, what: str, expected: Mapping[str, type]) -> Dict[str, Any]:
    """The dict that the msgpack bytes ``data`` hold, with a value of the given type for
    every key of ``expected`` (other keys are ignored, for data of later versions); E215 for
    anything else: not bytes, not msgpack, cut short, or another shape."""
    shape = " and ".join(f"{key!r} ({kind.__name__})" for key, kind in expected.items())

    def fail(problem: str) -> ElmoFormatError:
        return ElmoFormatError(Errors.E215.format(what=what, problem=problem, expected=shape))

    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise fail(f"got {type(data).__name__}, not bytes")
    try:
        msg = srsly.msgpack_loads(bytes(data))
    # Any exception: the decoder raises FormatError (often with no message), ValueError
    # (cut short), TypeError (unhashable keys) and more on bytes it was not meant for.
    except Exception as e:
        raise fail(f"not valid msgpack ({type(e).__name__}: {str(e) or 'no details'})") from None
    if not isinstance(msg, dict):
        raise fail(f"it holds {type(msg).__name__}, not a dict")
    for key, kind in expected.items():
        if not isinstance(msg.get(key), kind):
            found = "nothing" if key not in msg else type(msg[key]).__name__
            raise fail(f"{key!r} holds {found}, not {kind.__name__}")
    return msg


def replace_file(dest: Path, write: Callable[[BinaryIO], object]) -> None:
    """Give ``dest`` the content ``write`` writes, through a fresh temporary file in its
    folder and ``os.replace``: a link at ``dest`` is replaced, never written through, and a
    write cut short (a crash, a kill, a full disk) leaves the old file. E217 on failure."""
    tmp = dest.with_name(f".{dest.name}.{secrets.token_hex(8)}.tmp")
    created = False
    try:
        # O_EXCL: never opens a file or a link already at that name; mode 0o666 lets the
        # umask set the permissions, as for any new file.
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
        created = True
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, dest)
        created = False
    except OSError as e:
        raise ElmoInputError(Errors.E217.format(path=dest, error=e)) from e
    finally:
        if created:
            tmp.unlink(missing_ok=True)


def replace_file_bytes(dest: Path, data: bytes) -> None:
    """:func:`replace_file` with ``data``."""
    replace_file(dest, lambda f: f.write(data))


def real_folder(path: Path) -> Path:
    """``path`` as a real folder: a link there is removed (not what it points to) and a
    folder made in its place, so that nothing is written into a folder elsewhere."""
    try:
        if path.is_symlink():
            path.unlink()
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ElmoInputError(Errors.E217.format(path=path, error=e)) from e
    return path


def check_setting_sizes(settings: BiLMSettings, embedder: ElmoEmbedder) -> None:
    """E115 for a size-like setting that could never fit in memory, now that the biLM's
    widths are known. Every token of the layer cache, and of a biLM call, is
    ``(L + 1) * 2P`` float32 values: cached layers live on the host, a call's layers on the
    biLM's device and then on the host."""
    n_layers, width = embedder.n_layers, embedder.output_dim
    host = ("cpu", host_memory())
    places = [host]
    if embedder.device.type != "cpu":
        places.append((str(embedder.device), device_memory(embedder.device)))
    default = BiLMSettings()
    sizes = [
        ("cache_size", settings.cache_size, default.cache_size, [host]),
        ("max_batch_tokens", settings.max_batch_tokens, default.max_batch_tokens, places),
        ("max_sentence_length", settings.max_sentence_length, default.max_sentence_length, places),
        (
            "window + 2 * overlap",
            settings.window + 2 * settings.overlap,
            default.window + 2 * default.overlap,
            places,
        ),
    ]
    for name, value, default_value, where in sizes:
        for device, memory in where:
            check_fits(
                name,
                value,
                item_bytes=4 * n_layers * width,
                what=f"{n_layers} layers x {width} float32 values per token",
                device=device,
                memory=memory,
                advice=f" in [components.elmo.model] (default {default_value:,})",
            )


# Loaded biLMs shared by every pipeline of the process that uses files with the same content
# (from a path or from bytes) with the same state and device (deterministic states only), so
# many components and pipelines do not each hold and warm up a copy, and a pipeline restored
# from bytes or disk computes exactly what the one it was saved from does.
_LOADED: "weakref.WeakValueDictionary[tuple, ElmoEmbedder]" = weakref.WeakValueDictionary()
_LOAD_LOCK = threading.Lock()


# (resolved path, size, mtime) -> sha256, so a file is hashed once however many pipelines load it
_FILE_DIGESTS: Dict[tuple, str] = {}


def _digest(source: Union[Path, bytes]) -> str:
    if isinstance(source, bytes):
        return hashlib.sha256(source).hexdigest()
    stat = source.stat()
    key = (str(source.resolve()), stat.st_size, stat.st_mtime_ns)
    if key not in _FILE_DIGESTS:
        digest = hashlib.sha256()
        with source.open("rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
        _FILE_DIGESTS[key] = digest.hexdigest()
    return _FILE_DIGESTS[key]


class ElmoShim(Shim):
    """A thinc shim around a lazily loaded :class:`ElmoEmbedder` and its :class:`LayerCache`.

    ``settings`` say which biLM and how it runs. Its files come from one source: the
    settings (resolved when first needed), explicit paths (``from_disk``, a ``bilm_loader``)
    or in-memory file bytes (``from_bytes``).
    """

    def __init__(self, settings: BiLMSettings, ops: Ops):
        super().__init__(None, config={})
        self.settings = settings
        self.ops = ops
        self.files: Optional[Dict[str, Path]] = None
        self.blobs: Optional[Dict[str, bytes]] = None
        self._model: Optional[ElmoEmbedder] = None
        self.cache = LayerCache(settings.cache_size)
        #: Set once the model runs in training mode; inference alone does not cache.
        self.cache_active = False
        #: The settings and biLM whose sizes were last checked (E115).
        self._sizes_checked: Optional[Tuple[BiLMSettings, ElmoEmbedder]] = None

    # --- source ------------------------------------------------------------------------
    def set_files(self, options_file: PathLike, weight_file: PathLike) -> None:
        """Use these files instead of those the settings name; drops a loaded biLM."""
        self.files = {OPTIONS_NAME: Path(options_file), WEIGHTS_NAME: Path(weight_file)}
        self.blobs = None
        self._unload()

    def set_blobs(self, files: Any) -> None:
        """Use these file contents (``{"options.json": bytes, "weights.hdf5": bytes}``)."""
        self.blobs = check_file_names(files)
        self.files = None
        self._unload()

    def configure(self, settings: BiLMSettings) -> None:
        """Use these settings; a loaded biLM is kept if files, state, device and precision
        are the same."""
        old, self.settings = self.settings, settings
        if _load_key(old) != _load_key(settings):
            self._model = None
        self.cache.max_tokens = settings.cache_size
        self.cache.clear()

    def source_files(self) -> Dict[str, Path]:
        """The biLM's file paths (explicit, else resolved from the settings)."""
        if self.files is not None:
            return self.files
        options, weights = resolve_bilm_files(self.settings)
        return {OPTIONS_NAME: options, WEIGHTS_NAME: weights}

    def _unload(self) -> None:
        self._model = None
        self.cache.clear()

    @property
    def loaded(self) -> bool:
        return self._model is not None

    @property
    def device(self) -> str:
        """The torch device the biLM runs on (see :mod:`.device`)."""
        return device_for(self.settings.device, self.ops)

    @property
    def embedder(self) -> ElmoEmbedder:
        """The runtime, loaded on first access; E115 for settings too large for memory."""
        model = self._model if self._model is not None else self._shared_embedder()
        checked = self._sizes_checked
        if checked is None or checked[0] is not self.settings or checked[1] is not model:
            check_setting_sizes(self.settings, model)
            self._sizes_checked = (self.settings, model)
        return model

    def _shared_embedder(self) -> ElmoEmbedder:
        # One lock for look-up-and-load: threads that reach a fresh pipeline at once share one
        # loaded (and warmed-up) biLM instead of each building its own.
        with _LOAD_LOCK:
            state, precision = self.settings.state, self.settings.precision
            device = self.device
            if self._model is not None:  # loaded by another thread while this one waited
                return self._model
            if state == "stateful":  # carries per-row state: never shared
                self._model = self._load(state, device, precision)
                return self._model
            sources = self.blobs if self.blobs is not None else self.source_files()
            if not all(isinstance(s, bytes) or s.is_file() for s in sources.values()):
                return self._load(state, device, precision)  # raises the coded error (E001)
            key = (
                _digest(sources[OPTIONS_NAME]),
                _digest(sources[WEIGHTS_NAME]),
                state,
                device,
                precision,
            )
            embedder = _LOADED.get(key)
            if embedder is None:
                embedder = self._load(state, device, precision)
                _LOADED[key] = embedder
            self._model = embedder
            return self._model

    def _load(self, state: str, device: str, precision: str) -> ElmoEmbedder:
        def load(folder: Dict[str, Path]) -> ElmoEmbedder:
            options, weights = folder[OPTIONS_NAME], folder[WEIGHTS_NAME]
            return ElmoEmbedder(options, weights, state=state, device=device, precision=precision)

        if self.blobs is None:
            return load(self.source_files())
        with tempfile.TemporaryDirectory() as tmp:
            self._write_blobs(Path(tmp))
            try:
                return load({name: Path(tmp) / name for name in FILE_NAMES})
            except ElmoFormatError as e:  # name the data's file, not the temporary one
                error = str(e).replace(str(Path(tmp)) + os.sep, "")
                raise ElmoFormatError(Errors.E216.format(error=error)) from None

    # --- thinc Shim API (the biLM is frozen: no training hooks) ------------------------------
    def __call__(self, inputs, is_train):  # pragma: no cover - not called by thinc here
        raise NotImplementedError

    def finish_update(self, optimizer) -> None:
        return None

    def to_device(self, device_type: str, device_id: int) -> None:
        """``model.to_gpu(N)`` / ``model.to_cpu()``: with ``device = "auto"`` the biLM
        follows (it is moved when next used)."""
        ops = get_ops("cupy", device_id=device_id) if device_type == "gpu" else get_ops("numpy")
        if self.settings.device == "auto" and (ops.name, ops.device_id) != (
            self.ops.name,
            self.ops.device_id,
        ):
            self._model = None
        self.ops = ops

    def copy(self) -> "ElmoShim":
        new = copy.copy(self)
        new.cache = LayerCache(self.settings.cache_size)
        new.cache_active = False
        # The biLM is frozen, so copies share it; only a stateful one carries its own state.
        stateful = self.settings.state == "stateful"
        new._model = copy.deepcopy(self._model) if stateful else self._model
        return new

    # --- serialization -------------------------------------------------------------------
    def file_bytes(self) -> Dict[str, bytes]:
        if self.blobs is not None:
            return dict(self.blobs)
        return {name: path.read_bytes() for name, path in self.source_files().items()}

    def to_bytes(self) -> bytes:
        return srsly.msgpack_dumps({"settings": as_dict(self.settings), "files": self.file_bytes()})

    def from_bytes(self, data: bytes) -> "ElmoShim":
        expected = {"settings": dict, "files": dict}
        msg = read_serialized(data, what="an ElmoLayers model", expected=expected)
        files = check_file_names(msg["files"])  # before anything else is used
        self.configure(from_kwargs(BiLMSettings, msg["settings"]))
        self.set_blobs(files)
        self.cache = LayerCache(self.settings.cache_size)
        self.cache_active = False
        return self

    def write_files(self, path: Path) -> None:
        """Write options.json and weights.hdf5 into the directory ``path``, byte for byte.
        Links at ``path`` or at the files are replaced, never written through."""
        real_folder(path)
        if self.blobs is not None:
            self._write_blobs(path)
            return
        for name, src in self.source_files().items():
            dest = path / name
            if not dest.is_symlink() and dest.exists() and os.path.samefile(dest, src):
                continue  # saved onto the folder it was loaded from: already there
            replace_file(dest, lambda f: _copy_file(src, f))

    def _write_blobs(self, path: Path) -> None:
        assert self.blobs is not None
        for name in FILE_NAMES:  # never a name from the data (checked in set_blobs too)
            replace_file_bytes(path / name, self.blobs[name])

    def to_disk(self, path: PathLike) -> None:
        self.write_files(Path(path))

    def from_disk(self, path: PathLike) -> "ElmoShim":
        path = Path(path)
        self.set_files(path / OPTIONS_NAME, path / WEIGHTS_NAME)
        return self


def _copy_file(src: Path, dest: BinaryIO) -> None:
    with src.open("rb") as f:
        shutil.copyfileobj(f, dest, 1 << 20)


def _files_of(settings: BiLMSettings) -> Tuple[Optional[str], ...]:
    return settings.name, settings.options_file, settings.weight_file


def _load_key(settings: BiLMSettings) -> Tuple[Any, ...]:
    """The settings a loaded biLM depends on."""
    return _files_of(settings) + (settings.state, settings.device, settings.precision)
