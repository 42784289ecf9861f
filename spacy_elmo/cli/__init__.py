"""``python -m spacy_elmo <command>``: thin typer shims over plain functions.

Each command lives in its own module and registers itself on :data:`app` (``app.py``).
"""

import typer

# Importing a command module registers its commands on ``app``.
from . import (  # noqa: F401
    adapt,
    bench,
    convert,
    embed,
    init_config,
    mixes,
    models,
    pretrain,
    senses,
)
from .app import app


def main() -> None:
    """Run the CLI; a coded error (bad input, bad files) is printed without a traceback."""
    from ..errors import ElmoFormatError, ElmoInputError
    from .hints import cli_shaped, show_cli_warnings

    show_cli_warnings()
    try:
        app()
    except (ElmoFormatError, ElmoInputError) as e:
        typer.echo(f"Error: {cli_shaped(str(e))}", err=True)
        raise SystemExit(1)
