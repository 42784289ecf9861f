"""``python -m spacy_elmo adapt``: a shim over :func:`spacy_elmo.pretrain.adapt.adapt`."""

import json
from pathlib import Path
from typing import List, Optional

import typer

from ..runtime_settings import RUNTIME_DEFAULTS
from .app import app
from .pretrain import extra_overrides


@app.command("adapt", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def adapt_cli(
    # fmt: off
    ctx: typer.Context,
    base: str = typer.Argument(..., help="The biLM to start from: a model name (default, small, original, ...; see `models`), a folder with options.json + weights.hdf5, an options.json (path, URL or hf://) with --weight-file, or hf://OWNER/REPO[@REV][/FOLDER]."),
    output_dir: Path = typer.Argument(..., help="Run folder: checkpoints, log, then options.json, weights.hdf5, softmax.pt, vocab.txt, MODEL_CARD.md. Re-run to resume."),
    train: Optional[List[Path]] = typer.Option(None, "--train", help="Domain text file, one sentence or paragraph per line; repeat --train for each file."),
    dev: Optional[List[Path]] = typer.Option(None, "--dev", help="Held-out domain text for the perplexity of the base and the adapted model."),
    weight_file: Optional[str] = typer.Option(None, "--weight-file", help="weights.hdf5 (path, URL or hf://) when BASE is an options.json."),
    config_path: Optional[Path] = typer.Option(None, "--config", "-c", help="JSON config in the pretraining format without `model`, e.g. configs/adapt_default.json (default: the built-in adapt defaults)."),
    pretokenized: bool = typer.Option(False, "--pretokenized", help="--train/--dev files are whitespace-tokenized (no spaCy tokenizer)."),
    max_steps: Optional[int] = typer.Option(None, "--max-steps", help="Stop after this many steps in total (default: training.max_epochs)."),
    device: str = typer.Option(RUNTIME_DEFAULTS.device, "--device", help="auto (default: cuda if available, under torchrun cuda:LOCAL_RANK; else cpu), cpu, cuda, cuda:1."),
    no_progress: bool = typer.Option(False, "--no-progress"),
) -> None:
    """Adapt a trained biLM to a domain's text: a new softmax for the domain's vocabulary
    (trained alone first), then the biLM at a lower learning rate. Extra args
    `--section.key value` override the config, e.g. `--adapt.bilm_lr_scale 0.2`."""
    # fmt: on
    from ..pretrain.adapt import (
        adapt,
        default_adapt_config,
        load_adapt_config,
        with_adapt_overrides,
    )

    config = load_adapt_config(config_path) if config_path else default_adapt_config()
    overrides = extra_overrides(list(ctx.args))
    if max_steps is not None:
        overrides["training.max_steps"] = max_steps
    if overrides:
        config = with_adapt_overrides(config, overrides)
    result = adapt(
        base,
        output_dir,
        train=train or (),
        dev=dev or (),
        weight_file=weight_file,
        config=config,
        pretokenized=pretokenized,
        device=device,
        progress=not no_progress,
    )
    typer.echo(json.dumps(result, indent=2), err=True)
