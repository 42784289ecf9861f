"""Coded pretraining warnings (W3xx); errors are E3xx in :mod:`spacy_elmo.errors`."""

import warnings

from ..errors import ErrorsWithCodes


class PretrainWarnings(metaclass=ErrorsWithCodes):
    W301 = (
        "'{path}' is not valid UTF-8: {n_lines} line(s) had undecodable bytes, replaced by "
        "U+FFFD. Convert the file to UTF-8 if this is unexpected."
    )
    W302 = (
        "'{path}' has {n_lines} line(s) longer than {max_chars} characters (the longest: "
        "{longest}); they were split into pieces of at most {max_chars} characters."
    )
    W303 = "'{path}' has no text and is skipped."
    W304 = "matplotlib is not installed: {path} is not written. pip install 'spacy-elmo[pretrain]' (matplotlib)."
    W305 = (
        "'{path}' has {n_tokens} tokens longer than {max_chars} characters (binary junk or "
        "URLs?); they were cut to {max_chars} characters."
    )


def warn(message: str) -> None:
    warnings.warn(message, UserWarning, stacklevel=3)
