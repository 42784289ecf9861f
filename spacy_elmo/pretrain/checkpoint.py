"""Atomic, verified, resumable checkpoints of a pretraining run.

Layout under ``<run>/checkpoints/``::

    step-00001200/model.pt          model, softmax, optimizer, step, fingerprint (rank 0)
    step-00001200/model.pt.sha256   its SHA-256 digest
    step-00001200/rank0.pt          this rank's LSTM state and RNG states (one per rank)
    step-00001200/rank0.pt.sha256
    latest.json                     {"step": 1200, "dir": "step-00001200", "world_size": 1}

Every file is written to a temporary name and moved into place with ``os.replace``;
``latest.json`` is replaced only after all files of the step exist, and older step
directories are deleted only after that. A ``kill -9`` at any moment leaves ``latest.json``
pointing at a complete checkpoint.

Files hold tensors, dicts, lists and plain values only and are read with
``torch.load(weights_only=True)``: a file with other pickled objects (which could run code
when loaded) is refused with E314. A file whose bytes do not match its digest is not
loaded. :func:`find_checkpoint` falls back to the newest checkpoint that loads (with W035),
and only looks inside the run's own ``checkpoints`` folder.
"""

import hashlib
import io
import json
import os
import pickle
import re
import shutil
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import torch

from ..errors import ElmoInputError, Errors, Warnings
from .atomic import atomic_write_bytes, atomic_write_json

LATEST = "latest.json"
_STEP_DIR = re.compile(r"step-(\d{8,})")


def atomic_torch_save(obj: Any, path: Path) -> str:
    """Save ``obj`` atomically; returns the SHA-256 of the bytes written."""
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    data = buffer.getvalue()
    atomic_write_bytes(data, path)
    return hashlib.sha256(data).hexdigest()


def safe_torch_load(path: Path) -> Any:
    """``torch.load`` of tensors and plain data only; other pickled objects raise E314."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        raise ElmoInputError(Errors.E314.format(path=path, error=str(e).splitlines()[0])) from None


def step_dir(root: Path, step: int) -> Path:
    return root / f"step-{step:08d}"


def _write_verified(payload: Dict[str, Any], path: Path) -> None:
    digest = atomic_torch_save(payload, path)
    atomic_write_bytes(digest.encode("ascii"), path.with_name(path.name + ".sha256"))


def write_shared(root: Path, step: int, payload: Dict[str, Any]) -> None:
    """Rank 0: model, softmax and optimizer of ``step``."""
    directory = step_dir(root, step)
    directory.mkdir(parents=True, exist_ok=True)
    _write_verified(payload, directory / "model.pt")


def write_rank(root: Path, step: int, rank: int, payload: Dict[str, Any]) -> None:
    """Every rank: its LSTM states and RNG states."""
    directory = step_dir(root, step)
    directory.mkdir(parents=True, exist_ok=True)
    _write_verified(payload, directory / f"rank{rank}.pt")


def _file_names(world_size: int) -> List[str]:
    return ["model.pt", *(f"rank{r}.pt" for r in range(world_size))]


def commit(root: Path, step: int, *, world_size: int, keep: int) -> None:
    """Rank 0, after every rank wrote its file: point ``latest.json`` at ``step``; prune."""
    directory = step_dir(root, step)
    missing = [n for n in _file_names(world_size) if not (directory / n).is_file()]
    if missing:
        raise ElmoInputError(Errors.E312.format(path=directory, error=f"missing {missing}"))
    atomic_write_json(
        {"step": step, "dir": directory.name, "world_size": world_size}, root / LATEST
    )
    steps = sorted(p for p in root.glob("step-*") if p.is_dir())
    for old in steps[: max(0, len(steps) - max(1, keep))]:
        if old.name != directory.name:
            shutil.rmtree(old, ignore_errors=True)


def _verified_load(path: Path) -> Dict[str, Any]:
    """Load one checkpoint file after checking its digest (E312 when it does not match)."""
    if not path.is_file():
        raise ElmoInputError(Errors.E312.format(path=path, error="the file is missing"))
    data = path.read_bytes()
    sidecar = path.with_name(path.name + ".sha256")
    if sidecar.is_file():
        expected = sidecar.read_text(encoding="ascii", errors="replace").strip()
        if hashlib.sha256(data).hexdigest() != expected:
            raise ElmoInputError(
                Errors.E312.format(path=path, error="its bytes do not match its SHA-256 digest")
            )
    else:  # written before checkpoints had digests
        warnings.warn(Warnings.W037.format(path=path), UserWarning, stacklevel=3)
    try:
        out = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        raise ElmoInputError(Errors.E314.format(path=path, error=str(e).splitlines()[0])) from None
    except Exception as e:  # noqa: BLE001 - any unreadable file is reported the same way
        raise ElmoInputError(Errors.E312.format(path=path, error=e)) from None
    if not isinstance(out, dict):
        raise ElmoInputError(Errors.E312.format(path=path, error="not a checkpoint dictionary"))
    return out


def load_checkpoint_file(directory: Path, name: str) -> Dict[str, Any]:
    """One verified file of a checkpoint directory (E312/E314 when it cannot be used)."""
    return _verified_load(directory / name)


@dataclass
class Checkpoint:
    """A loaded checkpoint: ``shared`` (model.pt) and, if asked for, one rank's file."""

    directory: Path
    shared: Dict[str, Any]
    rank: Optional[Dict[str, Any]]


def _named_by_latest(root: Path) -> Tuple[Optional[Path], Optional[str]]:
    """The step directory ``latest.json`` names, or why it names none usable."""
    path = root / LATEST
    if not path.is_file():
        return None, f"{path} is missing"
    try:
        name = json.loads(path.read_text(encoding="utf8"))["dir"]
    except (ValueError, KeyError, TypeError, UnicodeDecodeError) as e:
        return None, f"{path} is not valid ({e!r})"
    # Only a plain step-directory name inside this run: never an absolute path or '..'.
    if not isinstance(name, str) or not _STEP_DIR.fullmatch(name):
        return None, f"{path} names {name!r}, which is not a step folder of this run"
    return root / name, None


def _step_dirs(root: Path) -> List[Path]:
    """Step directories of ``root``, newest first."""
    found = [p for p in root.glob("step-*") if p.is_dir() and _STEP_DIR.fullmatch(p.name)]
    return sorted(found, key=lambda p: int(p.name[5:]), reverse=True)


def _load(directory: Path, rank: Optional[int]) -> Checkpoint:
    shared = _verified_load(directory / "model.pt")
    world = shared.get("world_size", 1)
    if rank is not None and isinstance(world, int) and world > 0:
        # Every rank's file must be there, so that every rank picks the same checkpoint.
        for name in _file_names(world)[1:]:
            if not (directory / name).is_file():
                raise ElmoInputError(Errors.E312.format(path=directory / name, error="missing"))
    mine = _verified_load(directory / f"rank{rank}.pt") if rank is not None else None
    return Checkpoint(directory=directory, shared=shared, rank=mine)


def find_checkpoint(root: Union[str, Path], *, rank: Optional[int] = 0) -> Optional[Checkpoint]:
    """The newest loadable checkpoint under ``root`` (``None``: the run has none yet).

    The one ``latest.json`` names is tried first. If it (or ``latest.json``) is unusable,
    the step directories are tried from the newest down, with warning W035 naming what was
    skipped. A run with step directories of which none loads raises E315 (never a silent
    restart from step 0).

    :param rank: Also load this rank's file (``None``: only ``model.pt``, for export).
    """
    root = Path(root)
    named, problem = _named_by_latest(root)
    candidates = _step_dirs(root) if root.is_dir() else []
    if named is None and not candidates:
        return None
    skipped: List[str] = [problem] if problem and candidates else []
    order: Sequence[Path] = ([named] if named is not None else []) + [
        c for c in candidates if c != named
    ]
    for directory in order:
        try:
            found = _load(directory, rank)
        except ElmoInputError as e:
            skipped.append(str(e))
            continue
        if skipped:
            warnings.warn(
                Warnings.W035.format(path=directory, skipped="; ".join(skipped)),
                UserWarning,
                stacklevel=2,
            )
        return found
    raise ElmoInputError(Errors.E315.format(path=root, details="; ".join(skipped)))
