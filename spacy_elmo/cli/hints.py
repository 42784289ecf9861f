"""Messages in command-line form: the coded errors name Python arguments (``device='cpu'``);
on the command line the same hint is an option (``--device cpu``)."""

import re
import sys
import warnings
from typing import Any, Optional, TextIO, Type

# name='value' or name=123 that is not part of a longer word or path
_ARGUMENT = re.compile(r"(?<![\w./-])([a-z][a-z0-9_]*)=(?:'([^'\s]*)'|(-?\d+(?:\.\d+)?)\b)")


def cli_shaped(message: str) -> str:
    """``message`` with every ``name='value'`` written as ``--name value``."""

    def option(match: "re.Match[str]") -> str:
        value = match.group(2) if match.group(2) is not None else match.group(3)
        return f"--{match.group(1).replace('_', '-')} {value}"

    return _ARGUMENT.sub(option, message)


def show_cli_warnings() -> None:
    """Print warnings (W0xx) in command-line form, without the source line."""

    def show(
        message: Any,
        category: Type[Warning],
        filename: str,
        lineno: int,
        file: Optional[TextIO] = None,
        line: Optional[str] = None,
    ) -> None:
        out = sys.stderr if file is None else file
        out.write(f"Warning: {cli_shaped(str(message))}\n")

    warnings.showwarning = show
