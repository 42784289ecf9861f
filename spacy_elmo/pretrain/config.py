"""Typed, keyword-only settings of a biLM pretraining run (every hyperparameter lives here).

A run is described by one JSON file (``configs/pretrain_default.json``) with the sections
``model``, ``data``, ``batching``, ``softmax``, ``optimizer``, ``training`` and (for
continued training, ``adapt``) ``adapt``; see :func:`config_from_dict`.
"""

import json
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Dict, Mapping, Optional, Tuple, Union

from ..errors import ElmoInputError, Errors
from ..validation import check_bool, check_choice, check_float, check_int, invalid

#: Optimizers and learning-rate schedules that :mod:`.loop` and :mod:`.schedule` implement.
OPTIMIZERS = ("adam", "adagrad")
SCHEDULES = ("constant", "linear", "cosine")


@dataclass(frozen=True, kw_only=True)
class CorpusFile:
    """One input text file.

    :param path: UTF-8 text, one sentence (or paragraph) per line.
    :param pretokenized: Split on whitespace instead of running spaCy's tokenizer.
    :param max_lines: Read at most this many non-empty lines (``None``: all).
    """

    path: str
    pretokenized: bool = False
    max_lines: Optional[int] = None

    def __post_init__(self) -> None:
        if not isinstance(self.path, str) or not self.path:
            raise ElmoInputError(
                Errors.E110.format(name="data path", value=self.path, expected="a file path")
            )
        check_bool("pretokenized", self.pretokenized)
        if self.max_lines is not None:
            check_int("max_lines", self.max_lines, low=1)


@dataclass(frozen=True, kw_only=True)
class DataConfig:
    """Corpus and vocabulary.

    :param train: Training files.
    :param dev: Held-out files for the perplexity curve (may be empty).
    :param vocab_size: Words in the softmax, ``<S>``, ``</S>`` and ``<UNK>`` included. The char
        CNN still sees every word type. Recommended: 30k-50k with the adaptive softmax.
    :param min_count: Words seen fewer times never enter the softmax vocabulary.
    :param max_line_chars: Longer lines are split into pieces of this size (with a warning).
    :param max_token_chars: Longer "tokens" (binary junk, URLs) are cut to this size.
    :param dev_max_tokens: Evaluate dev perplexity on at most this many tokens per file.
    :param lang: spaCy language code of the tokenizer (``spacy.blank(lang)``).
    """

    train: Tuple[CorpusFile, ...] = ()
    dev: Tuple[CorpusFile, ...] = ()
    vocab_size: int = 40000
    min_count: int = 1
    max_line_chars: int = 100_000
    max_token_chars: int = 100
    dev_max_tokens: int = 50_000
    lang: str = "en"

    def __post_init__(self) -> None:
        # <S>, </S>, <UNK> and at least one word.
        check_int("data.vocab_size", self.vocab_size, low=4, high=10_000_000)
        check_int("data.min_count", self.min_count, low=1)
        check_int("data.max_line_chars", self.max_line_chars, low=1)
        check_int("data.max_token_chars", self.max_token_chars, low=1)
        check_int("data.dev_max_tokens", self.dev_max_tokens, low=1)


@dataclass(frozen=True, kw_only=True)
class BatchingConfig:
    """Truncated backpropagation through time over continuous sentence streams.

    :param batch_size: Rows per process; each row is one continuous stream of sentences.
    :param unroll_steps: Tokens per window; LSTM states are carried (detached) between windows.
    :param shuffle: Shuffle the sentence order every epoch.
    """

    batch_size: int = 64
    unroll_steps: int = 20
    shuffle: bool = True

    def __post_init__(self) -> None:
        check_int("batching.batch_size", self.batch_size, low=1, high=1_000_000)
        check_int("batching.unroll_steps", self.unroll_steps, low=1, high=100_000)
        check_bool("batching.shuffle", self.shuffle)


@dataclass(frozen=True, kw_only=True)
class SoftmaxConfig:
    """The shared softmax of both directions (``torch.nn.AdaptiveLogSoftmaxWithLoss``).

    :param cutoffs: Vocabulary cutoffs between the head and the tail clusters.
    :param div_value: Each tail cluster's projection is this factor narrower.
    """

    cutoffs: Tuple[int, ...] = (2000, 10000)
    div_value: float = 4.0

    def __post_init__(self) -> None:
        check_float("softmax.div_value", self.div_value, low=1.0)


@dataclass(frozen=True, kw_only=True)
class OptimizerConfig:
    """
    :param name: ``"adam"`` or ``"adagrad"`` (bilm-tf: Adagrad, lr 0.2, accumulator 1.0).
    :param lr: Learning rate.
    :param betas: Adam betas.
    :param weight_decay: L2 penalty (Adam: decoupled).
    :param adagrad_init: Adagrad's initial accumulator value.
    :param clip_norm: Clip the global gradient norm to this value (bilm-tf: 10).
    :param warmup_steps: Linear learning-rate warm-up.
    :param schedule: After the warm-up: ``"constant"`` (keep ``lr``), ``"linear"`` or
        ``"cosine"`` decay to ``min_lr`` (see :mod:`.schedule`).
    :param min_lr: The floor of a decaying schedule (e.g. ``lr / 10``).
    :param decay_steps: The step at which the decay reaches ``min_lr`` (``None``: the run's
        last step, ``training.max_steps`` or ``max_epochs`` worth of steps).
    """

    name: str = "adam"
    lr: float = 2e-3
    betas: Tuple[float, float] = (0.9, 0.999)
    weight_decay: float = 0.0
    adagrad_init: float = 1.0
    clip_norm: float = 5.0
    warmup_steps: int = 0
    schedule: str = "constant"
    min_lr: float = 0.0
    decay_steps: Optional[int] = None

    def __post_init__(self) -> None:
        check_choice("optimizer.name", self.name, OPTIMIZERS)
        check_float("optimizer.lr", self.lr, low=0.0, low_open=True)
        if not isinstance(self.betas, (tuple, list)) or len(self.betas) != 2:
            raise ElmoInputError(
                Errors.E110.format(name="optimizer.betas", value=self.betas, expected="two numbers")
            )
        for beta in self.betas:
            check_float("optimizer.betas", beta, low=0.0, high=0.999999)
        check_float("optimizer.weight_decay", self.weight_decay, low=0.0)
        check_float("optimizer.adagrad_init", self.adagrad_init, low=0.0)
        check_float("optimizer.clip_norm", self.clip_norm, low=0.0)  # 0: no clipping
        check_int("optimizer.warmup_steps", self.warmup_steps, low=0)
        check_choice("optimizer.schedule", self.schedule, SCHEDULES)
        check_float("optimizer.min_lr", self.min_lr, low=0.0, high=self.lr)
        if self.decay_steps is not None:
            check_int("optimizer.decay_steps", self.decay_steps, low=1)


@dataclass(frozen=True, kw_only=True)
class TrainingConfig:
    """
    :param seed: Seeds data order, initialisation and dropout.
    :param max_steps: Stop after this many optimizer steps (``None``: run until ``max_epochs``).
    :param max_epochs: Stop after this many passes over the training streams.
    :param dropout: Dropout on the LSTM input and on the top layer before the softmax.
    :param checkpoint_every_steps: Write a checkpoint every this many steps (0: never by steps).
    :param checkpoint_every_minutes: ...and at least this often (0: never by time).
    :param eval_every_steps: Dev perplexity every this many steps (0: only at the end).
    :param log_every_steps: Append a line to ``log.jsonl`` every this many steps.
    :param keep_checkpoints: Checkpoints kept on disk (the newest ones).
    :param threads: ``torch.set_num_threads`` (0: leave torch's default).
    """

    seed: int = 0
    max_steps: Optional[int] = None
    max_epochs: int = 10
    dropout: float = 0.1
    checkpoint_every_steps: int = 0
    checkpoint_every_minutes: float = 5.0
    eval_every_steps: int = 500
    log_every_steps: int = 50
    keep_checkpoints: int = 2
    threads: int = 0

    def __post_init__(self) -> None:
        check_int("training.seed", self.seed, low=0)
        if self.max_steps is not None:
            check_int("training.max_steps", self.max_steps, low=0)
        check_int("training.max_epochs", self.max_epochs, low=0)
        check_float("training.dropout", self.dropout, low=0.0, high=0.99)
        check_int("training.checkpoint_every_steps", self.checkpoint_every_steps, low=0)
        check_float("training.checkpoint_every_minutes", self.checkpoint_every_minutes, low=0.0)
        check_int("training.eval_every_steps", self.eval_every_steps, low=0)
        check_int("training.log_every_steps", self.log_every_steps, low=0)
        check_int("training.keep_checkpoints", self.keep_checkpoints, low=1)
        check_int("training.threads", self.threads, low=0, high=4096)


@dataclass(frozen=True, kw_only=True)
class AdaptConfig:
    """Continued training of a trained biLM (``python -m spacy_elmo adapt``).

    The defaults leave pretraining as it was: every parameter trains from the first step at
    ``optimizer.lr``.

    :param freeze_bilm_steps: The first steps train the softmax alone (the biLM does not
        change): a new softmax on top of a trained biLM starts random, and its first large
        gradients would otherwise flow into the biLM and undo some of its training.
    :param bilm_lr_scale: The biLM's learning rate is ``optimizer.lr`` times this (the
        softmax keeps ``optimizer.lr``): discriminative fine-tuning, small steps for the
        trained part, larger ones for the new part. ``0`` keeps the biLM frozen throughout.
    """

    freeze_bilm_steps: int = 0
    bilm_lr_scale: float = 1.0

    def __post_init__(self) -> None:
        check_int("adapt.freeze_bilm_steps", self.freeze_bilm_steps, low=0)
        check_float("adapt.bilm_lr_scale", self.bilm_lr_scale, low=0.0, high=100.0)

    @property
    def is_default(self) -> bool:
        return self == AdaptConfig()


@dataclass(frozen=True, kw_only=True)
class PretrainConfig:
    """A whole pretraining run.

    :param model: A preset name (``small``, ...), a path to an options.json, or an
        options.json dictionary (``{"char_cnn": ..., "lstm": ...}``).
    """

    model: Union[str, Dict[str, Any]] = "small"
    data: DataConfig = field(default_factory=DataConfig)
    batching: BatchingConfig = field(default_factory=BatchingConfig)
    softmax: SoftmaxConfig = field(default_factory=SoftmaxConfig)
    optimizer: OptimizerConfig = field(default_factory=OptimizerConfig)
    training: TrainingConfig = field(default_factory=TrainingConfig)
    adapt: AdaptConfig = field(default_factory=AdaptConfig)

    def to_dict(self) -> Dict[str, Any]:
        return json.loads(json.dumps(asdict(self)))


_SECTIONS = {
    "data": DataConfig,
    "batching": BatchingConfig,
    "softmax": SoftmaxConfig,
    "optimizer": OptimizerConfig,
    "training": TrainingConfig,
    "adapt": AdaptConfig,
}


def _build(cls: type, values: Mapping[str, Any], where: str) -> Any:
    names = {f.name for f in fields(cls)}
    unknown = sorted(set(values) - names)
    if unknown:
        raise ElmoInputError(Errors.E308.format(where=where, keys=unknown, known=sorted(names)))
    kwargs = dict(values)
    for key, value in kwargs.items():
        if isinstance(value, list):
            kwargs[key] = tuple(value)
    return cls(**kwargs)


def _corpus_files(value: Any, where: str) -> Tuple[CorpusFile, ...]:
    out = []
    for item in value or ():
        if isinstance(item, CorpusFile):
            out.append(item)
        elif isinstance(item, str):
            out.append(CorpusFile(path=item))
        elif isinstance(item, Mapping):
            out.append(_build(CorpusFile, item, where))
        else:
            raise ElmoInputError(
                Errors.E308.format(where=where, keys=[repr(item)], known=["path or {path: ...}"])
            )
    return tuple(out)


def config_from_dict(values: Mapping[str, Any]) -> PretrainConfig:
    """Build a :class:`PretrainConfig`; unknown keys raise E308."""
    unknown = sorted(set(values) - {"model", *_SECTIONS})
    if unknown:
        raise ElmoInputError(
            Errors.E308.format(where="top level", keys=unknown, known=["model", *_SECTIONS])
        )
    kwargs: Dict[str, Any] = {}
    if "model" in values:
        kwargs["model"] = values["model"]
    for name, cls in _SECTIONS.items():
        section = dict(values.get(name, {}))
        if name == "data":
            for key in ("train", "dev"):
                if key in section:
                    section[key] = _corpus_files(section[key], f"data.{key}")
        kwargs[name] = _build(cls, section, name)
    return PretrainConfig(**kwargs)


def read_config_json(path: Union[str, Path]) -> Any:
    """The parsed JSON of a config file (E001 when missing, E309 when not JSON)."""
    path = Path(path)
    if not path.is_file():
        raise ElmoInputError(Errors.E001.format(what="config file", path=path))
    try:
        return json.loads(path.read_text(encoding="utf8"))
    except (ValueError, UnicodeDecodeError) as e:
        raise ElmoInputError(Errors.E309.format(path=path, error=e)) from None


def load_config(path: Union[str, Path]) -> PretrainConfig:
    """Read a pretraining config from JSON."""
    return config_from_dict(read_config_json(path))


def with_overrides(config: PretrainConfig, overrides: Mapping[str, Any]) -> PretrainConfig:
    """Apply dotted overrides: ``{"training.max_steps": 100, "data.vocab_size": 5000}``."""
    values = config.to_dict()
    for dotted, value in overrides.items():
        *path, key = dotted.split(".")
        node = values
        for part in path:
            if not isinstance(node.get(part), dict):
                raise ElmoInputError(
                    Errors.E308.format(where=dotted, keys=[dotted], known=sorted(values))
                )
            node = node[part]
        node[key] = value
    return config_from_dict(values)


__all__ = [
    "CorpusFile",
    "DataConfig",
    "BatchingConfig",
    "SoftmaxConfig",
    "OptimizerConfig",
    "TrainingConfig",
    "AdaptConfig",
    "PretrainConfig",
    "config_from_dict",
    "load_config",
    "with_overrides",
    "replace",
]
