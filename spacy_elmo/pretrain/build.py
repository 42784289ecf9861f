"""What a pretraining run is made of: the architecture, the model (biLM + softmax), the
optimizer, a start from exported weights, and the fingerprint that resumption checks."""

import hashlib
import json
from dataclasses import asdict
from pathlib import Path
from typing import Any, Dict, Optional, Tuple, Union, cast

import torch

from ..errors import ElmoFormatError, ElmoInputError, Errors
from ..pytorch.bilm import ELMoBiLM
from ..pytorch.config import ELMoConfig, preset
from ..weights import config_from_dict as options_from_dict
from ..weights import config_to_dict as options_to_dict
from ..weights import load_options, load_weights
from .checkpoint import safe_torch_load
from .config import OptimizerConfig, PretrainConfig
from .corpus import EncodedText
from .lm_head import SharedSoftmax
from .model import BiLMLanguageModel
from .vocab import Vocab, check_cutoffs

#: Largest biLM + softmax that ``pretrain`` builds (the published "original" ELMo has
#: 94 M parameters without its softmax); checked before anything is allocated.
MAX_PARAMETERS = 500_000_000


def resolve_architecture(model: Union[str, Dict[str, Any]]) -> ELMoConfig:
    """A preset name, a path to an options.json, or an options dictionary."""
    if isinstance(model, dict):
        return options_from_dict(model)
    if Path(model).suffix == ".json" or Path(model).is_file():
        if not Path(model).is_file():
            raise ElmoInputError(Errors.E001.format(what="options file", path=model))
        return load_options(model)
    return preset(model)


def check_model_size(arch: ELMoConfig, n_words: int, what: str) -> None:
    """E317 before allocation when the biLM and its softmax would be implausibly large."""
    try:
        n_bilm = arch.n_parameters()
    except (ElmoFormatError, TypeError, ValueError) as e:
        raise ElmoInputError(Errors.E317.format(what=what, n=0, limit=0, details=e)) from None
    n_softmax = n_words * (arch.lstm.projection_dim + 1)
    if n_bilm + n_softmax > MAX_PARAMETERS:
        details = f"biLM {n_bilm:,}, softmax of {n_words:,} words about {n_softmax:,}"
        raise ElmoInputError(
            Errors.E317.format(
                what=what, n=n_bilm + n_softmax, limit=MAX_PARAMETERS, details=details
            )
        )


def build_model(
    arch: ELMoConfig, vocab: Vocab, config: PretrainConfig, device: Optional[torch.device] = None
) -> BiLMLanguageModel:
    check_model_size(arch, len(vocab), "pretraining model")
    cutoffs = check_cutoffs(list(config.softmax.cutoffs), len(vocab))
    softmax = SharedSoftmax(
        input_dim=arch.lstm.projection_dim,
        n_words=len(vocab),
        cutoffs=cutoffs,
        div_value=config.softmax.div_value,
        device=device,
    )
    bilm = ELMoBiLM(arch, device=device)
    return BiLMLanguageModel(bilm=bilm, softmax=softmax, dropout=config.training.dropout)


def make_optimizer(model: torch.nn.Module, config: PretrainConfig) -> torch.optim.Optimizer:
    o = config.optimizer
    if o.name == "adagrad":
        return torch.optim.Adagrad(
            model.parameters(),
            lr=o.lr,
            initial_accumulator_value=o.adagrad_init,
            weight_decay=o.weight_decay,
        )
    # tuple(): betas given as a list in Python code still reach the optimizer (and its
    # state_dict in checkpoints) as a tuple. The config declares two floats.
    betas = cast(Tuple[float, float], tuple(o.betas))
    return torch.optim.AdamW(model.parameters(), lr=o.lr, betas=betas, weight_decay=o.weight_decay)


def softmax_payload(model: BiLMLanguageModel) -> Dict[str, Any]:
    return {"state_dict": model.softmax.state_dict(), **model.softmax.spec()}


def init_from(init_dir: Path, model: BiLMLanguageModel, vocab: Vocab) -> bool:
    """Load the biLM (and the softmax when it was saved with this vocabulary)."""
    load_weights(model.bilm, init_dir / "weights.hdf5")
    sm = init_dir / "softmax.pt"
    if sm.is_file() and (init_dir / "vocab.txt").is_file():
        payload = safe_torch_load(sm)
        if Vocab.load(init_dir / "vocab.txt").words == vocab.words and payload["n_words"] == len(
            vocab
        ):
            try:
                model.softmax.load_state_dict(payload["state_dict"])
                return True
            except RuntimeError:
                return False
    return False


#: Settings of the learning-rate decay: a resumed run may change them (e.g. to train on
#: past the end of a finished schedule), so resumption does not compare them.
SCHEDULE_KEYS = ("schedule", "min_lr", "decay_steps")


def _optimizer_fingerprint(o: OptimizerConfig) -> Dict[str, Any]:
    """The optimizer settings; schedule keys only when set (as runs before schedules
    existed wrote them)."""
    values = asdict(o)
    defaults = asdict(OptimizerConfig())
    for key in SCHEDULE_KEYS:
        if values[key] == defaults[key]:
            del values[key]
    return values


def fingerprint(
    arch: ELMoConfig, vocab: Vocab, text: EncodedText, config: PretrainConfig
) -> Dict[str, Any]:
    """What must not change between a run and its resumption."""
    return {
        "architecture": options_to_dict(arch),
        "vocab": hashlib.sha1("\n".join(vocab.words).encode("utf8")).hexdigest(),
        "corpus": [text.n_tokens, text.n_sentences, len(text.types)],
        "batching": asdict(config.batching),
        "softmax": asdict(config.softmax),
        "optimizer": _optimizer_fingerprint(config.optimizer),
        "seed": config.training.seed,
        "dropout": config.training.dropout,
    }


def check_fingerprint(found: Dict[str, Any], expected: Dict[str, Any], path: Path) -> None:
    # Tuples and lists compare equal after a JSON round trip (checkpoints may hold either).
    found, expected = json.loads(json.dumps(found)), json.loads(json.dumps(expected))
    for values in (found, expected):
        for key in SCHEDULE_KEYS:
            values.get("optimizer", {}).pop(key, None)
    for key in expected:
        if found.get(key) != expected[key]:
            raise ElmoInputError(
                Errors.E304.format(path=path, key=key, found=found.get(key), expected=expected[key])
            )
