"""``python -m spacy_elmo senses``: how differently a biLM represents one word in two senses."""

from pathlib import Path
from typing import Optional

import typer

from . import app


@app.command("senses")
def senses_cli(
    examples_file: Path = typer.Argument(
        Path("examples/senses.tsv"), help="word<TAB>sense<TAB>tokenized sentence, per line."
    ),
    options_file: Optional[Path] = typer.Option(
        None, "--options-file", help="options.json (default: embedded model)."
    ),
    weight_file: Optional[Path] = typer.Option(
        None, "--weight-file", help="weights.hdf5 (default: embedded model)."
    ),
    state: str = typer.Option("warm", "--state", help="warm | zero | stateful"),
) -> None:
    """Print a Markdown table of cosine similarities within and across senses, per layer."""
    from ..embedder import ElmoEmbedder
    from ..senses import markdown_table, read_sense_examples, sense_scores

    embedder = ElmoEmbedder(options_file, weight_file, state=state)
    typer.echo(markdown_table(sense_scores(embedder, read_sense_examples(examples_file))))
