"""``python -m spacy_elmo <command>``: thin typer shims over plain functions.

Each command lives in its own module and registers itself on :data:`app`.
"""

import typer

app = typer.Typer(
    name="spacy-elmo",
    help="ELMo for spaCy: embed text, benchmark, pretrain biLMs.",
    no_args_is_help=True,
    add_completion=False,
    # Help texts are plain text: option help such as ``hf://OWNER/REPO[@REV][/FOLDER]`` must
    # print as written, not be parsed as rich markup (which raised MarkupError on --help).
    rich_markup_mode=None,
)


@app.callback()
def _root() -> None:
    """ELMo for spaCy: embed text, benchmark, pretrain biLMs."""


# Command modules (each adds its commands to ``app`` on import).
from . import bench  # noqa: E402,F401
from . import convert  # noqa: E402,F401
from . import embed  # noqa: E402,F401
from . import init_config  # noqa: E402,F401
from . import mixes  # noqa: E402,F401
from . import models  # noqa: E402,F401
from . import pretrain  # noqa: E402,F401
from . import senses  # noqa: E402,F401


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
