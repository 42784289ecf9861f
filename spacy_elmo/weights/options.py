"""options.json <-> :class:`ELMoConfig`, validated with coded errors (docs/format.md §2)."""

import json
import math
import os
import warnings
from pathlib import Path
from typing import Any, Dict, Mapping, Optional, Tuple, Union

from ..errors import ElmoFormatError, Errors, Warnings
from ..pytorch.config import CharCNNConfig, ELMoConfig, LSTMConfig
from ..validation import invalid
from .files import check_model_file
from .memory import ModelFile, file_label, is_file_object

#: Keys that bilm-tf dumps for training; inference ignores them silently.
TRAINING_KEYS = {
    "bidirectional",
    "dropout",
    "n_epochs",
    "n_train_tokens",
    "batch_size",
    "n_tokens_vocab",
    "unroll_steps",
    "n_negative_samples_batch",
    "all_clip_norm_val",
    "learning_rate",
    "sample_softmax",
    "share_embedding_softmax",
    "spacy_elmo",
}
#: An options.json is under 1 kB; anything over this is not one (and is not read into memory).
MAX_OPTIONS_BYTES = 1 << 20
#: The largest whole number (in magnitude) the model sections may hold: 2**53, the largest a
#: float holds exactly. No ELMo setting comes near it, and larger ones overflow the float
#: checks and the parameter count (OverflowError) instead of failing with E110.
MAX_OPTION_INT = 2**53
#: JSON integers with more digits are not converted at all: Python refuses to convert one of
#: over 4,300 digits (a ValueError that suggests changing an interpreter limit).
_MAX_INT_DIGITS = 20
_LSTM_KEYS = {"dim", "projection_dim", "n_layers", "cell_clip", "proj_clip", "use_skip_connections"}
_CNN_KEYS = {
    "embedding",
    "filters",
    "n_highway",
    "n_characters",
    "max_characters_per_token",
    "activation",
}


class _HugeInteger:
    """Stands for a whole number too large for any setting, in messages and in place of a
    JSON integer too long to convert."""

    def __init__(self, digits: int, *, approximate: bool = False) -> None:
        self.digits, self.approximate = digits, approximate

    def __repr__(self) -> str:
        about = "about " if self.approximate else ""
        return f"<an integer of {about}{self.digits:,} digits>"

    @classmethod
    def of(cls, value: int) -> "_HugeInteger":
        if value.bit_length() < 14_000:  # str() works below 4,300 digits
            return cls(len(str(abs(value))))
        return cls(int(value.bit_length() * math.log10(2)) + 1, approximate=True)


def _parse_int(text: str) -> Any:
    """``json`` hook for integers: a very long one is kept as its digit count (E110 later,
    with the key's name) instead of being converted."""
    digits = len(text.lstrip("-"))
    return _HugeInteger(digits) if digits > _MAX_INT_DIGITS else int(text)


def _check_magnitudes(options: Mapping[str, Any]) -> None:
    """E110 for a whole number beyond ``MAX_OPTION_INT`` anywhere in the model sections
    (walked without recursion; the sections are checked for shape later)."""
    stack = [(key, options[key]) for key in ("lstm", "char_cnn") if key in options]
    while stack:
        name, value = stack.pop()
        if isinstance(value, Mapping):
            stack.extend((f"{name}.{k}", v) for k, v in value.items())
        elif isinstance(value, (list, tuple)):
            stack.extend((f"{name}[{i}]", v) for i, v in enumerate(value))
        elif isinstance(value, int) and abs(value) > MAX_OPTION_INT:
            value = _HugeInteger.of(value)
        if isinstance(value, _HugeInteger):
            bound = f"{MAX_OPTION_INT:,}"
            expected = f"a number between -{bound} and {bound} (no ELMo setting is near these)"
            invalid(name, value, expected, error=ElmoFormatError)


def _clip(value: Any, key: str) -> Any:
    # bilm-tf and AllenNLP test truthiness: null and 0 both mean "no clipping".
    if value is None or (value == 0 and not isinstance(value, bool)):
        return None
    # Python's json reads NaN and Infinity: a NaN clip makes every vector NaN.
    if isinstance(value, float) and not math.isfinite(value):
        invalid(
            key, value, "a positive finite number, or null for no clipping", error=ElmoFormatError
        )
    return value


def _section(parent: Mapping[str, Any], key: str, path: str) -> Mapping[str, Any]:
    """The JSON object ``parent[key]``: E006 when missing, E110 when not an object."""
    if key not in parent:
        raise ElmoFormatError(Errors.E006.format(key=path))
    value = parent[key]
    if not isinstance(value, Mapping):
        invalid(path, value, "a JSON object", error=ElmoFormatError)
    return value


def config_from_dict(options: Mapping[str, Any]) -> ELMoConfig:
    """Build a validated config from the parsed contents of an options.json file."""
    if not isinstance(options, Mapping):
        invalid("options", type(options).__name__, "a JSON object", error=ElmoFormatError)
    _check_magnitudes(options)

    def get(section: Mapping[str, Any], key: str, path: str) -> Any:
        if not isinstance(section, Mapping) or key not in section:
            raise ElmoFormatError(Errors.E006.format(key=path))
        return section[key]

    lstm = _section(options, "lstm", "lstm")
    cnn = _section(options, "char_cnn", "char_cnn")
    unknown = (
        (set(options) - {"lstm", "char_cnn"} - TRAINING_KEYS)
        | {f"lstm.{k}" for k in set(lstm) - _LSTM_KEYS}
        | {f"char_cnn.{k}" for k in set(cnn) - _CNN_KEYS}
    )
    if unknown:
        warnings.warn(Warnings.W001.format(keys=", ".join(sorted(unknown))))
    embedding = _section(cnn, "embedding", "char_cnn.embedding")
    filters = get(cnn, "filters", "char_cnn.filters")
    if not isinstance(filters, list) or not all(isinstance(f, (list, tuple)) for f in filters):
        invalid(
            "char_cnn.filters", filters, "a list of [width, count] pairs", error=ElmoFormatError
        )
    n_highway = cnn.get("n_highway") or 0
    return ELMoConfig(
        char_cnn=CharCNNConfig(
            embedding_dim=get(embedding, "dim", "char_cnn.embedding.dim"),
            filters=tuple(tuple(f) for f in filters),
            n_highway=n_highway,
            activation=get(cnn, "activation", "char_cnn.activation"),
            n_characters=get(cnn, "n_characters", "char_cnn.n_characters"),
            max_characters_per_token=get(
                cnn, "max_characters_per_token", "char_cnn.max_characters_per_token"
            ),
        ),
        lstm=LSTMConfig(
            dim=get(lstm, "dim", "lstm.dim"),
            projection_dim=get(lstm, "projection_dim", "lstm.projection_dim"),
            n_layers=lstm.get("n_layers", 1),  # bilm-tf's default
            cell_clip=_clip(lstm.get("cell_clip"), "lstm.cell_clip"),
            proj_clip=_clip(lstm.get("proj_clip"), "lstm.proj_clip"),
            use_skip_connections=get(lstm, "use_skip_connections", "lstm.use_skip_connections"),
        ),
    )


def config_to_dict(config: ELMoConfig) -> Dict[str, Any]:
    """The options.json contents of a config, in the bilm-tf layout."""
    c, l = config.char_cnn, config.lstm
    return {
        "lstm": {
            "dim": l.dim,
            "projection_dim": l.projection_dim,
            "n_layers": l.n_layers,
            "cell_clip": l.cell_clip,
            "proj_clip": l.proj_clip,
            "use_skip_connections": l.use_skip_connections,
        },
        "char_cnn": {
            "activation": c.activation,
            "embedding": {"dim": c.embedding_dim},
            "filters": [list(f) for f in c.filters],
            "n_highway": c.n_highway,
            "n_characters": c.n_characters,
            "max_characters_per_token": c.max_characters_per_token,
        },
    }


def load_options(path: ModelFile) -> ELMoConfig:
    """Read and validate an options.json file (a path, or an open binary file such as a
    :class:`~spacy_elmo.weights.memory.MemoryFile`).

    :raises ElmoFormatError: With a coded message for a missing file, bad JSON, missing keys
        or impossible values.
    """
    path, data = _read_options(path)
    if len(data) > MAX_OPTIONS_BYTES:
        raise ElmoFormatError(
            Errors.E005.format(path=path, error=f"over {MAX_OPTIONS_BYTES:,} bytes, too large")
        )
    try:
        options = json.loads(data.decode("utf8"), parse_int=_parse_int)
    except (UnicodeDecodeError, ValueError, RecursionError) as e:  # ValueError: bad JSON
        raise ElmoFormatError(Errors.E005.format(path=path, error=e)) from None
    return config_from_dict(options)


def _read_options(source: ModelFile) -> Tuple[Path, bytes]:
    """``(name for messages, at most MAX_OPTIONS_BYTES + 1 bytes)``: a larger file is never
    read whole."""
    if is_file_object(source):
        return file_label(source), source.read(MAX_OPTIONS_BYTES + 1)  # type: ignore[union-attr]
    path = check_model_file(source, what="options file", name="options.json")  # type: ignore[arg-type]
    with path.open("rb") as f:
        return path, f.read(MAX_OPTIONS_BYTES + 1)


def save_options(
    config: ELMoConfig, path: Union[str, Path], extra: Optional[Mapping[str, Any]] = None
) -> None:
    """Write an options.json file that bilm-tf and AllenNLP read.

    :param extra: Additional top-level keys (e.g. training settings), written as given.
    """
    options = config_to_dict(config)
    if extra:
        options.update(extra)
    # Through a temporary file: a crash never leaves half an options.json, whose presence
    # callers take as the mark of a complete options/weights pair.
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(options, indent=2) + "\n", encoding="utf8")
    os.replace(tmp, path)
