"""What ``adapt`` records about a run: ``adapt.json`` (the base and the domain files, with
SHA-256 digests, checked when the run is resumed) and ``MODEL_CARD.md`` (written at the end:
base, domain files, steps, held-out perplexity of the base and of the adapted model)."""

import hashlib
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Union

from .atomic import atomic_write_text
from .config import PretrainConfig
from .runlog import LOG_FILE, read_log
from .vocab import Vocab

ADAPT_FILE = "adapt.json"
MODEL_CARD = "MODEL_CARD.md"


def file_sha256(path: Union[str, Path]) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def describe_files(paths: Sequence[Union[str, Path]]) -> List[Dict[str, Any]]:
    """Path as given, size and SHA-256 of each domain file (the model card cites them; two
    files of one name in different folders stay apart)."""
    return [
        {"name": Path(p).as_posix(), "bytes": Path(p).stat().st_size, "sha256": file_sha256(p)}
        for p in paths
    ]


def perplexities(records: Sequence[Dict[str, Any]], step: int) -> Dict[str, float]:
    """``dev_ppl:<file>`` of the record logged at ``step`` (empty if none was evaluated)."""
    for record in records:
        if record.get("step") == step and any(k.startswith("dev_ppl:") for k in record):
            return {k.split(":", 1)[1]: v for k, v in record.items() if k.startswith("dev_ppl:")}
    return {}


def write_model_card(out: Path, record: Dict[str, Any], config: PretrainConfig) -> Path:
    """``OUTPUT_DIR/MODEL_CARD.md`` from ``adapt.json``'s record and the run's log."""
    records = read_log(out / LOG_FILE, upto_step=1 << 62)
    last = max((r.get("step", 0) for r in records), default=0)
    warm = config.adapt.freeze_bilm_steps
    lines = [
        "# Adapted biLM",
        "",
        f"Written by `python -m spacy_elmo adapt` on {time.strftime('%Y-%m-%d')}. Load "
        "`options.json` + `weights.hdf5` of this folder like any biLM (ElmoEmbedder, the "
        "`elmo` component's `options_file` / `weight_file`); `softmax.pt` and `vocab.txt` "
        "continue training (`pretrain --init-weights`).",
        "",
        f"- base model: `{record['base']['name']}` (options.json sha256 "
        f"`{record['base']['options_sha256']}`, weights.hdf5 sha256 "
        f"`{record['base']['weights_sha256']}`)",
        f"- steps: {last} (the first {min(warm, last)} train the new softmax alone); "
        f"{_tokens(records, last)} training tokens",
        f"- learning rate: softmax {config.optimizer.lr:g} ({config.optimizer.schedule}, "
        f"floor {config.optimizer.min_lr:g}), biLM x {config.adapt.bilm_lr_scale:g}",
        f"- softmax vocabulary: {_vocab_size(out)} words of the domain text",
        "",
        "## Domain files",
        "",
        "| role | file | bytes | sha256 |",
        "|---|---|---|---|",
        *_file_rows(record),
        "",
        "## Held-out perplexity",
        "",
        *_perplexity_table(records, warm, last),
    ]
    path = out / MODEL_CARD
    atomic_write_text("\n".join(lines) + "\n", path)
    return path


def _tokens(records: Sequence[Dict[str, Any]], step: int) -> str:
    tokens = [r.get("tokens") for r in records if r.get("step") == step]
    return f"{tokens[0]:,}" if tokens and tokens[0] is not None else "?"


def _vocab_size(out: Path) -> Union[int, str]:
    try:
        return len(Vocab.load(out / "vocab.txt"))
    except ValueError:
        return "?"


def _file_rows(record: Dict[str, Any]) -> List[str]:
    return [
        f"| {role} | {f['name']} | {f['bytes']:,} | `{f['sha256']}` |"
        for role in ("train", "dev")
        for f in record.get(role, [])
    ]


def _perplexity_table(records: Sequence[Dict[str, Any]], warm: int, last: int) -> List[str]:
    """Base (the trained biLM, frozen, with the softmax of the warm-up) vs adapted."""
    base = perplexities(records, warm) if 0 < warm <= last else {}
    adapted = perplexities(records, last)
    if not adapted:
        return ["Not measured: the run had no --dev file."]
    lines = [
        f"Forward/backward average on the --dev files, softmax over this folder's vocabulary. "
        f"Base: BASE's biLM unchanged, with the softmax after its {warm}-step warm-up.",
        "",
        f"| dev file | base (step {warm}) | adapted (step {last}) |",
        "|---|---|---|",
    ]
    for name, value in adapted.items():
        lines.append(f"| {name} | {_ppl(base.get(name))} | {_ppl(value)} |")
    return lines


def _ppl(value: Optional[float]) -> str:
    return "not measured" if value is None else f"{value:.1f}"
