"""``python -m spacy_elmo mixes``: the layer weights and gamma each component learned."""

from pathlib import Path

import typer

from .app import app


@app.command("mixes")
def mixes_cli(
    model_dir: Path = typer.Argument(..., help="A trained pipeline, e.g. training/model-last"),
) -> None:
    """Print a Markdown table of every component's softmax layer weights and gamma."""
    from ..pipeline.mixes import load_learned_mixes, markdown_table

    typer.echo(markdown_table(load_learned_mixes(model_dir)))
