"""Every setting of the spaCy integration, declared once: name, type, default and check.

Two owners, as in spaCy's split between a component and its architecture:

- :class:`BiLMSettings`: the frozen biLM, owned by the ``spacy-elmo.ElmoLayers.v1``
  architecture (``[components.elmo.model]``): which files, how it runs, how docs are batched.
- :class:`ComponentSettings`: the ``elmo`` component's own (``[components.elmo]``): the fixed
  mix written to ``doc._.elmo`` and what else it sets on docs.

The registered functions take their keyword arguments from these classes (see
:func:`keyword_parameters`), so spaCy's config validation and ``init fill-config`` show the
same names and defaults as this module. This module imports neither torch nor spaCy.
"""

import dataclasses
import inspect
import os
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Tuple, Type, TypeVar, Union

from .errors import ElmoInputError, Errors
from .runtime_settings import (  # noqa: F401  (STATE_MODES etc. stay importable from here)
    DEVICE_PATTERN,
    PRECISIONS,
    RUNTIME_DEFAULTS,
    STATE_MODES,
    RuntimeSettings,
    check_model_source,
)
from .validation import check_bool, check_float, check_int, invalid

#: Tokens of finished layers kept by the architecture's training-time LRU cache (the
#: setting ``cache_size``, a name kept so saved configs load). Not the embedder's word-type
#: cache (``RuntimeSettings.word_cache_size``).
LAYER_CACHE_TOKENS = 200_000

#: The named choices of ``trainable_layers``; an integer N (the top N LSTM layers) also works.
TRAINABLE_LAYER_NAMES = ("none", "top", "all")


def check_trainable_layers(value: Any) -> Union[str, int]:
    """``value`` if it names biLM layers to train: "none", "top", "all" or an int >= 0
    (0 is "none"); E218 otherwise. Whether N fits the biLM is known once it is loaded."""
    if isinstance(value, str) and value in TRAINABLE_LAYER_NAMES:
        return value
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    raise ElmoInputError(Errors.E218.format(value=value))


@dataclass(frozen=True)
class BiLMSettings:
    """The settings of the frozen biLM (``spacy-elmo.ElmoLayers.v1``).

    name (Optional[str]): A catalogue model (``python -m spacy_elmo models``), fetched once
        into the download cache; "default" is the embedded model. Not with files (E402).
    options_file (Optional[str]): options.json of the biLM: a path, an http(s) URL or
        ``hf://OWNER/REPO[@REVISION]/PATH``. With ``weight_file`` and ``name`` None (the
        default): the embedded default English model.
    weight_file (Optional[str]): weights.hdf5 of the biLM; give both files or neither (E402).
    state (str): Initial LSTM state of each sequence: "warm" (default: one fixed state from a
        warm-up text, deterministic), "zero", or "stateful" (AllenNLP/bilm-tf semantics).
    device (str): "auto" (default: the GPU spaCy uses, e.g. after ``spacy.require_gpu(N)`` or
        ``spacy train --gpu-id N``, else the CPU), "cpu", "cuda", "cuda:N" or "mps".
    precision (str): "float32" (default, exact), "bfloat16" (the biLSTM's matrix products
        in bfloat16, faster on CPUs with bfloat16 GEMMs, vectors ~0.3% off) or "int8" (its
        weights quantized per output channel; CPU only, fastest with VNNI).
    batch_size (int): Most biLM sequences per forward pass. Default 64.
    max_batch_tokens (int): Most padded tokens per forward pass. Default 4096.
    window (int): Tokens kept per window for docs without sentence boundaries. Default 64.
    overlap (int): Context tokens run on either side of a window and dropped. Default 16.
    max_sentence_length (int): Longer sentences are cut into windows. Default 256.
    cache_size (int): Tokens of finished layers kept in the training-time LRU cache
        (memory: tokens * (L+1) * 2P * 4 bytes); 0 disables it. Default 200,000. Not the
        embedder's word-type cache (``RuntimeSettings.word_cache_size``). Not used while
        the biLM is trained (its layers change every update).
    trainable_layers (Union[str, int]): Which biLM layers ``spacy train`` / ``nlp.update``
        train (docs/fine-tuning.md): "none" (default: frozen, today's files and vectors),
        "top" (the top LSTM layer), N (the top N LSTM layers) or "all" (the char CNN and
        every LSTM layer). Needs ``precision="float32"`` (E226) and a ``state`` other than
        "stateful" (E225); E218 for anything else, E219 for more layers than the biLM has.
    learning_rate_scale (float): The trained biLM layers' learning rate relative to the
        training optimizer's (discriminative learning rates). Default 0.1.
    dropout (float): Dropout on the trained biLM's output layers in training. Default 0.0.

    ``state``, ``device``, ``precision`` and ``batch_size`` are runtime settings: their
    defaults and allowed values are :class:`~spacy_elmo.runtime_settings.RuntimeSettings`'.

    Once the biLM is loaded, ``cache_size``, ``max_batch_tokens``, ``max_sentence_length``
    and ``window + 2 * overlap`` are refused (E115) if their tokens of layers could never fit
    in memory (``spacy_elmo.models.shim.check_setting_sizes``). ``batch_size`` needs no bound:
    a biLM call also holds at most ``max_batch_tokens`` padded tokens.
    """

    name: Optional[str] = None
    options_file: Optional[str] = None
    weight_file: Optional[str] = None
    # The runtime settings' defaults and checks are RuntimeSettings' (one owner).
    state: str = RUNTIME_DEFAULTS.state
    device: str = RUNTIME_DEFAULTS.device
    precision: str = RUNTIME_DEFAULTS.precision
    batch_size: int = RUNTIME_DEFAULTS.batch_size
    max_batch_tokens: int = 4096
    window: int = 64
    overlap: int = 16
    max_sentence_length: int = 256
    cache_size: int = LAYER_CACHE_TOKENS
    trainable_layers: Union[str, int] = "none"
    learning_rate_scale: float = 0.1
    dropout: float = 0.0

    def __post_init__(self) -> None:
        self._check_source()
        RuntimeSettings(
            state=self.state,
            precision=self.precision,
            device=self.device,
            batch_size=self.batch_size,
        )
        for name, minimum in _INT_MINIMA.items():
            check_int(name, getattr(self, name), low=minimum)
        self._check_training()

    @property
    def trains(self) -> bool:
        """Whether ``spacy train`` / ``nlp.update`` train biLM layers."""
        return self.trainable_layers not in ("none", 0)

    def _check_training(self) -> None:
        value = check_trainable_layers(self.trainable_layers)
        scale = check_float("learning_rate_scale", self.learning_rate_scale, low=0.0)
        object.__setattr__(self, "learning_rate_scale", scale)
        dropout = check_float("dropout", self.dropout, low=0.0, high=1.0, high_open=True)
        object.__setattr__(self, "dropout", dropout)
        if not self.trains:
            return
        if self.state == "stateful":
            raise ElmoInputError(Errors.E225.format(value=value))
        if self.precision != "float32":
            raise ElmoInputError(Errors.E226.format(value=value, precision=self.precision))

    def _check_source(self) -> None:
        """A name, both files, or nothing (E402); paths given as Path objects kept as text."""
        for key in ("options_file", "weight_file"):
            value = getattr(self, key)
            if isinstance(value, os.PathLike):
                object.__setattr__(self, key, os.fspath(value))
            elif value is not None and not isinstance(value, str):
                invalid(key, value, "a path, a URL or null")
        if self.name is not None and not isinstance(self.name, str):
            invalid("name", self.name, "a model name or null")
        check_model_source(
            name=self.name, options_file=self.options_file, weight_file=self.weight_file
        )

    def with_shorthand(self, given: Mapping[str, Any]) -> "BiLMSettings":
        """These settings with the biLM settings given in the component's section (the flat
        shorthand ``[components.elmo] options_file = ...``) merged in.

        A shorthand value replaces a model value that is still the default; a model value
        set to something else that differs is a conflict (E207). None means "not given".
        """
        default = BiLMSettings()
        updates: Dict[str, Any] = {}
        for name, value in given.items():
            if value is None:
                continue
            if isinstance(value, os.PathLike):
                value = os.fspath(value)
            current = getattr(self, name)
            if value != current and current != getattr(default, name):
                raise ElmoInputError(Errors.E207.format(name=name, flat=value, model=current))
            updates[name] = value
        return dataclasses.replace(self, **updates) if updates else self


_INT_MINIMA = {  # batch_size: checked by RuntimeSettings
    "max_batch_tokens": 1,
    "window": 1,
    "overlap": 0,
    "max_sentence_length": 1,
    "cache_size": 0,
}


@dataclass(frozen=True)
class ComponentSettings:
    """The settings of the ``elmo`` component (``[components.elmo]``).

    scalar_mix (Optional[List[float]]): Pre-softmax layer weights of ``doc._.elmo``; None
        (default) for an even average, ``[-1e9, -1e9, 1]`` for the top layer only.
    gamma (float): Scale of the mix (AllenNLP's semantics). Default 1.0.
    layer_norm (bool): Normalise each layer over the doc's tokens before mixing. Default
        False.
    store_layers (bool): Also keep every layer in ``doc._.elmo_layers``. Default False.
    set_vectors (bool): ``.vector`` and ``.similarity`` use ``doc._.elmo``. Default False.
    """

    scalar_mix: Optional[List[float]] = field(default=None)
    gamma: float = 1.0
    layer_norm: bool = False
    store_layers: bool = False
    set_vectors: bool = False

    def __post_init__(self) -> None:
        if self.scalar_mix is not None:
            if isinstance(self.scalar_mix, (str, bytes)) or not hasattr(
                self.scalar_mix, "__iter__"
            ):
                invalid("scalar_mix", self.scalar_mix, "a list of numbers")
            weights = [check_float("scalar_mix", w) for w in self.scalar_mix]
            object.__setattr__(self, "scalar_mix", weights)
        object.__setattr__(self, "gamma", check_float("gamma", self.gamma))
        for name in ("layer_norm", "store_layers", "set_vectors"):
            check_bool(name, getattr(self, name))


S = TypeVar("S", BiLMSettings, ComponentSettings)


def from_kwargs(cls: Type[S], kwargs: Mapping[str, Any]) -> S:
    """``cls(**kwargs)``, with a coded error naming unknown settings."""
    known = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(set(kwargs) - set(known))
    if unknown:
        raise ElmoInputError(
            Errors.E208.format(where=cls.__name__, keys=unknown, known=", ".join(known))
        )
    return cls(**kwargs)


def as_dict(settings: Any) -> Dict[str, Any]:
    """The settings as a plain dict (config values)."""
    return dataclasses.asdict(settings)


def keyword_parameters(
    cls: type, *, shorthand: bool = False, skip: Tuple[str, ...] = ()
) -> List[inspect.Parameter]:
    """Keyword-only parameters for the settings of ``cls`` (except ``skip``): name, type and
    default. With ``shorthand``, every default is None ("not given") and every type Optional.
    """
    params = []
    for f in dataclasses.fields(cls):
        if f.name in skip:
            continue
        annotation: Any = Optional[f.type] if shorthand else f.type  # type: ignore[name-defined]
        default = None if shorthand else f.default
        params.append(
            inspect.Parameter(
                f.name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation
            )
        )
    return params


def split_settings(kwargs: Mapping[str, Any], *classes: type) -> Tuple[Dict[str, Any], ...]:
    """``kwargs`` split by the settings class that declares each name."""
    parts: Tuple[Dict[str, Any], ...] = tuple({} for _ in classes)
    for key, value in kwargs.items():
        for part, cls in zip(parts, classes):
            if key in {f.name for f in dataclasses.fields(cls)}:
                part[key] = value
                break
    return parts
