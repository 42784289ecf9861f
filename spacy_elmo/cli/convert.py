"""``python -m spacy_elmo convert``: CoNLL / TSV corpora to ``.spacy`` (typer shim)."""

from pathlib import Path
from typing import Optional

import typer

from .app import app


@app.command("convert")
def convert_cli(
    # fmt: off
    input_path: Path = typer.Argument(..., help="CoNLL file (token ... tag) or TSV file (label TAB text)", exists=True, dir_okay=False),
    output_path: Path = typer.Argument(..., help="Output .spacy file"),
    file_type: str = typer.Option("auto", "--file-type", "-t", help="conll, tsv, or auto (default: told apart by the first lines)"),
    n_sents: int = typer.Option(1, "--n-sents", "-n", help="Sentences per doc (conll)"),
    labels: Optional[str] = typer.Option(None, "--labels", help="Comma-separated textcat labels (tsv; default: those in the file)"),
    limit: int = typer.Option(0, "--limit", help="Keep the first N docs (0: all)"),
    # fmt: on
) -> None:
    """Convert a CoNLL (IOB1/IOB2) NER file or a label-TAB-text file to a .spacy file."""
    from ..data.convert import convert_file

    n = convert_file(
        input_path,
        output_path,
        file_type=file_type,
        n_sents=n_sents,
        labels=labels.split(",") if labels else None,
        limit=limit,
    )
    typer.echo(f"Wrote {n} docs to {output_path}")
