"""Atomic, resumable checkpoints of a pretraining run.

Layout under ``<run>/checkpoints/``::

    step-00001200/model.pt      model, softmax, optimizer, step, fingerprint (rank 0)
    step-00001200/rank0.pt      this rank's LSTM state and RNG states (one per rank)
    latest.json                 {"step": 1200, "dir": "step-00001200"}

Every file is written to a temporary name and moved into place with ``os.replace``;
``latest.json`` is replaced only after all files of the step exist, and older step
directories are deleted only after that. A ``kill -9`` at any moment leaves ``latest.json``
pointing at a complete checkpoint.
"""

import json
import os
import shutil
from pathlib import Path
from typing import Any, Dict, Optional, Union

import torch

from ..errors import ElmoInputError, Errors

LATEST = "latest.json"


def atomic_torch_save(obj: Any, path: Path) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        torch.save(obj, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def atomic_write_json(obj: Any, path: Path) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf8") as f:
        json.dump(obj, f, indent=2)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def step_dir(root: Path, step: int) -> Path:
    return root / f"step-{step:08d}"


def write_shared(root: Path, step: int, payload: Dict[str, Any]) -> None:
    """Rank 0: model, softmax and optimizer of ``step``."""
    directory = step_dir(root, step)
    directory.mkdir(parents=True, exist_ok=True)
    atomic_torch_save(payload, directory / "model.pt")


def write_rank(root: Path, step: int, rank: int, payload: Dict[str, Any]) -> None:
    """Every rank: its LSTM states and RNG states."""
    directory = step_dir(root, step)
    directory.mkdir(parents=True, exist_ok=True)
    atomic_torch_save(payload, directory / f"rank{rank}.pt")


def commit(root: Path, step: int, *, world_size: int, keep: int) -> None:
    """Rank 0, after every rank wrote its file: point ``latest.json`` at ``step``; prune."""
    directory = step_dir(root, step)
    missing = [
        n
        for n in ["model.pt", *(f"rank{r}.pt" for r in range(world_size))]
        if not (directory / n).is_file()
    ]
    if missing:
        raise ElmoInputError(Errors.E312.format(path=directory, error=f"missing {missing}"))
    atomic_write_json(
        {"step": step, "dir": directory.name, "world_size": world_size}, root / LATEST
    )
    steps = sorted(p for p in root.glob("step-*") if p.is_dir())
    for old in steps[: max(0, len(steps) - max(1, keep))]:
        if old.name != directory.name:
            shutil.rmtree(old, ignore_errors=True)


def latest(root: Union[str, Path]) -> Optional[Path]:
    """The directory of the newest complete checkpoint under ``root`` (``None``: none)."""
    path = Path(root) / LATEST
    if not path.is_file():
        return None
    try:
        info = json.loads(path.read_text(encoding="utf8"))
    except ValueError as e:
        raise ElmoInputError(Errors.E312.format(path=path, error=e)) from None
    return Path(root) / info["dir"]


def load(path: Path, name: str) -> Dict[str, Any]:
    try:
        return torch.load(path / name, map_location="cpu", weights_only=False)
    except Exception as e:  # noqa: BLE001 - any unreadable file is reported the same way
        raise ElmoInputError(Errors.E312.format(path=path / name, error=e)) from None
