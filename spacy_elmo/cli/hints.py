"""Messages in command-line form: the coded errors name Python arguments (``device='cpu'``);
on the command line the same hint is an option (``--device cpu``)."""

import functools
import re
import sys
import warnings
from typing import AbstractSet, Any, Optional, TextIO, Type

# name='value' or name=123 that is not part of a longer word or path
_ARGUMENT = re.compile(r"(?<![\w./-])([a-z][a-z0-9_]*)=(?:'([^'\s]*)'|(-?\d+(?:\.\d+)?)\b)")
# Python argument -> command-line option where the two are named differently.
_RENAMED = {"name": "--model"}


@functools.lru_cache(maxsize=1)
def cli_options() -> AbstractSet[str]:
    """Every ``--option`` some command of ``python -m spacy_elmo`` takes."""
    import typer.main

    from .app import app

    group = typer.main.get_command(app)
    commands = getattr(group, "commands", {}).values()
    return frozenset(o for c in commands for p in c.params for o in p.opts if o.startswith("--"))


def cli_shaped(message: str, *, options: Optional[AbstractSet[str]] = None) -> str:
    """``message`` with every ``name='value'`` written as ``--name value`` where ``--name``
    is an option in ``options`` (default: :func:`cli_options`). Anything else is left as
    written: a library's text quoted in a message (``host='127.0.0.1', port=9``) is not a
    hint, and an option that no command takes would mislead."""
    known = cli_options() if options is None else options

    def option(match: "re.Match[str]") -> str:
        name = _RENAMED.get(match.group(1), f"--{match.group(1).replace('_', '-')}")
        if name not in known:
            return match.group(0)
        value = match.group(2) if match.group(2) is not None else match.group(3)
        return f"{name} {value}"

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


def train_hint(config_file: object, *, gpu: bool) -> str:
    """How to train a config that ``init-config`` wrote: the ``spacy train`` command, with
    ``--gpu-id 0`` for a ``-G`` config (spaCy then uses GPU 0, where its biLM is set to run).
    Without ``-G`` the biLM's device is "auto", so ``--gpu-id N`` alone moves it too."""
    command = f"python -m spacy train {config_file} --paths.train train.spacy --paths.dev dev.spacy"
    if gpu:
        return f"Train it on GPU 0 with:\n{command} --gpu-id 0"
    return (
        f"Train it with:\n{command}\n"
        "Add --gpu-id N to train on GPU N (the biLM follows spaCy's device)."
    )
