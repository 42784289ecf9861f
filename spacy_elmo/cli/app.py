"""The typer application every command registers on.

It lives apart from the package's ``__init__`` so that a command module imports the
application, not the package that imports the command modules (no import cycle).
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
