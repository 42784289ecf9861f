"""Atomic file writes (temporary file + ``os.replace``) with a coded error for a full disk."""

import errno
import json
import os
import shutil
from pathlib import Path
from typing import Any

from ..errors import ElmoInputError, Errors


def disk_full_error(error: OSError, path: Path) -> ElmoInputError:
    folder = path.parent
    try:
        free = shutil.disk_usage(folder).free
    except OSError:
        free = -1
    return ElmoInputError(Errors.E316.format(path=path, folder=folder, free=free, error=error))


def atomic_write_bytes(data: bytes, path: Path) -> None:
    """Write ``data`` to ``path`` through a temporary file; a full disk raises E316 and
    leaves the old ``path`` (if any) as it was."""
    tmp = path.with_name(path.name + ".tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as e:
        if os.path.lexists(tmp):
            os.unlink(tmp)
        if e.errno in (errno.ENOSPC, errno.EDQUOT):
            raise disk_full_error(e, path) from None
        raise


def atomic_write_json(obj: Any, path: Path) -> None:
    atomic_write_bytes(json.dumps(obj, indent=2).encode("utf8"), path)


def atomic_write_text(text: str, path: Path) -> None:
    atomic_write_bytes(text.encode("utf8"), path)
