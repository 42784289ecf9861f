"""Checks on a model file's path before it is opened, so that every way a path can be
unusable (missing, a directory, a symbolic-link loop, unreadable, a FIFO or device that
would block or never end) gets its own coded message instead of an OS traceback or a
misleading "does not exist".
"""

import errno
import os
import stat
from pathlib import Path
from typing import Union

from ..errors import ElmoFormatError, Errors


def check_model_file(path: Union[str, Path], *, what: str, name: str) -> Path:
    """Raise a coded :class:`ElmoFormatError` unless ``path`` is a readable regular file.

    :param what: What the file is, for the message ("options file", "weights file").
    :param name: The usual file name ("options.json"), suggested when a directory is given.
    """
    path = Path(path)
    try:
        st = os.stat(path)
    except OSError as e:
        raise ElmoFormatError(_stat_error(path, e, what=what)) from None
    if stat.S_ISDIR(st.st_mode):
        raise ElmoFormatError(Errors.E012.format(path=path, what=what, name=name))
    if not stat.S_ISREG(st.st_mode):
        raise ElmoFormatError(Errors.E015.format(path=path, what=what))
    try:
        with open(path, "rb"):
            pass
    except OSError as e:
        raise ElmoFormatError(_open_error(path, e, what=what)) from None
    return path


def _stat_error(path: Path, error: OSError, *, what: str) -> str:
    if error.errno == errno.ELOOP:
        return Errors.E013.format(path=path, what=what)
    if error.errno == errno.EACCES:
        return Errors.E014.format(path=path, what=what, error=error.strerror)
    return Errors.E001.format(what=what, path=path)


def _open_error(path: Path, error: OSError, *, what: str) -> str:
    return Errors.E014.format(path=path, what=what, error=error.strerror or error)
