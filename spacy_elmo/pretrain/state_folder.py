"""A run's full training state as a folder of small files, and back into a run.

``pack_state`` turns the newest checkpoint of a run (biLM, softmax, optimizer moments, step,
tokens, fingerprint, RNG and LSTM states of every rank) into a folder that a repository can
hold: ``state.json`` (everything that is not a tensor, with named placeholders),
``tensors-000.pt`` ... (tensor shards, each at most ``max_file_mb``), ``config.json`` (the
run's settings, corpus paths relative to the corpus folder) and ``SHA256SUMS``.
``unpack_state`` writes that state as a checkpoint of a new run directory; the same
``pretrain`` command with ``-c <folder>/config.json --corpus-dir <corpus>`` then resumes it
exactly where it stopped.
"""

import hashlib
import json
from pathlib import Path
from typing import Any, Dict, List, Tuple, Union

import torch

from ..errors import ElmoInputError, Errors
from . import checkpoint as ckpt
from .atomic import atomic_write_json, atomic_write_text

FORMAT = 1


def _flatten(obj: Any, tensors: Dict[str, torch.Tensor]) -> Any:
    """JSON-able structure with ``{"__tensor__": name}`` for tensors (collected in
    ``tensors``), ``{"__tuple__": [...]}`` for tuples and ``{"__items__": [[k, v], ...]}``
    for dictionaries whose keys are not all strings (the optimizer's parameter indices)."""
    if isinstance(obj, torch.Tensor):
        name = f"t{len(tensors)}"
        tensors[name] = obj.detach().cpu().contiguous()
        return {"__tensor__": name}
    if isinstance(obj, tuple):
        return {"__tuple__": [_flatten(v, tensors) for v in obj]}
    if isinstance(obj, list):
        return [_flatten(v, tensors) for v in obj]
    if isinstance(obj, dict):
        if all(isinstance(k, str) and not k.startswith("__") for k in obj):
            return {k: _flatten(v, tensors) for k, v in obj.items()}
        return {"__items__": [[k, _flatten(v, tensors)] for k, v in obj.items()]}
    return obj


def _unflatten(obj: Any, tensors: Dict[str, torch.Tensor]) -> Any:
    if isinstance(obj, list):
        return [_unflatten(v, tensors) for v in obj]
    if isinstance(obj, dict):
        if "__tensor__" in obj:
            return tensors[obj["__tensor__"]]
        if "__tuple__" in obj:
            return tuple(_unflatten(v, tensors) for v in obj["__tuple__"])
        if "__items__" in obj:
            return {k: _unflatten(v, tensors) for k, v in obj["__items__"]}
        return {k: _unflatten(v, tensors) for k, v in obj.items()}
    return obj


def _shards(tensors: Dict[str, torch.Tensor], max_bytes: int) -> List[Dict[str, torch.Tensor]]:
    """Consecutive groups of tensors of at most ``max_bytes`` each."""
    shards: List[Dict[str, torch.Tensor]] = [{}]
    size = 0
    for name, t in tensors.items():
        n = t.numel() * t.element_size() + 1024  # + the zip record of each tensor
        if n > max_bytes:
            raise ElmoInputError(
                Errors.E318.format(path=name, error=f"one tensor has {n:,} bytes > {max_bytes:,}")
            )
        if size + n > max_bytes and shards[-1]:
            shards.append({})
            size = 0
        shards[-1][name] = t
        size += n
    return shards


def _relative_config(config: Dict[str, Any], corpus_dir: Union[str, Path, None]) -> Dict[str, Any]:
    if corpus_dir is None:
        return config
    base = Path(corpus_dir).resolve()
    for key in ("train", "dev"):
        for f in config["data"][key]:
            path = Path(f["path"]).resolve()
            if path.is_relative_to(base):
                f["path"] = str(path.relative_to(base))
    return config


def pack_state(
    run_dir: Union[str, Path],
    dest: Union[str, Path],
    *,
    corpus_dir: Union[str, Path, None] = None,
    max_file_mb: float = 25.0,
) -> Dict[str, Any]:
    """Write the newest checkpoint of ``run_dir`` (every rank) to the folder ``dest``.

    :returns: ``step``, ``tokens`` and the file sizes in bytes.
    """
    run_dir, dest = Path(run_dir), Path(dest)
    found = ckpt.find_checkpoint(run_dir / "checkpoints", rank=None)
    if found is None:
        raise ElmoInputError(Errors.E307.format(path=run_dir))
    world = found.shared["world_size"]
    ranks = [ckpt.load_checkpoint_file(found.directory, f"rank{r}.pt") for r in range(world)]
    tensors: Dict[str, torch.Tensor] = {}
    skeleton = {
        "format": FORMAT,
        "shared": _flatten(found.shared, tensors),
        "ranks": [_flatten(r, tensors) for r in ranks],
    }
    dest.mkdir(parents=True, exist_ok=True)
    shards = _shards(tensors, int(max_file_mb * 1e6))
    skeleton["shards"] = [f"tensors-{i:03d}.pt" for i in range(len(shards))]
    for name, shard in zip(skeleton["shards"], shards):
        ckpt.atomic_torch_save(shard, dest / name)
    atomic_write_json(skeleton, dest / "state.json")
    config = json.loads((run_dir / "config.json").read_text(encoding="utf8"))
    atomic_write_json(_relative_config(config, corpus_dir), dest / "config.json")
    names = [*skeleton["shards"], "state.json", "config.json"]
    sums = "".join(f"{_sha256(dest / n)}  {n}\n" for n in names)
    atomic_write_text(sums, dest / "SHA256SUMS")
    sizes = {n: (dest / n).stat().st_size for n in names}
    return {"step": found.shared["step"], "tokens": found.shared["tokens"], "sizes": sizes}


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _read_state(src: Path) -> Tuple[Dict[str, Any], List[Dict[str, Any]]]:
    sums = src / "SHA256SUMS"
    if not sums.is_file():
        raise ElmoInputError(Errors.E318.format(path=sums, error="the file is missing"))
    for line in sums.read_text(encoding="utf8").splitlines():
        digest, name = line.split(maxsplit=1)
        if "/" in name or name.startswith(".") or not (src / name).is_file():
            raise ElmoInputError(
                Errors.E318.format(path=src / name, error="missing or not allowed")
            )
        if _sha256(src / name) != digest:
            raise ElmoInputError(Errors.E318.format(path=src / name, error="SHA-256 mismatch"))
    skeleton = json.loads((src / "state.json").read_text(encoding="utf8"))
    if skeleton.get("format") != FORMAT:
        raise ElmoInputError(
            Errors.E318.format(path=src / "state.json", error=f"format {skeleton.get('format')}")
        )
    tensors: Dict[str, torch.Tensor] = {}
    for name in skeleton["shards"]:
        tensors.update(ckpt.safe_torch_load(src / Path(name).name))
    shared = _unflatten(skeleton["shared"], tensors)
    return shared, [_unflatten(r, tensors) for r in skeleton["ranks"]]


def unpack_state(src: Union[str, Path], run_dir: Union[str, Path]) -> Dict[str, Any]:
    """Write the state folder ``src`` as the newest checkpoint of ``run_dir`` (created; an
    existing run with checkpoints is refused, E318)."""
    src, run_dir = Path(src), Path(run_dir)
    root = run_dir / "checkpoints"
    if root.is_dir() and any(root.iterdir()):
        raise ElmoInputError(
            Errors.E318.format(path=root, error="the run already has checkpoints; use a new folder")
        )
    shared, ranks = _read_state(src)
    root.mkdir(parents=True, exist_ok=True)
    step = shared["step"]
    ckpt.write_shared(root, step, shared)
    for rank, payload in enumerate(ranks):
        ckpt.write_rank(root, step, rank, payload)
    ckpt.commit(root, step, world_size=len(ranks), keep=1)
    return {"step": step, "tokens": shared["tokens"]}
