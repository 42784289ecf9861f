"""``python -m spacy_elmo senses``: how differently a biLM represents one word in two senses."""

from pathlib import Path
from typing import Optional

import typer

from . import app


@app.command("senses")
def senses_cli(
    examples_file: Optional[Path] = typer.Argument(
        None,
        help="word<TAB>sense<TAB>tokenized sentence, per line (default: the packaged set).",
    ),
    options_file: Optional[Path] = typer.Option(
        None, "--options-file", help="options.json (default: embedded model)."
    ),
    weight_file: Optional[Path] = typer.Option(
        None, "--weight-file", help="weights.hdf5 (default: embedded model)."
    ),
    state: str = typer.Option("warm", "--state", help="warm | zero | stateful"),
) -> None:
    """Print Markdown tables of cosine similarities within and across senses, per word and
    per layer or fixed mix, then their means over words."""
    from ..embedder import ElmoEmbedder
    from ..senses import DEFAULT_SENSES, markdown_table, read_sense_examples, sense_scores, summary

    embedder = ElmoEmbedder(options_file, weight_file, state=state)
    scores = sense_scores(embedder, read_sense_examples(examples_file or DEFAULT_SENSES))
    typer.echo(markdown_table(scores) + "\n\n" + markdown_table(summary(scores)))
