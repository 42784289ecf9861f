"""Checks of user-given values, shared by every layer of the package (one place, one message).

Each raises :class:`~spacy_elmo.errors.ElmoInputError` with the setting's name, the value and
what was expected. This module imports nothing but :mod:`spacy_elmo.errors`, so the pure
torch code, the settings and the CLI can all use it.
"""

import math
from typing import Any, Collection, Optional

from .errors import ElmoInputError, Errors


def _invalid(name: str, value: Any, expected: str) -> ElmoInputError:
    return ElmoInputError(Errors.E110.format(name=name, value=value, expected=expected))


def check_int(name: str, value: Any, *, minimum: Optional[int] = None) -> int:
    """``value`` if it is an int (not a bool) of at least ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise _invalid(name, value, "an int" if minimum is None else f"an int >= {minimum}")
    if minimum is not None and value < minimum:
        raise _invalid(name, value, f"an int >= {minimum}")
    return value


def check_float(
    name: str, value: Any, *, minimum: Optional[float] = None, below: Optional[float] = None
) -> float:
    """``value`` as a float if it is a finite number with ``minimum <= value < below``."""
    ok = not isinstance(value, bool) and isinstance(value, (int, float))
    expected = "a finite number"
    if minimum is not None:
        expected += f" >= {minimum}"
    if below is not None:
        expected += f" and < {below}" if minimum is not None else f" < {below}"
    if not ok or not math.isfinite(value):
        raise _invalid(name, value, expected)
    if (minimum is not None and value < minimum) or (below is not None and value >= below):
        raise _invalid(name, value, expected)
    return float(value)


def check_bool(name: str, value: Any) -> bool:
    """``value`` if it is True or False (not 0/1 or a string)."""
    if not isinstance(value, bool):
        raise _invalid(name, value, "true or false")
    return value


def check_choice(name: str, value: Any, choices: Collection[str]) -> str:
    """``value`` if it is one of ``choices``."""
    if value not in choices:
        raise _invalid(name, value, "one of " + ", ".join(repr(c) for c in choices))
    return value
