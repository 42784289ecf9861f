"""The one set of value checks (E110)."""

import math

import pytest

from spacy_elmo.validation import check_bool, check_choice, check_float, check_int


def test_check_int():
    assert check_int("n", 3, low=1, high=3) == 3
    for bad in (True, 2.0, "3", None, 0, 4):
        with pytest.raises(ValueError, match=r"\[E110\] Invalid value for 'n'.*at least 1"):
            check_int("n", bad, low=1, high=3)
    assert check_int("n", -5) == -5


def test_check_float():
    assert check_float("p", 0, low=0.0, high=1.0, high_open=True) == 0.0
    assert isinstance(check_float("p", 0), float)
    for bad in (1.0, -0.1, math.nan, math.inf, True, "0.5"):
        with pytest.raises(ValueError, match=r"\[E110\].*'p'.*less than 1.0"):
            check_float("p", bad, low=0.0, high=1.0, high_open=True)
    with pytest.raises(ValueError, match=r"greater than 0"):
        check_float("lr", 0.0, low=0.0, low_open=True)


def test_check_bool_and_choice():
    assert check_bool("flag", False) is False
    for bad in (0, 1, "true", None):
        with pytest.raises(ValueError, match=r"\[E110\].*'flag'.*true or false"):
            check_bool("flag", bad)
    assert check_choice("mode", "a", ("a", "b")) == "a"
    with pytest.raises(ValueError, match=r"\[E110\].*'mode'.*one of 'a', 'b'"):
        check_choice("mode", "c", ("a", "b"))


def test_check_choice_of_an_unhashable_value():
    # a list looked up among a dict's keys or a set is a wrong value, not a TypeError
    for choices in ({"float32": 1, "bfloat16": 2}, {"float32", "bfloat16"}):
        with pytest.raises(ValueError, match=r"\[E110\].*'precision': \[1\]"):
            check_choice("precision", [1], choices)
