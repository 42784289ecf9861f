"""``ElmoShim``: carries a biLM's files and settings through thinc serialization.

The model's biLM itself (settings, files, layer cache, runtime) is a
:class:`~.owner.BiLMOwner`, the object this shim wraps; the shim serialises it and hands a
trained biLM's update to it (``finish_update``). The files are the source of truth:
``to_bytes``/``to_disk`` copy the original options.json and weights.hdf5 bytes unchanged, so
a saved pipeline gives bit-identical vectors and needs neither the original paths nor a
network. A biLM fine-tuned in training (``trainable_layers``) saves its weights as they are
now instead (:meth:`~.owner.BiLMOwner.file_bytes`).

Every file is written to a fresh temporary file in its folder and moved into place with
``os.replace``: a link at the destination is replaced, never written through, and a write
cut short leaves the old file. Serialized data is read with coded errors (E213, E215, E216).
"""

import os
import secrets
import shutil
from pathlib import Path
from typing import Any, BinaryIO, Callable, Dict, Mapping, Optional, Union

import srsly
from thinc.api import Shim, get_ops

from ..errors import ElmoFormatError, ElmoInputError, Errors
from ..settings import BiLMSettings, as_dict, from_kwargs
from .owner import BiLMOwner, check_setting_sizes
from .source import (
    FILE_NAMES,
    OPTIONS_NAME,
    WEIGHTS_NAME,
    BiLMSource,
    check_file_names,
    resolve_bilm_files,
)

PathLike = Union[str, Path]

__all__ = [
    "ElmoShim",
    "FILE_NAMES",
    "OPTIONS_NAME",
    "WEIGHTS_NAME",
    "check_file_names",
    "check_setting_sizes",
    "read_serialized",
    "real_folder",
    "replace_file",
    "replace_file_bytes",
    "resolve_bilm_files",
]


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


def write_source(source: BiLMSource, path: Path) -> None:
    """Write the source's options.json and weights.hdf5 into the folder ``path``, byte for
    byte. Links at ``path`` or at the files are replaced, never written through."""
    real_folder(path)
    files = source.paths
    if files is None:
        data = source.file_bytes()
        for name in FILE_NAMES:  # never a name from serialized data
            replace_file_bytes(path / name, data[name])
        return
    for name, src in files.items():
        dest = path / name
        if not dest.is_symlink() and dest.exists() and os.path.samefile(dest, src):
            continue  # saved onto the folder it was loaded from: already there
        replace_file(dest, lambda f: _copy_file(src, f))


def _copy_file(src: Path, dest: BinaryIO) -> None:
    with src.open("rb") as f:
        shutil.copyfileobj(f, dest, 1 << 20)


class ElmoShim(Shim):
    """Serialises a :class:`BiLMOwner` (its settings and its files) for thinc; the owner
    is ``shim.owner``."""

    def __init__(self, owner: BiLMOwner):
        super().__init__(owner, config={})
        self.owner = owner

    @property
    def files(self) -> Optional[Dict[str, Path]]:
        """The paths of files attached explicitly (a loader, ``from_disk``), else None."""
        attached = self.owner.attached
        return None if attached is None else attached.paths

    # --- thinc Shim API -----------------------------------------------------------------------
    def __call__(self, inputs, is_train):  # pragma: no cover - not called by thinc here
        raise NotImplementedError

    def finish_update(self, optimizer) -> None:
        """Update the trained biLM layers (nothing for a frozen biLM); keyed by this shim's
        id, as thinc's PyTorchShim keys its parameters."""
        self.owner.finish_update(optimizer, key_id=self.id)

    def to_device(self, device_type: str, device_id: int) -> None:
        """``model.to_gpu(N)`` / ``model.to_cpu()``: the owner follows with ``"auto"``."""
        gpu = device_type == "gpu"
        self.owner.to_device(get_ops("cupy", device_id=device_id) if gpu else get_ops("numpy"))

    def copy(self) -> "ElmoShim":
        return ElmoShim(self.owner.copy())

    # --- serialization -------------------------------------------------------------------
    def file_bytes(self) -> Dict[str, bytes]:
        return self.owner.file_bytes()

    def to_bytes(self) -> bytes:
        settings = as_dict(self.owner.settings)
        return srsly.msgpack_dumps({"settings": settings, "files": self.file_bytes()})

    def from_bytes(self, data: bytes) -> "ElmoShim":
        expected = {"settings": dict, "files": dict}
        msg = read_serialized(data, what="an ElmoLayers model", expected=expected)
        source = BiLMSource.from_bytes(msg["files"])  # before anything else is used
        self.owner.configure(from_kwargs(BiLMSettings, msg["settings"]))
        self.owner.attach(source)
        self.owner.cache_active = False
        return self

    def write_files(self, path: Path) -> None:
        """The biLM's two files into the folder ``path``: copies of the source's, or the
        fine-tuned weights (:meth:`BiLMOwner.saved_source`; see :func:`write_source`)."""
        write_source(self.owner.saved_source(), Path(path))

    def to_disk(self, path: PathLike) -> None:
        self.write_files(Path(path))

    def from_disk(self, path: PathLike) -> "ElmoShim":
        path = Path(path)
        self.owner.attach(BiLMSource.from_paths(path / OPTIONS_NAME, path / WEIGHTS_NAME))
        return self
