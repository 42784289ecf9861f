"""``python -m spacy_elmo senses``: how differently a biLM represents one word in two senses."""

from pathlib import Path
from typing import Optional

import typer

from ..runtime_settings import RUNTIME_DEFAULTS
from .app import app


@app.command("senses")
def senses_cli(
    examples_file: Optional[Path] = typer.Argument(
        None,
        help="word<TAB>sense<TAB>tokenized sentence, per line (default: the packaged set).",
    ),
    model: Optional[str] = typer.Option(
        None, "--model", help="Catalogue name, e.g. original (see `models`; default: embedded)."
    ),
    options_file: Optional[str] = typer.Option(
        None, "--options-file", help="options.json: path, URL or hf:// (default: embedded)."
    ),
    weight_file: Optional[str] = typer.Option(
        None, "--weight-file", help="weights.hdf5: path, URL or hf:// (default: embedded)."
    ),
    state: str = typer.Option(RUNTIME_DEFAULTS.state, "--state", help="warm | zero | stateful"),
    device: str = typer.Option(
        RUNTIME_DEFAULTS.device,
        "--device",
        help="auto (CUDA if torch sees it, else cpu), cpu, cuda:N",
    ),
) -> None:
    """Print Markdown tables of cosine similarities within and across senses, per word and
    per layer or fixed mix, then their means over words."""
    from ..embedder import ElmoEmbedder
    from ..hub import resolve_bilm
    from ..senses import DEFAULT_SENSES, markdown_table, read_sense_examples, sense_scores, summary

    files = resolve_bilm(name=model, options_file=options_file, weight_file=weight_file)
    embedder = ElmoEmbedder(*files, state=state, device=device)
    scores = sense_scores(embedder, read_sense_examples(examples_file or DEFAULT_SENSES))
    typer.echo(markdown_table(scores) + "\n\n" + markdown_table(summary(scores)))
