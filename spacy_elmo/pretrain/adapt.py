"""``adapt``: continue training a trained biLM on a domain's text (Peters et al., 2018,
supplement: fine-tuning the biLM on the task's text lowered its perplexity and helped
downstream).

Adapting is pretraining with another start and schedule, run by the same loop
(:func:`~.loop.pretrain`: checkpoints, resumption, torchrun): the biLM of BASE (a catalogue
name, a folder, or options + weights anywhere :func:`~spacy_elmo.hub.resolve_bilm` reaches), a
new vocabulary of the domain text with a new softmax, ``adapt.freeze_bilm_steps`` steps that
train the softmax alone, then everything with the biLM at ``adapt.bilm_lr_scale`` times the
learning rate. OUTPUT_DIR is the run folder; at the end it holds ``options.json``,
``weights.hdf5``, ``softmax.pt``, ``vocab.txt`` and ``MODEL_CARD.md``.
"""

import copy
import json
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Mapping, Optional, Sequence, Union

from ..errors import ElmoFormatError, ElmoInputError, Errors, Warnings
from ..hub import looks_like_name, parse_location, resolve_bilm
from ..weights import config_to_dict as options_to_dict
from ..weights import load_options
from .adapt_card import ADAPT_FILE, describe_files, file_sha256, write_model_card
from .atomic import atomic_write_json
from .build import InitFiles
from .config import (
    CorpusFile,
    PretrainConfig,
    config_from_dict,
    read_config_json,
    with_overrides,
)
from .loop import pretrain

#: The defaults of ``adapt`` (``configs/adapt_default.json`` is this, as a file): sized for a
#: few hundred thousand tokens of domain text on a CPU (about 100 steps per 64k tokens).
ADAPT_DEFAULTS: Dict[str, Any] = {
    "data": {"vocab_size": 20000, "min_count": 2, "dev_max_tokens": 50000, "lang": "en"},
    "batching": {"batch_size": 32, "unroll_steps": 20, "shuffle": True},
    "softmax": {"cutoffs": [2000, 10000], "div_value": 4.0},
    "optimizer": {
        "name": "adam",
        "lr": 0.002,
        "clip_norm": 5.0,
        "warmup_steps": 20,
        "schedule": "linear",
        "min_lr": 0.0002,
    },
    "training": {
        "seed": 0,
        "max_steps": None,
        "max_epochs": 5,
        "dropout": 0.1,
        "checkpoint_every_steps": 0,
        "checkpoint_every_minutes": 2.0,
        "eval_every_steps": 0,
        "log_every_steps": 20,
        "keep_checkpoints": 2,
        "threads": 0,
    },
    "adapt": {"freeze_bilm_steps": 100, "bilm_lr_scale": 0.1},
}


@dataclass(frozen=True)
class Base:
    """The biLM that adapting starts from: its local files and how it was named."""

    name: str
    files: InitFiles


def default_adapt_config() -> PretrainConfig:
    return config_from_dict(copy.deepcopy(ADAPT_DEFAULTS))


def load_adapt_config(path: Union[str, Path]) -> PretrainConfig:
    """An adapt config file: the pretraining format without ``model`` (BASE decides it);
    sections and keys it leaves out keep :data:`ADAPT_DEFAULTS`."""
    values = read_config_json(path)
    if not isinstance(values, dict):
        raise ElmoInputError(Errors.E309.format(path=path, error="not a JSON object"))
    _refuse_model(values)
    merged = copy.deepcopy(ADAPT_DEFAULTS)
    for section, settings in values.items():
        if isinstance(settings, Mapping) and isinstance(merged.get(section), dict):
            merged[section].update(settings)
        else:
            merged[section] = settings
    return config_from_dict(merged)


def _refuse_model(values: Mapping[str, Any]) -> None:
    if "model" in values:
        raise ElmoInputError(
            Errors.E331.format(
                key="model",
                value=values["model"],
                why="the architecture is the one of BASE's options.json",
            )
        )


def resolve_base(base: Union[str, Path], *, weight_file: Optional[str] = None) -> Base:
    """BASE -> local files: an options file with ``weight_file``; a folder; an ``hf://``
    folder; otherwise a catalogue name (E401 for an unknown one). E327 for what is none
    of these."""
    text = str(base).strip()
    if not text:
        raise ElmoInputError(Errors.E327.format(base=base, problem="it is empty"))
    if weight_file is not None:
        files = resolve_bilm(options_file=text, weight_file=weight_file)
        return Base(name=f"{text} + {weight_file}", files=InitFiles(files.options, files.weights))
    loc = parse_location(text)
    if loc.kind == "url":
        problem = "a URL names one file; give the options.json URL with --weight-file"
        raise ElmoInputError(Errors.E327.format(base=base, problem=problem))
    if loc.kind == "hf":
        from ..hub.hf import fetch_hf_folder

        return Base(name=text, files=_folder_files(fetch_hf_folder(loc), base))
    path = Path(text).expanduser()
    if path.is_dir():
        return Base(name=text, files=_folder_files(path, base))
    if path.exists() or not looks_like_name(text):
        problem = "a file without --weight-file" if path.exists() else "no such folder"
        raise ElmoInputError(Errors.E327.format(base=base, problem=problem))
    files = resolve_bilm(name=text)
    return Base(name=text, files=InitFiles(files.options, files.weights))


def _folder_files(folder: Path, base: Union[str, Path]) -> InitFiles:
    """The biLM of a folder; its softmax is not used (the domain gets its own vocabulary)."""
    missing = [n for n in ("options.json", "weights.hdf5") if not (folder / n).is_file()]
    if missing:
        problem = f"the folder '{folder}' has no {' or '.join(missing)}"
        raise ElmoInputError(Errors.E327.format(base=base, problem=problem))
    return InitFiles(options=folder / "options.json", weights=folder / "weights.hdf5")


def with_domain_files(
    config: PretrainConfig,
    *,
    train: Sequence[Union[str, Path]],
    dev: Sequence[Union[str, Path]] = (),
    pretokenized: bool = False,
) -> PretrainConfig:
    """``config`` with the domain files (those of the config when none are given); E328
    without training text or for a file that is not there."""
    overrides: Dict[str, Any] = {}
    for key, paths in (("train", train), ("dev", dev)):
        if paths:
            overrides[f"data.{key}"] = [
                {"path": str(p), "pretokenized": pretokenized} for p in paths
            ]
    config = with_overrides(config, overrides) if overrides else config
    _check_domain_files(config.data.train, config.data.dev)
    return config


def with_base_architecture(config: PretrainConfig, base: Base) -> PretrainConfig:
    """``config`` with BASE's architecture as ``model`` (config.json then describes the run);
    E327 for options that do not load."""
    try:
        arch = load_options(base.files.options)
    except (ElmoFormatError, OSError) as e:
        raise ElmoInputError(Errors.E327.format(base=base.name, problem=e)) from None
    return with_overrides(config, {"model": options_to_dict(arch)})


def _check_domain_files(train: Sequence[CorpusFile], dev: Sequence[CorpusFile]) -> None:
    if not train:
        raise ElmoInputError(Errors.E328.format(problem="no --train file was given"))
    for f in (*train, *dev):
        path = Path(f.path)
        if not path.is_file():
            what = "does not exist" if not path.exists() else "is not a file"
            raise ElmoInputError(Errors.E328.format(problem=f"'{path}' {what}"))


def adapt(
    base: Union[str, Path],
    output_dir: Union[str, Path],
    *,
    train: Sequence[Union[str, Path]] = (),
    dev: Sequence[Union[str, Path]] = (),
    weight_file: Optional[str] = None,
    config: Optional[PretrainConfig] = None,
    pretokenized: bool = False,
    device: Optional[str] = None,
    progress: bool = True,
) -> Dict[str, Any]:
    """Adapt BASE to the text of ``train`` in ``output_dir`` (re-run to resume).

    :param config: Settings (default: :func:`default_adapt_config`); ``model`` is replaced by
        BASE's architecture, ``data.train`` / ``data.dev`` by ``train`` / ``dev`` when given.
    :returns: The final record of the run, with ``model_card`` (its path).
    """
    out = Path(output_dir)
    # The domain files first: a missing one is reported before BASE is downloaded.
    config = with_domain_files(
        config or default_adapt_config(), train=train, dev=dev, pretokenized=pretokenized
    )
    found = resolve_base(base, weight_file=weight_file)
    config = with_base_architecture(config, found)
    record = _run_record(found, config)
    _check_output_dir(out, record)
    _warn_about(config, out)
    if _is_main():
        out.mkdir(parents=True, exist_ok=True)
        atomic_write_json(record, out / ADAPT_FILE)
    result = pretrain(config, out, init_weights=found.files, device=device, progress=progress)
    if _is_main():
        result["model_card"] = str(write_model_card(out, record, config))
    return result


def _is_main() -> bool:
    """Rank 0 of a torchrun launch (or a single process) writes the run's own files."""
    return int(os.environ.get("RANK", "0")) == 0


def _run_record(base: Base, config: PretrainConfig) -> Dict[str, Any]:
    """What OUTPUT_DIR/adapt.json keeps: the base and the domain files, with digests."""
    return {
        "base": {
            "name": base.name,
            "options_sha256": file_sha256(base.files.options),
            "weights_sha256": file_sha256(base.files.weights),
        },
        "train": describe_files([f.path for f in config.data.train]),
        "dev": describe_files([f.path for f in config.data.dev]),
    }


def _check_output_dir(out: Path, record: Dict[str, Any]) -> None:
    """E330 for a file or a pretraining run that is not an adaptation, E329 for an
    adaptation of another base or other domain text (a folder without checkpoints is free)."""
    if out.exists() and not out.is_dir():
        raise ElmoInputError(Errors.E330.format(path=out, problem="it is a file"))
    root, previous = out / "checkpoints", out / ADAPT_FILE
    if not (root.is_dir() and any(root.iterdir())):
        return
    if not previous.is_file():
        problem = f"it holds a pretraining run without {ADAPT_FILE} (not started by adapt)"
        raise ElmoInputError(Errors.E330.format(path=out, problem=problem))
    try:
        old = json.loads(previous.read_text(encoding="utf8"))
    except (ValueError, UnicodeDecodeError, OSError) as e:
        raise ElmoInputError(Errors.E330.format(path=out, problem=f"{previous}: {e}")) from None
    _compare_records(out, old, record)


def _compare_records(out: Path, old: Dict[str, Any], new: Dict[str, Any]) -> None:
    old_base = old.get("base", {}) if isinstance(old, dict) else {}
    for what, key in (("base biLM", "weights_sha256"), ("base options", "options_sha256")):
        if old_base.get(key) != new["base"][key]:
            raise ElmoInputError(
                Errors.E329.format(
                    path=out, what=what, found=old_base.get("name"), expected=new["base"]["name"]
                )
            )
    before = [(f.get("name"), f.get("sha256")) for f in old.get("train", [])]
    now = [(f["name"], f["sha256"]) for f in new["train"]]
    if [h for _, h in before] != [h for _, h in now]:
        raise ElmoInputError(
            Errors.E329.format(
                path=out,
                what="domain text (--train)",
                found=[n for n, _ in before],
                expected=[n for n, _ in now],
            )
        )


def _warn_about(config: PretrainConfig, out: Path) -> None:
    a, tc = config.adapt, config.training
    if a.bilm_lr_scale == 0.0:
        warnings.warn(Warnings.W038.format(why="adapt.bilm_lr_scale is 0"))
    elif tc.max_steps is not None and a.freeze_bilm_steps >= tc.max_steps:
        why = f"adapt.freeze_bilm_steps {a.freeze_bilm_steps} >= training.max_steps {tc.max_steps}"
        warnings.warn(Warnings.W038.format(why=why))
    if not config.data.dev:
        warnings.warn(Warnings.W039.format(path=out))


def with_adapt_overrides(config: PretrainConfig, overrides: Mapping[str, Any]) -> PretrainConfig:
    """:func:`~.config.with_overrides` that refuses ``model`` (E331)."""
    for key, value in overrides.items():
        if key == "model" or key.startswith("model."):
            _refuse_model({"model": value})
    return with_overrides(config, overrides)


__all__ = [
    "ADAPT_DEFAULTS",
    "Base",
    "adapt",
    "default_adapt_config",
    "load_adapt_config",
    "resolve_base",
    "with_adapt_overrides",
    "with_base_architecture",
    "with_domain_files",
]
