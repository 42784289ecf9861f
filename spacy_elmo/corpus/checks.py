"""Checks on OUTPUT made before any model is loaded: nothing is destroyed, nothing fails late;
and the lock that keeps two runs from writing the same OUTPUT at once."""

import contextlib
import os
from pathlib import Path
from typing import Iterator, Mapping, Optional, Union

from ..errors import ElmoInputError, Errors
from .resume import partial_dir

PathLike = Union[str, Path]


def check_output(
    output: Path, *, protected: Mapping[str, Optional[PathLike]], overwrite: bool
) -> None:
    """Refuse an OUTPUT that is one of the ``protected`` files (``{"input file": path}``),
    lies in a missing or read-only folder, is a folder, or is a complete result and
    ``overwrite`` is off."""
    for what, other in protected.items():
        if other is not None and _same_file(output, Path(other)):
            raise ElmoInputError(Errors.E503.format(path=output, what=what, other=other))
    folder = output.parent
    if not folder.is_dir():
        raise ElmoInputError(Errors.E504.format(path=folder))
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ElmoInputError(
            Errors.E505.format(path=output, reason=f"the folder '{folder}' is not writable")
        )
    if output.is_dir():
        raise ElmoInputError(Errors.E505.format(path=output, reason="it is a folder"))
    partial = partial_dir(output)
    if partial.exists() and not partial.is_dir():
        reason = f"'{partial}' (where unfinished runs go) is a file"
        raise ElmoInputError(Errors.E505.format(path=output, reason=reason))
    if output.exists() and not overwrite:
        raise ElmoInputError(Errors.E502.format(path=output))


def _same_file(a: Path, b: Path) -> bool:
    if a.exists() and b.exists():
        return os.path.samefile(a, b)
    return os.path.realpath(a) == os.path.realpath(b)


def lock_path(output: Path) -> Path:
    return output.with_name(output.name + ".lock")


@contextlib.contextmanager
def output_lock(output: Path, *, is_main: bool) -> Iterator[None]:
    """Hold ``OUTPUT.lock`` while this run works on OUTPUT; E512 at once if another run holds
    it (waiting would only end in E502 or a second, identical computation). Only the main
    process locks: the processes of one ``torchrun`` launch share OUTPUT by design, and the
    others write nothing before the main process has opened the unfinished-run folder."""
    if not is_main:
        yield
        return
    from filelock import FileLock, Timeout

    path = lock_path(output)
    if path.is_symlink():  # some filelock versions open it with O_TRUNC: never follow a link
        reason = f"its lock file '{path}' is a symbolic link"
        raise ElmoInputError(Errors.E505.format(path=output, reason=reason))
    lock = FileLock(str(path), timeout=0)
    try:
        lock.acquire()
    except Timeout:
        raise ElmoInputError(Errors.E512.format(path=output, lock=path)) from None
    try:
        yield
    finally:
        lock.release()
