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
import io
import json
import os
import pickle
import re
from collections import Counter
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple, Union

import torch

from ..errors import ElmoInputError, Errors
from ..validation import is_int
from . import checkpoint as ckpt
from .atomic import atomic_write_json, atomic_write_text

FORMAT = 1
SUMS = "SHA256SUMS"
STATE = "state.json"
#: A pack's SHA256SUMS has a few hundred bytes; a larger file is not read into memory.
MAX_SUMS_BYTES = 1 << 20
#: ``sha256sum`` lines: digest, a space, a space (text) or '*' (binary), the name.
_SUMS_LINE = re.compile(r"([0-9a-fA-F]{64}) [ *](.+)")
#: A file directly inside the folder: no '/', no '..', not hidden.
_PLAIN_NAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]*")
#: JSON values that can be dictionary keys (the optimizer's parameter indices are ints).
_KEY_TYPES = (str, int, float, bool, type(None))


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


def _unflatten(obj: Any, tensors: Dict[str, torch.Tensor], where: Path) -> Any:
    """The inverse of :func:`_flatten`. A placeholder naming no loaded tensor is E325, a
    malformed one E323 (``where``: the state.json, for the message)."""
    if isinstance(obj, list):
        return [_unflatten(v, tensors, where) for v in obj]
    if not isinstance(obj, dict):
        return obj
    if "__tensor__" in obj:
        name = obj["__tensor__"]
        if not isinstance(name, str) or name not in tensors:
            problem = "no tensor shard of the folder holds"
            raise ElmoInputError(Errors.E325.format(path=where, name=name, problem=problem))
        return tensors[name]
    if "__tuple__" in obj:
        return tuple(_unflatten(v, tensors, where) for v in _placeholder_list(obj, where))
    if "__items__" in obj:
        return dict(_item(pair, tensors, where) for pair in _placeholder_list(obj, where))
    return {k: _unflatten(v, tensors, where) for k, v in obj.items()}


def _placeholder_list(obj: Dict[str, Any], where: Path) -> List[Any]:
    key = "__tuple__" if "__tuple__" in obj else "__items__"
    if not isinstance(obj[key], list):
        raise ElmoInputError(Errors.E323.format(path=where, error=f"a '{key}' is not a list"))
    return obj[key]


def _item(pair: Any, tensors: Dict[str, torch.Tensor], where: Path) -> Tuple[Any, Any]:
    """One ``[key, value]`` of an ``__items__`` list; the key must be hashable JSON."""
    if not (isinstance(pair, list) and len(pair) == 2 and isinstance(pair[0], _KEY_TYPES)):
        error = f"an '__items__' entry is {str(pair)[:80]}, not a [key, value] pair"
        raise ElmoInputError(Errors.E323.format(path=where, error=error))
    return pair[0], _unflatten(pair[1], tensors, where)


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
    atomic_write_json(skeleton, dest / STATE)
    config = json.loads((run_dir / "config.json").read_text(encoding="utf8"))
    atomic_write_json(_relative_config(config, corpus_dir), dest / "config.json")
    names = [*skeleton["shards"], STATE, "config.json"]
    sums = "".join(f"{_sha256(dest / n)}  {n}\n" for n in names)
    atomic_write_text(sums, dest / SUMS)
    sizes = {n: (dest / n).stat().st_size for n in names}
    return {"step": found.shared["step"], "tokens": found.shared["tokens"], "sizes": sizes}


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _inside(folder: Path, name: str) -> Path:
    """``folder / name``, refused (E320) when it is a symbolic link that leads out of
    ``folder``: a packed state is verified and read only from its own files."""
    path = folder / name
    if path.is_symlink():
        # realpath, not resolve(): it never raises, also not for a link loop (E321 later).
        target = Path(os.path.realpath(path))
        if not target.is_relative_to(Path(os.path.realpath(folder))):
            raise ElmoInputError(
                Errors.E320.format(path=path, target=os.readlink(path), folder=folder)
            )
    return path


def _read_listed(folder: Path, name: str, digest: str) -> bytes:
    """The bytes of the file ``name`` that SHA256SUMS lists with ``digest``, checked (E318).
    Read once, so the bytes checked are the bytes used."""
    path = _inside(folder, name)
    if not path.is_file():
        problem = "it is not a regular file" if path.exists() else "the file is missing"
        if path.is_symlink() and not path.exists():
            problem = "it is a symbolic link that leads to no file"
        raise ElmoInputError(Errors.E321.format(folder=folder, name=name, problem=problem))
    try:
        data = path.read_bytes()
    except OSError as e:
        problem = f"it cannot be read ({e.strerror or e})"
        raise ElmoInputError(Errors.E321.format(folder=folder, name=name, problem=problem))
    if hashlib.sha256(data).hexdigest() != digest:
        raise ElmoInputError(Errors.E318.format(path=path, error="SHA-256 mismatch"))
    return data


def _read_sums(folder: Path) -> Dict[str, str]:
    """File name -> SHA-256 digest, from the folder's SHA256SUMS (E318 when there is none,
    E319 when it is not one ``pretrain-pack`` could have written)."""
    if not folder.is_dir():
        raise ElmoInputError(Errors.E318.format(path=folder, error="not a folder"))
    path = _inside(folder, SUMS)
    if not path.is_file():
        raise ElmoInputError(Errors.E318.format(path=path, error="the file is missing"))
    if path.stat().st_size > MAX_SUMS_BYTES:
        error = f"{path.stat().st_size:,} bytes, far more than a pack writes"
        raise ElmoInputError(Errors.E319.format(path=path, error=error))
    try:
        text = path.read_text(encoding="utf8")
    except UnicodeDecodeError as e:
        raise ElmoInputError(Errors.E319.format(path=path, error=f"not UTF-8 text ({e})"))
    sums: Dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), 1):
        if line.strip():
            name, digest = _sums_line(path, number, line)
            if name in sums:
                error = f"line {number} lists '{name}' a second time"
                raise ElmoInputError(Errors.E319.format(path=path, error=error))
            sums[name] = digest
    return sums


def _sums_line(path: Path, number: int, line: str) -> Tuple[str, str]:
    """``(name, lower-case digest)`` of one line of SHA256SUMS (E319 when malformed)."""
    match = _SUMS_LINE.fullmatch(line)
    if match is None:
        error = f"line {number} ({line[:100]!r}) is not 'SHA-256 digest, two spaces, name'"
        raise ElmoInputError(Errors.E319.format(path=path, error=error))
    digest, name = match.groups()
    if not _PLAIN_NAME.fullmatch(name):
        error = f"line {number} names {name!r}, which is not a file name inside the folder"
        raise ElmoInputError(Errors.E319.format(path=path, error=error))
    return name, digest.lower()


def _read_skeleton(folder: Path, sums: Dict[str, str]) -> Dict[str, Any]:
    """state.json, verified against SHA256SUMS and checked for the keys unpacking uses."""
    if STATE not in sums:
        raise ElmoInputError(Errors.E326.format(folder=folder, name=STATE))
    path = folder / STATE
    data = _read_listed(folder, STATE, sums[STATE])
    try:
        skeleton = json.loads(data.decode("utf8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        raise ElmoInputError(Errors.E323.format(path=path, error=f"not valid JSON: {e}"))
    problem = _skeleton_problem(skeleton)
    if problem:
        raise ElmoInputError(Errors.E323.format(path=path, error=problem))
    return skeleton


def _skeleton_problem(skeleton: Any) -> Optional[str]:
    """What keeps ``skeleton`` (the parsed state.json) from being unpacked, if anything."""
    if not isinstance(skeleton, dict):
        return "not a JSON object"
    if skeleton.get("format") != FORMAT:
        return f"format {skeleton.get('format')!r}; this version reads format {FORMAT}"
    for key, kind in (("shards", list), ("shared", dict), ("ranks", list)):
        if key not in skeleton:
            return f"it has no '{key}'"
        if not isinstance(skeleton[key], kind):
            return f"'{key}' is not a JSON {'list' if kind is list else 'object'}"
    if not all(isinstance(name, str) for name in skeleton["shards"]):
        return "'shards' is not a list of file names"
    if not skeleton["ranks"] or not all(isinstance(r, dict) for r in skeleton["ranks"]):
        return "'ranks' is not a non-empty list of JSON objects"
    return None


def _shard_names(folder: Path, skeleton: Dict[str, Any], sums: Dict[str, str]) -> List[str]:
    """The shards, which state.json and SHA256SUMS must both name (E322): a shard that only
    one of them names would be read unchecked, or left out silently."""
    named: List[str] = skeleton["shards"]
    problems = []
    repeated = sorted(n for n, count in Counter(named).items() if count > 1)
    if repeated:
        problems.append(f"state.json names {repeated} more than once")
    unlisted = [n for n in named if n not in sums]
    if unlisted:
        problems.append(f"state.json names {unlisted}, which SHA256SUMS does not list")
    unnamed = sorted(n for n in sums if n.endswith(".pt") and n not in named)
    if unnamed:
        problems.append(f"SHA256SUMS lists {unnamed}, which state.json does not name")
    if problems:
        raise ElmoInputError(Errors.E322.format(folder=folder, details="; ".join(problems)))
    return named


def _load_shard(path: Path, data: bytes) -> Dict[str, torch.Tensor]:
    """The tensors of one shard's verified bytes (E314 other pickled objects, E324 damage)."""
    try:
        shard = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        found = re.search(r"WeightsUnpickler error: ([^\n]*?\.)(?: |$)", str(e))
        error = found.group(1) if found else str(e).splitlines()[0]
        raise ElmoInputError(Errors.E314.format(path=path, error=error)) from None
    except Exception as e:  # noqa: BLE001 - torch fails in many ways on a damaged zip
        error = str(e).splitlines()[0][:200] if str(e) else type(e).__name__
        raise ElmoInputError(Errors.E324.format(path=path, error=error)) from None
    if not isinstance(shard, dict) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in shard.items()
    ):
        error = "it does not hold a dictionary of named tensors"
        raise ElmoInputError(Errors.E324.format(path=path, error=error))
    return shard


def _load_tensors(folder: Path, names: List[str], sums: Dict[str, str]) -> Dict[str, torch.Tensor]:
    """Every tensor of the listed, verified shards ``names`` by name."""
    tensors: Dict[str, torch.Tensor] = {}
    for name in names:
        shard = _load_shard(folder / name, _read_listed(folder, name, sums[name]))
        twice = sorted(set(shard) & set(tensors))
        if twice:
            problem = f"'{name}' holds a second time (another shard has it too)"
            raise ElmoInputError(
                Errors.E325.format(path=folder / STATE, name=twice[0], problem=problem)
            )
        tensors.update(shard)
    return tensors


def _read_state(src: Path) -> Tuple[Dict[str, Any], List[Dict[str, Any]]]:
    """The shared state and every rank's state of the folder ``src``, after every check:
    each file read is listed in SHA256SUMS and matches its digest."""
    sums = _read_sums(src)
    skeleton = _read_skeleton(src, sums)
    names = _shard_names(src, skeleton, sums)
    for name in sums.keys() - {STATE, *names}:  # config.json: used by the resumed run
        _read_listed(src, name, sums[name])
    tensors = _load_tensors(src, names, sums)
    where = src / STATE
    try:
        shared = _unflatten(skeleton["shared"], tensors, where)
        ranks = [_unflatten(r, tensors, where) for r in skeleton["ranks"]]
    except RecursionError:
        raise ElmoInputError(Errors.E323.format(path=where, error="nested too deeply")) from None
    _check_run_state(where, shared, ranks)
    return shared, ranks


def _check_run_state(where: Path, shared: Dict[str, Any], ranks: List[Any]) -> None:
    """The values :func:`unpack_state` writes a checkpoint from: E323 when one is unusable."""
    step, world = shared.get("step"), shared.get("world_size")
    if not is_int(step, low=0) or "tokens" not in shared:
        error = f"'shared' has step {step!r} and tokens {shared.get('tokens')!r}"
        raise ElmoInputError(Errors.E323.format(path=where, error=error))
    if world != len(ranks):
        error = f"world_size {world!r} but {len(ranks)} rank states"
        raise ElmoInputError(Errors.E323.format(path=where, error=error))


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
