"""``python -m spacy_elmo pretrain | pretrain-export | pretrain-evaluate``: shims over
:mod:`spacy_elmo.pretrain`."""

import json
from pathlib import Path
from typing import List, Optional

import typer

from ..errors import Errors
from ..runtime_settings import RUNTIME_DEFAULTS
from .app import app


def _parse_overrides(items: List[str]) -> dict:
    out = {}
    for item in items:
        key, _, value = item.partition("=")
        if not key.startswith("--") and "." not in key or not _:
            raise typer.BadParameter(f"override {item!r}: expected section.key=value")
        try:
            out[key.lstrip("-")] = json.loads(value)
        except ValueError:
            out[key.lstrip("-")] = value
    return out


def extra_overrides(args: List[str]) -> dict:
    """The command's extra arguments: ``--section.key value`` or ``section.key=value``
    pairs. Anything else is E332, which says how to pass several files."""
    overrides: dict = {}
    i = 0
    while i < len(args):
        arg = args[i]
        if "=" in arg:
            overrides.update(_parse_overrides([arg]))
            i += 1
        elif arg.startswith("--") and i + 1 < len(args):
            overrides.update(_parse_overrides([f"{arg}={args[i + 1]}"]))
            i += 2
        else:
            raise typer.BadParameter(Errors.E332.format(arg=arg))
    return overrides


# fmt: off
@app.command("pretrain", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def pretrain_cli(
    ctx: typer.Context,
    output_dir: Path = typer.Argument(..., help="Run directory: checkpoints, log, exported weights. Re-run to resume."),
    config_path: Optional[Path] = typer.Option(None, "--config", "-c", help="JSON config with every hyperparameter, e.g. configs/pretrain_default.json (default: built-in defaults, preset small)."),
    train: Optional[List[Path]] = typer.Option(None, "--train", help="Training text file; repeat --train for each file. Replaces data.train."),
    dev: Optional[List[Path]] = typer.Option(None, "--dev", help="Held-out text file for the dev perplexity; repeat --dev for each file. Replaces data.dev."),
    corpus_dir: Optional[Path] = typer.Option(None, "--corpus-dir", help="Resolve relative corpus paths of the config against this directory."),
    pretokenized: bool = typer.Option(False, "--pretokenized", help="--train/--dev files are whitespace-tokenized (no spaCy tokenizer)."),
    model: Optional[str] = typer.Option(None, "--model", help="Preset name (small, medium, original) or options.json; overrides the config."),
    init_weights: Optional[str] = typer.Option(None, "--init-weights", help="Start from options.json + weights.hdf5 (+ softmax.pt, vocab.txt) in this directory (local, or hf://OWNER/REPO[@REV][/FOLDER])."),
    max_steps: Optional[int] = typer.Option(None, "--max-steps", help="Stop after this many steps in total (resume continues up to it)."),
    device: str = typer.Option(RUNTIME_DEFAULTS.device, "--device", help="auto (default: cuda if available, under torchrun cuda:LOCAL_RANK; else cpu), cpu, cuda, cuda:1."),
    no_progress: bool = typer.Option(False, "--no-progress"),
) -> None:
    """Pretrain a biLM from raw text. Extra args `--section.key value` override the config,
    e.g. `--training.threads 1 --batching.batch_size 32`."""
    # fmt: on
    from ..pretrain import load_config, pretrain, with_overrides
    from ..pretrain.config import PretrainConfig

    config = load_config(config_path) if config_path else PretrainConfig()
    overrides = extra_overrides(list(ctx.args))
    if model is not None:
        overrides["model"] = model
    if max_steps is not None:
        overrides["training.max_steps"] = max_steps

    def files(paths: List[Path]) -> list:
        return [{"path": str(p), "pretokenized": pretokenized} for p in paths]

    if train:
        overrides["data.train"] = files(train)
    if dev:
        overrides["data.dev"] = files(dev)
    if overrides:
        config = with_overrides(config, overrides)
    if corpus_dir is not None:
        config = _resolve_corpus(config, corpus_dir)
    init_dir = _init_folder(init_weights) if init_weights else None
    result = pretrain(config, output_dir, init_weights=init_dir, device=device, progress=not no_progress)
    typer.echo(json.dumps(result, indent=2), err=True)


def _init_folder(value: str) -> Path:
    """--init-weights as a local folder: hf:// folders are fetched (E414 for http(s))."""
    from ..errors import ElmoDownloadError, Errors
    from ..hub.hf import fetch_hf_folder
    from ..hub.locations import parse_location

    loc = parse_location(value)
    if loc.kind == "url":
        raise ElmoDownloadError(Errors.E414.format(value=value))
    return fetch_hf_folder(loc) if loc.kind == "hf" else Path(loc.raw).expanduser()


def _resolve_corpus(config, corpus_dir: Path):
    from ..pretrain.config import replace

    def fix(files):
        return tuple(replace(f, path=str(corpus_dir / f.path)) if not Path(f.path).is_absolute() else f for f in files)

    return replace(config, data=replace(config.data, train=fix(config.data.train), dev=fix(config.data.dev)))


# fmt: off
@app.command("pretrain-export")
def export_cli(
    run_dir: Path = typer.Argument(..., help="Run directory of `pretrain` (may still be training)."),
    output_dir: Path = typer.Argument(..., help="Where to write options.json + weights.hdf5."),
    no_softmax: bool = typer.Option(False, "--no-softmax", help="Only the biLM (no softmax.pt / vocab.txt)."),
    no_plot: bool = typer.Option(False, "--no-plot", help="Do not write perplexity.png."),
) -> None:
    """Export the newest checkpoint of a (live) run."""
    # fmt: on
    from ..pretrain import export_checkpoint

    info = export_checkpoint(run_dir, output_dir, softmax=not no_softmax, plot=not no_plot)
    typer.echo(f"Exported step {info['step']} ({info['tokens']} tokens) to {output_dir}", err=True)


# fmt: off
@app.command("pretrain-evaluate")
def evaluate_cli(
    model_dir: Path = typer.Argument(..., help="Run directory (newest checkpoint) or export with softmax.pt + vocab.txt."),
    files: List[Path] = typer.Argument(..., help="Held-out text files."),
    pretokenized: bool = typer.Option(False, "--pretokenized", help="Whitespace-tokenized files."),
    max_tokens: Optional[int] = typer.Option(None, "--max-tokens", help="Evaluate at most this many tokens per file."),
    batch_size: int = typer.Option(64, "--batch-size"),
    unroll_steps: int = typer.Option(20, "--unroll-steps"),
    threads: int = typer.Option(0, "--threads"),
    output: Optional[Path] = typer.Option(None, "--output", help="Write the results as JSON here."),
) -> None:
    """Forward/backward held-out perplexity."""
    # fmt: on
    from ..pretrain.evaluate_files import evaluate_files

    results = evaluate_files(
        model_dir, files, pretokenized=pretokenized, max_tokens=max_tokens,
        batch_size=batch_size, unroll_steps=unroll_steps, threads=threads,
    )
    text = json.dumps(results, indent=2)
    if output:
        output.write_text(text + "\n", encoding="utf8")
    typer.echo(text)


# fmt: off
@app.command("pretrain-pack")
def pack_cli(
    run_dir: Path = typer.Argument(..., help="Run directory of `pretrain` (may still be training)."),
    output_dir: Path = typer.Argument(..., help="Folder for the full training state (small files)."),
    corpus_dir: Optional[Path] = typer.Option(None, "--corpus-dir", help="Store corpus paths relative to this folder."),
    max_file_mb: float = typer.Option(25.0, "--max-file-mb", help="Largest tensor file to write."),
) -> None:
    """Pack the newest checkpoint (model, softmax, optimizer, RNG, step) into a folder."""
    # fmt: on
    from ..pretrain.state_folder import pack_state

    info = pack_state(run_dir, output_dir, corpus_dir=corpus_dir, max_file_mb=max_file_mb)
    typer.echo(json.dumps(info, indent=2))


# fmt: off
@app.command("pretrain-unpack")
def unpack_cli(
    state_dir: Path = typer.Argument(..., help="A folder written by `pretrain-pack`."),
    run_dir: Path = typer.Argument(..., help="New run directory; then run `pretrain RUN_DIR -c STATE_DIR/config.json --corpus-dir ...` to resume."),
) -> None:
    """Turn a packed training state back into a run that `pretrain` resumes."""
    # fmt: on
    from ..pretrain.state_folder import unpack_state

    info = unpack_state(state_dir, run_dir)
    typer.echo(f"Run {run_dir} holds step {info['step']} ({info['tokens']} tokens)", err=True)
