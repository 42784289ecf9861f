"""The run's ``log.jsonl``: one JSON record per logged step."""

import errno
import json
from pathlib import Path
from typing import Any, Dict, List, Sequence

from .atomic import atomic_write_bytes, disk_full_error

LOG_FILE = "log.jsonl"


def read_log(path: Path, upto_step: int) -> List[Dict[str, Any]]:
    """Log records up to ``upto_step`` (a killed run may have logged past its checkpoint)."""
    if not path.is_file():
        return []
    out = []
    for line in path.read_text(encoding="utf8").splitlines():
        try:
            rec = json.loads(line)
        except ValueError:
            continue  # a line cut by a kill
        if rec.get("step", 0) <= upto_step:
            out.append(rec)
    return out


def rewrite_log(path: Path, records: Sequence[Dict[str, Any]]) -> None:
    """Replace the log with ``records`` (atomically)."""
    atomic_write_bytes("".join(json.dumps(r) + "\n" for r in records).encode("utf8"), path)


def append_log(path: Path, record: Dict[str, Any]) -> None:
    try:
        with path.open("a", encoding="utf8") as f:
            f.write(json.dumps(record) + "\n")
    except OSError as e:
        if e.errno in (errno.ENOSPC, errno.EDQUOT):
            raise disk_full_error(e, path) from None
        raise
