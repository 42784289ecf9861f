"""``python -m spacy_elmo embed``: the AllenNLP ``elmo`` command, with the same HDF5 layout."""

from pathlib import Path
from typing import Optional

import typer

from . import app


@app.command("embed")
def embed_cli(
    input_file: Path = typer.Argument(
        ..., help="Text file, one whitespace-tokenized sentence per line."
    ),
    output_file: Path = typer.Argument(..., help="HDF5 file to write."),
    all_layers: bool = typer.Option(False, "--all", help="Write all layers (L+1, n, 2P)."),
    top: bool = typer.Option(False, "--top", help="Write the top layer (n, 2P)."),
    average: bool = typer.Option(False, "--average", help="Write the layer average (n, 2P)."),
    model: Optional[str] = typer.Option(
        None, "--model", help="Catalogue name, e.g. original (see `models`; default: embedded)."
    ),
    options_file: Optional[str] = typer.Option(
        None, "--options-file", help="options.json: path, URL or hf:// (default: embedded)."
    ),
    weight_file: Optional[str] = typer.Option(
        None, "--weight-file", help="weights.hdf5: path, URL or hf:// (default: embedded)."
    ),
    batch_size: int = typer.Option(64, "--batch-size", min=1),
    state: str = typer.Option("warm", "--state", help="warm | zero | stateful"),
    device: str = typer.Option("cpu", "--device", help="cpu, cuda, cuda:1, ..."),
    precision: str = typer.Option(
        "float32",
        "--precision",
        help="float32 (exact) | bfloat16 (biLSTM products in bfloat16: faster, ~0.3% off)",
    ),
    forget_sentences: bool = typer.Option(False, "--forget-sentences"),
    use_sentence_keys: bool = typer.Option(False, "--use-sentence-keys"),
    no_progress: bool = typer.Option(False, "--no-progress"),
) -> None:
    """Embed every sentence of INPUT_FILE into OUTPUT_FILE."""
    from ..embedder import ElmoEmbedder
    from ..hub import resolve_bilm

    chosen = [name for name, on in (("all", all_layers), ("top", top), ("average", average)) if on]
    if len(chosen) != 1:
        raise typer.BadParameter("choose exactly one of --all, --top, --average")
    files = resolve_bilm(name=model, options_file=options_file, weight_file=weight_file)
    embedder = ElmoEmbedder(*files, state=state, device=device, precision=precision)
    n = embedder.embed_file(
        input_file,
        output_file,
        output_format=chosen[0],
        batch_size=batch_size,
        forget_sentences=forget_sentences,
        use_sentence_keys=use_sentence_keys,
        progress=not no_progress,
    )
    typer.echo(f"Wrote {n} sentences to {output_file}", err=True)
