"""The one owner of every runtime setting: its name, type, default and allowed values.

How the biLM runs (initial state, precision, device, batch size, word-type cache) is set in
several places: :class:`~spacy_elmo.ElmoEmbedder`, the spaCy architecture's
:class:`~spacy_elmo.settings.BiLMSettings`, the ``embed`` / ``senses`` / ``bench`` /
``pretrain`` commands and the corpus engine. Each of them takes its defaults from
:data:`RUNTIME_DEFAULTS` and its allowed values from the tuples here, so they cannot drift
apart (``tests/test_settings_owner.py`` checks every signature against this module).

The rule "a catalogue name, or both files, or nothing" (E402) lives here too, so the spaCy
settings, the embedder and the hub check it the same way. This module imports neither torch
nor spaCy: the lowest layers (``pytorch``, ``settings``) read it.
"""

import re
from dataclasses import dataclass
from typing import Optional

from .errors import ElmoDownloadError, ElmoInputError, Errors
from .validation import check_int

#: Initial LSTM state of each sequence (``docs/format.md`` §10).
STATE_MODES = ("warm", "zero", "stateful")
#: Precisions of the biLSTM's matrix products; ``spacy_elmo.pytorch.lstm`` maps each to a
#: torch dtype, in this order.
PRECISIONS = ("float32", "bfloat16", "int8")
#: "auto" (see :func:`spacy_elmo.pytorch.device.resolve_device`), "cpu", "mps", "cuda" or
#: "cuda:N".
DEVICE_PATTERN = re.compile(r"auto|cpu|mps|cuda(:\d+)?")


@dataclass(frozen=True, kw_only=True)
class RuntimeSettings:
    """How the biLM runs, wherever it runs (embedder, spaCy pipeline, commands).

    state (str): Initial LSTM state: "warm" (default: one fixed state from a warm-up text,
        deterministic), "zero", or "stateful" (AllenNLP/bilm-tf semantics).
    precision (str): "float32" (default, exact), "bfloat16" or "int8" (the biLSTM's
        products at reduced precision; faster on CPUs with the matching instructions).
    device (str): "auto" (default: the framework's device when there is one, e.g. spaCy's
        after ``spacy.require_gpu(N)``, else the first CUDA GPU torch sees, else the CPU),
        "cpu", "cuda", "cuda:N" or "mps". On a CPU-only machine "auto" is the CPU.
    batch_size (int): Most sentences per biLM forward pass. Default 64.
    word_cache_size (int): Word types whose char-CNN vectors the embedder keeps (an LRU
        cache; 0 turns it off). Default 50,000. Not the spaCy architecture's ``cache_size``,
        which counts tokens of finished layers.
    """

    state: str = "warm"
    precision: str = "float32"
    device: str = "auto"
    batch_size: int = 64
    word_cache_size: int = 50_000

    def __post_init__(self) -> None:
        check_state(self.state)
        check_precision(self.precision)
        check_device_name(self.device)
        check_int("batch_size", self.batch_size, low=1)
        check_int("word_cache_size", self.word_cache_size, low=0)


def check_state(value: object) -> str:
    """``value`` if it is one of :data:`STATE_MODES` (E104 otherwise)."""
    if not isinstance(value, str) or value not in STATE_MODES:
        raise ElmoInputError(Errors.E104.format(value=value))
    return value


def check_precision(value: object) -> str:
    """``value`` if it is one of :data:`PRECISIONS` (E114 otherwise)."""
    if not isinstance(value, str) or value not in PRECISIONS:
        raise ElmoInputError(Errors.E114.format(value=value))
    return value


def check_device_name(value: object) -> str:
    """``value`` if it matches :data:`DEVICE_PATTERN` (E209 otherwise). Whether this machine
    has that device is :func:`spacy_elmo.pytorch.device.resolve_device`'s question."""
    if not isinstance(value, str) or not DEVICE_PATTERN.fullmatch(value):
        raise ElmoInputError(Errors.E209.format(value=value))
    return value


#: Every default of the runtime settings, for signatures: ``state=RUNTIME_DEFAULTS.state``.
RUNTIME_DEFAULTS = RuntimeSettings()


def check_model_source(*, name: Optional[str], options_file: object, weight_file: object) -> None:
    """The one check of "a catalogue name, or both files, or neither" (E402): a name with
    files is ambiguous, and one file alone cannot be completed. Empty strings count as not
    given (a command-line option left empty)."""
    files = [k for k, v in (("options_file", options_file), ("weight_file", weight_file)) if v]
    if name is not None and files:
        raise ElmoDownloadError(Errors.E402.format(given=f"name={name!r} and {files[0]}"))
    if name is None and len(files) == 1:
        raise ElmoDownloadError(Errors.E402.format(given=f"only {files[0]}"))
