"""What a pretraining run is made of: the architecture, the model (biLM + softmax), the
optimizer (one learning rate, or a lower one for a trained biLM), a start from trained
weights, and the fingerprint that resumption checks."""

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple, Union, cast

import torch

from ..errors import ElmoFormatError, ElmoInputError, Errors
from ..pytorch.bilm import ELMoBiLM
from ..pytorch.config import ELMoConfig, preset
from ..weights import config_from_dict as options_from_dict
from ..weights import config_to_dict as options_to_dict
from ..weights import load_options, load_weights
from .checkpoint import safe_torch_load
from .config import OptimizerConfig, PretrainConfig
from .lm_head import SharedSoftmax
from .model import BiLMLanguageModel
from .text import EncodedText
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


def parameter_groups(model: BiLMLanguageModel, config: PretrainConfig) -> List[Dict[str, Any]]:
    """One group at ``optimizer.lr`` (pretraining); with ``adapt.bilm_lr_scale`` other than 1,
    the biLM in a group of its own at ``lr x scale`` and the softmax at ``lr``. Each group
    carries its ``lr_scale`` so that the schedule can scale the rate of every step."""
    scale = config.adapt.bilm_lr_scale
    if scale == 1.0:  # one group, as runs before discriminative rates (checkpoints resume)
        return [{"params": list(model.parameters()), "lr_scale": 1.0}]
    bilm = list(model.bilm.parameters())
    ids = {id(p) for p in bilm}
    rest = [p for p in model.parameters() if id(p) not in ids]
    return [{"params": bilm, "lr_scale": scale}, {"params": rest, "lr_scale": 1.0}]


def make_optimizer(model: BiLMLanguageModel, config: PretrainConfig) -> torch.optim.Optimizer:
    o = config.optimizer
    groups = parameter_groups(model, config)
    for group in groups:
        group["lr"] = o.lr * group["lr_scale"]
    if o.name == "adagrad":
        return torch.optim.Adagrad(
            groups,
            lr=o.lr,
            initial_accumulator_value=o.adagrad_init,
            weight_decay=o.weight_decay,
        )
    # tuple(): betas given as a list in Python code still reach the optimizer (and its
    # state_dict in checkpoints) as a tuple. The config declares two floats.
    betas = cast(Tuple[float, float], tuple(o.betas))
    return torch.optim.AdamW(groups, lr=o.lr, betas=betas, weight_decay=o.weight_decay)


def softmax_payload(model: BiLMLanguageModel) -> Dict[str, Any]:
    return {"state_dict": model.softmax.state_dict(), **model.softmax.spec()}


@dataclass(frozen=True)
class InitFiles:
    """Where a run starts from: a trained biLM, and optionally the softmax trained with it.

    ``softmax`` and ``vocab`` are both set or both ``None`` (published bilm-tf files have no
    softmax: the run builds a new one for its own vocabulary).
    """

    options: Path
    weights: Path
    softmax: Optional[Path] = None
    vocab: Optional[Path] = None

    @classmethod
    def from_dir(cls, init_dir: Union[str, Path]) -> "InitFiles":
        """``options.json`` + ``weights.hdf5`` (+ ``softmax.pt`` and ``vocab.txt``); E305
        when one of the first two is missing."""
        init_dir = Path(init_dir)
        missing = [n for n in ("options.json", "weights.hdf5") if not (init_dir / n).is_file()]
        if missing:
            raise ElmoInputError(Errors.E305.format(path=init_dir, missing=", ".join(missing)))
        sm, vocab = init_dir / "softmax.pt", init_dir / "vocab.txt"
        with_softmax = sm.is_file() and vocab.is_file()
        return cls(
            options=init_dir / "options.json",
            weights=init_dir / "weights.hdf5",
            softmax=sm if with_softmax else None,
            vocab=vocab if with_softmax else None,
        )


def init_from(init: InitFiles, model: BiLMLanguageModel, vocab: Vocab) -> bool:
    """Load the biLM (and the softmax when it was saved with this vocabulary)."""
    load_weights(model.bilm, init.weights)
    if init.softmax is None or init.vocab is None:
        return False
    payload = safe_torch_load(init.softmax)
    if Vocab.load(init.vocab).words == vocab.words and payload["n_words"] == len(vocab):
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
        # Only when set: runs from before the section existed resume unchanged.
        **({} if config.adapt.is_default else {"adapt": asdict(config.adapt)}),
    }


def check_fingerprint(found: Dict[str, Any], expected: Dict[str, Any], path: Path) -> None:
    # Tuples and lists compare equal after a JSON round trip (checkpoints may hold either).
    found, expected = json.loads(json.dumps(found)), json.loads(json.dumps(expected))
    for values in (found, expected):
        for key in SCHEDULE_KEYS:
            values.get("optimizer", {}).pop(key, None)
    # "adapt" is in a fingerprint only when set: resuming without it must be refused too.
    for key in [*expected, *(["adapt"] if "adapt" in found and "adapt" not in expected else [])]:
        if found.get(key) != expected.get(key):
            raise ElmoInputError(
                Errors.E304.format(
                    path=path, key=key, found=found.get(key), expected=expected.get(key)
                )
            )
