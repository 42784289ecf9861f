"""``python -m spacy_elmo init-config``: a training config with ELMo for every component."""

from pathlib import Path
from typing import Optional

import typer

from .app import app


@app.command("init-config")
def init_config_cli(
    # fmt: off
    output_file: Path = typer.Argument(..., help="Config file to write, or - for stdout", allow_dash=True),
    lang: str = typer.Option("en", "--lang", "-l", help="Two-letter code of the language"),
    pipeline: str = typer.Option("ner", "--pipeline", "-p", help="Comma-separated trainable components: tagger, morphologizer, parser, ner, textcat, textcat_multilabel"),
    optimize: str = typer.Option("efficiency", "--optimize", "-o", help="efficiency or accuracy: spaCy's choice of token features and encoder"),
    gpu: bool = typer.Option(False, "--gpu", "-G", help="Train on a GPU ([components.elmo.model] device = cuda:0, spaCy's GPU allocator); train with --gpu-id 0"),
    model: Optional[str] = typer.Option(None, "--model", help="Catalogue name, e.g. original (see `models`; default: embedded)."),
    options_file: Optional[str] = typer.Option(None, "--options-file", help="options.json: path, URL or hf:// (default: embedded)."),
    weight_file: Optional[str] = typer.Option(None, "--weight-file", help="weights.hdf5: path, URL or hf:// (default: embedded)."),
    force: bool = typer.Option(False, "--force", "-F", help="Overwrite the output file"),
    # fmt: on
) -> None:
    """Like `spacy init config`, with the `elmo` component feeding every component through
    its own listener and ScalarMix (see docs/init-config.md)."""
    from ..pipeline.init_config import init_elmo_config, write_config
    from .hints import train_hint

    config = init_elmo_config(
        pipeline=[name.strip() for name in pipeline.split(",") if name.strip()],
        lang=lang,
        optimize=optimize,
        gpu=gpu,
        model=model,
        options_file=options_file,
        weight_file=weight_file,
    )
    if model is None and options_file is None and weight_file is None:
        _propose_models(lang)
    if str(output_file) == "-":
        typer.echo(config.to_str(interpolate=False))
        return
    write_config(config, output_file, force=force)
    typer.echo(f"Wrote {output_file}. {train_hint(output_file, gpu=gpu)}")


def _propose_models(lang: str) -> None:
    """The embedded biLM is English: name the catalogue's models for another language (on
    stderr, so `-` output stays a config)."""
    from ..hub.catalogue import DEFAULT_LANG, entries_for, suits

    if suits(DEFAULT_LANG, lang):
        return
    names = [entry.name for entry in entries_for(lang)]
    listed = ", ".join(names) if names else "none in the catalogue (see `models`)"
    typer.echo(
        f"The default biLM is English; models for {lang!r}: {listed}. Pass --model NAME.",
        err=True,
    )
