"""``ElmoShim``: holds the frozen biLM (through :class:`~spacy_elmo.ElmoEmbedder`) inside a
thinc model and carries its original files through serialization.

The files are the source of truth: ``to_bytes``/``to_disk`` copy the original options.json
and weights.hdf5 bytes unchanged, so a saved pipeline gives bit-identical vectors and needs
neither the original paths nor a network. The embedder is loaded lazily, on first use.
"""

import copy
import hashlib
import shutil
import tempfile
import weakref
from pathlib import Path
from typing import Dict, Optional, Union

import srsly
from thinc.api import Shim

from ..embedder import ElmoEmbedder
from ..util import default_model_paths
from .cache import LayerCache

OPTIONS_NAME = "options.json"
WEIGHTS_NAME = "weights.hdf5"
PathLike = Union[str, Path]


# Loaded biLMs shared by every pipeline of the process that uses files with the same content
# (from a path or from bytes) with the same state and device (deterministic states only), so
# many components and pipelines do not each hold and warm up a copy, and a pipeline restored
# from bytes or disk computes exactly what the one it was saved from does.
_LOADED: "weakref.WeakValueDictionary[tuple, ElmoEmbedder]" = weakref.WeakValueDictionary()


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

    Exactly one source is set: file paths (``options_file``/``weight_file``, ``None`` for the
    embedded default model) or in-memory file bytes (after ``from_bytes``).
    """

    def __init__(
        self,
        *,
        options_file: Optional[PathLike] = None,
        weight_file: Optional[PathLike] = None,
        state: str = "warm",
        device: str = "cpu",
        cache_size: int = 0,
        precision: str = "float32",
    ):
        super().__init__(
            None,
            config={
                "state": state,
                "device": device,
                "cache_size": cache_size,
                "precision": precision,
            },
        )
        self.set_files(options_file, weight_file)
        self.cache = LayerCache(cache_size)
        #: Set once the model runs in training mode; inference alone does not cache.
        self.cache_active = False

    # --- source ------------------------------------------------------------------------
    def set_files(self, options_file: Optional[PathLike], weight_file: Optional[PathLike]) -> None:
        """Use these files (both ``None``: the embedded default model); drops a loaded biLM."""
        if options_file is None and weight_file is None:
            options_file, weight_file = default_model_paths()
        self.files: Optional[Dict[str, Path]] = None
        if options_file is not None and weight_file is not None:
            self.files = {OPTIONS_NAME: Path(options_file), WEIGHTS_NAME: Path(weight_file)}
        self.blobs: Optional[Dict[str, bytes]] = None
        self._model = None
        if hasattr(self, "cache"):
            self.cache.clear()

    def configure(self, *, state: str, device: str, cache_size: int, precision: str) -> None:
        loaded_with = (self.cfg["state"], self.cfg["device"], self.cfg["precision"])
        if (state, device, precision) != loaded_with:
            self._model = None
        self.cfg.update(state=state, device=device, cache_size=cache_size, precision=precision)
        self.cache.max_tokens = cache_size
        self.cache.clear()

    @property
    def loaded(self) -> bool:
        return self._model is not None

    @property
    def embedder(self) -> ElmoEmbedder:
        """The runtime, loaded on first access."""
        if self._model is None:
            state, device = self.cfg["state"], self.cfg["device"]
            precision = self.cfg["precision"]  # from_bytes updates cfg: the key stays
            if state == "stateful":  # carries per-row state: never shared
                self._model = self._load(state, device, precision)
                return self._model
            sources = self.blobs if self.blobs is not None else self.files
            assert sources is not None
            if not all(isinstance(s, bytes) or s.is_file() for s in sources.values()):
                return self._load(state, device, precision)  # raises the coded error (E001)
            key = (
                _digest(sources[OPTIONS_NAME]),
                _digest(sources[WEIGHTS_NAME]),
                state,
                str(device),
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
            assert self.files is not None
            return load(self.files)
        with tempfile.TemporaryDirectory() as tmp:
            self._write_blobs(Path(tmp))
            return load({name: Path(tmp) / name for name in (OPTIONS_NAME, WEIGHTS_NAME)})

    # --- thinc Shim API (the biLM is frozen: no training hooks) ------------------------------
    def __call__(self, inputs, is_train):  # pragma: no cover - not called by thinc here
        raise NotImplementedError

    def finish_update(self, optimizer) -> None:
        return None

    def to_device(self, device_type: str, device_id: int) -> None:
        return None  # the device comes from the component config

    def copy(self) -> "ElmoShim":
        new = copy.copy(self)
        new.cfg = dict(self.cfg)
        new.cache = LayerCache(self.cfg["cache_size"])
        new.cache_active = False
        # The biLM is frozen, so copies share it; only a stateful one carries its own state.
        stateful = self.cfg["state"] == "stateful"
        new._model = copy.deepcopy(self._model) if stateful else self._model
        return new

    # --- serialization -------------------------------------------------------------------
    def file_bytes(self) -> Dict[str, bytes]:
        if self.blobs is not None:
            return dict(self.blobs)
        assert self.files is not None
        return {name: path.read_bytes() for name, path in self.files.items()}

    def to_bytes(self) -> bytes:
        return srsly.msgpack_dumps({"cfg": self.cfg, "files": self.file_bytes()})

    def from_bytes(self, data: bytes) -> "ElmoShim":
        msg = srsly.msgpack_loads(data)
        self.cfg.update(msg["cfg"])
        self.files = None
        self.blobs = dict(msg["files"])
        self._model = None
        self.cache = LayerCache(self.cfg["cache_size"])
        self.cache_active = False
        return self

    def write_files(self, path: Path) -> None:
        """Write options.json and weights.hdf5 into the directory ``path``, byte for byte."""
        path.mkdir(parents=True, exist_ok=True)
        if self.blobs is not None:
            self._write_blobs(path)
            return
        assert self.files is not None
        for name, src in self.files.items():
            dest = path / name
            if dest.exists() and dest.resolve() == src.resolve():
                continue
            shutil.copyfile(src, dest)

    def _write_blobs(self, path: Path) -> None:
        assert self.blobs is not None
        for name, data in self.blobs.items():
            (path / name).write_bytes(data)

    def to_disk(self, path: PathLike) -> None:
        self.write_files(Path(path))

    def from_disk(self, path: PathLike) -> "ElmoShim":
        path = Path(path)
        self.set_files(path / OPTIONS_NAME, path / WEIGHTS_NAME)
        return self
