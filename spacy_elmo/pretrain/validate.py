"""Range checks of pretraining settings: coded errors before anything is read or allocated."""

import math
from typing import Any, Optional

from ..errors import ElmoInputError, Errors


def _fail(key: str, value: Any, expected: str) -> None:
    raise ElmoInputError(Errors.E310.format(key=key, value=value, expected=expected))


def check_int(key: str, value: Any, *, low: int, high: Optional[int] = None) -> None:
    """An integer (not a bool) in ``[low, high]``."""
    ok = isinstance(value, int) and not isinstance(value, bool)
    if not ok or value < low or (high is not None and value > high):
        upper = f" and at most {high}" if high is not None else ""
        _fail(key, value, f"an integer of at least {low}{upper}")


def check_float(
    key: str, value: Any, *, low: float, high: float = math.inf, low_open: bool = False
) -> None:
    """A finite number in ``[low, high]`` (``(low, high]`` with ``low_open``)."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or value < low or (low_open and value == low) or value > high:
        bound = f"greater than {low}" if low_open else f"at least {low}"
        upper = f" and at most {high}" if math.isfinite(high) else ""
        _fail(key, value, f"a finite number {bound}{upper}")


def check_bool(key: str, value: Any) -> None:
    if not isinstance(value, bool):
        _fail(key, value, "true or false")


def check_choice(key: str, value: Any, choices: Any) -> None:
    if value not in choices:
        _fail(key, value, f"one of {list(choices)}")
