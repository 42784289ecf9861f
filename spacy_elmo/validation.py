"""Checks of user-given values, shared by every layer of the package (one place, one message).

Each raises :class:`~spacy_elmo.errors.ElmoInputError` (E110) with the setting's name, the
value and what was expected, and returns the value when it is fine. This module imports
nothing but :mod:`spacy_elmo.errors`, so the pure torch code, the settings, pretraining and
the CLI can all use it.
"""

import math
from typing import Any, Collection, NoReturn, Optional, Type

from .errors import ElmoInputError, Errors


def invalid(
    name: str, value: Any, expected: str, *, error: Type[ValueError] = ElmoInputError
) -> NoReturn:
    """Raise E110: ``value`` is not a valid ``name``; ``expected`` says what is. ``error``:
    the exception class (``ElmoFormatError`` for a value read from a model file)."""
    raise error(Errors.E110.format(name=name, value=value, expected=expected))


def is_int(value: Any, *, low: Optional[int] = None, high: Optional[int] = None) -> bool:
    """Whether ``value`` is an int (not a bool) in ``[low, high]``."""
    ok = isinstance(value, int) and not isinstance(value, bool)
    return ok and (low is None or value >= low) and (high is None or value <= high)


def is_number(
    value: Any,
    *,
    low: float = -math.inf,
    high: float = math.inf,
    low_open: bool = False,
    high_open: bool = False,
) -> bool:
    """Whether ``value`` is a finite number (not a bool) in ``[low, high]`` (an open end with
    ``low_open`` / ``high_open``)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    if not math.isfinite(value) or value < low or value > high:
        return False
    return not (low_open and value == low) and not (high_open and value == high)


def check_int(
    name: str, value: Any, *, low: Optional[int] = None, high: Optional[int] = None
) -> int:
    """``value`` if it is an int (not a bool) in ``[low, high]``, else E110."""
    if not is_int(value, low=low, high=high):
        bounds = []
        if low is not None:
            bounds.append(f"at least {low}")
        if high is not None:
            bounds.append(f"at most {high}")
        invalid(name, value, "an integer" + (" of " + " and ".join(bounds) if bounds else ""))
    return value


def check_float(
    name: str,
    value: Any,
    *,
    low: float = -math.inf,
    high: float = math.inf,
    low_open: bool = False,
    high_open: bool = False,
) -> float:
    """``value`` as a float if it is a finite number in ``[low, high]`` (an open end with
    ``low_open`` / ``high_open``), else E110."""
    if not is_number(value, low=low, high=high, low_open=low_open, high_open=high_open):
        bounds = []
        if math.isfinite(low):
            bounds.append(f"greater than {low}" if low_open else f"at least {low}")
        if math.isfinite(high):
            bounds.append(f"less than {high}" if high_open else f"at most {high}")
        invalid(name, value, "a finite number" + (" " + " and ".join(bounds) if bounds else ""))
    return float(value)


def check_bool(name: str, value: Any) -> bool:
    """``value`` if it is True or False (not 0/1 or a string)."""
    if not isinstance(value, bool):
        invalid(name, value, "true or false")
    return value


def check_choice(name: str, value: Any, choices: Collection[Any]) -> Any:
    """``value`` if it is one of ``choices``."""
    try:
        known = value in choices
    except TypeError:  # an unhashable value (a list) looked up in a set or a dict's keys
        known = False
    if not known:
        invalid(name, value, "one of " + ", ".join(repr(c) for c in choices))
    return value
