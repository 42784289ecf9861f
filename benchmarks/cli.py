"""``python -m benchmarks`` (also ``python -m spacy_elmo bench`` from a checkout): tokens/s,
GFLOP/s and peak RSS against AllenNLP."""

import json
from pathlib import Path
from typing import List, Optional

import typer

from spacy_elmo.runtime_settings import PRECISIONS, RUNTIME_DEFAULTS

from .runner import BENCH_BATCH_SIZE

app = typer.Typer(add_completion=False, rich_markup_mode=None)


@app.command()
def bench_cli(
    # fmt: off
    preset: str = typer.Option("original", "--preset", help="Architecture of the random weights: small, medium, original."),
    n_sentences: int = typer.Option(640, "--n-sentences", min=1, help="Size of the fixed sentence set."),
    batch_size: int = typer.Option(BENCH_BATCH_SIZE, "--batch-size", min=1, help="Sentences per batch (file order; default: AllenNLP's 32, a benchmark setting)."),
    threads: int = typer.Option(2, "--threads", min=1, help="torch threads in every worker."),
    repeats: int = typer.Option(3, "--repeats", min=1, help="Timed passes per implementation (median reported)."),
    device: str = typer.Option(RUNTIME_DEFAULTS.device, "--device", help="Device for spacy-elmo: auto (default: a CUDA GPU if torch sees one, else cpu), cpu, cuda, cuda:1, ... (AllenNLP always runs on CPU)."),
    states: str = typer.Option("zero", "--states", help="Comma-separated spacy-elmo state modes to time: zero, warm."),
    precisions: str = typer.Option(RUNTIME_DEFAULTS.precision, "--precisions", help="Comma-separated spacy-elmo precisions to time: float32 (exact), bfloat16, int8."),
    reference_python: Optional[Path] = typer.Option(None, "--reference-python", help="Python with AllenNLP 2.10.1 (default: $SPACY_ELMO_REFERENCE_PYTHON, else ~/.cache/elmo-reference-venv/bin/python, made by tools/setup-reference-venv.sh)."),
    no_reference: bool = typer.Option(False, "--no-reference", help="Do not run AllenNLP."),
    cache_dir: Path = typer.Option(Path("bench-out"), "--cache-dir", help="Folder for weights, sentences and worker logs."),
    parity_sentences: int = typer.Option(4, "--parity-sentences", min=0, help="Sentences compared with AllenNLP (0: none)."),
    interleave: str = typer.Option("batch", "--interleave", help="batch: alternate implementations every batch; pass: every pass."),
    output: Optional[Path] = typer.Option(None, "--output", help="Write the full results as JSON."),
    no_paths: bool = typer.Option(False, "--no-paths", help="Do not time the user paths (embedder alone, nlp.pipe, embed)."),
    shared_rss: bool = typer.Option(False, "--shared-rss", help="Do not run each variant alone for its own peak RSS (only the shared worker's)."),
    # fmt: on
) -> None:
    """Embed a fixed set of sentences with full-size random weights, with spacy-elmo and
    (when installed) AllenNLP, each in its own process, and print tokens/s, GFLOP/s and
    peak RSS."""
    from .runner import format_table, run_benchmark

    if interleave not in ("batch", "pass"):
        raise typer.BadParameter(f"--interleave takes batch or pass, got {interleave!r}")
    # run_benchmark checks the device (E602) before the weights are written.
    state_list = [s.strip() for s in states.split(",") if s.strip()]
    bad = [s for s in state_list if s not in ("zero", "warm")]
    if not state_list or bad:
        raise typer.BadParameter(f"--states takes zero and/or warm, got {states!r}")
    precision_list = [p.strip() for p in precisions.split(",") if p.strip()]
    bad = [p for p in precision_list if p not in PRECISIONS]
    if not precision_list or bad:
        raise typer.BadParameter(f"--precisions takes {', '.join(PRECISIONS)}, got {precisions!r}")
    result = run_benchmark(
        preset=preset,
        n_sentences=n_sentences,
        batch_size=batch_size,
        threads=threads,
        repeats=repeats,
        device=device,
        states=state_list,
        precisions=precision_list,
        reference_python=reference_python,
        use_reference=not no_reference,
        cache_dir=cache_dir,
        parity_sentences=parity_sentences,
        interleave=interleave,
        paths=not no_paths,
        rss_per_variant=not shared_rss,
    )
    typer.echo(format_table(result))
    if output is not None:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(json.dumps(result, indent=2) + "\n", encoding="utf8")
        typer.echo(f"Wrote {output}", err=True)


def main(argv: Optional[List[str]] = None, *, prog_name: str = "python -m benchmarks") -> None:
    """Run the benchmark command on ``argv`` (default: the process's arguments); a coded
    error is printed without a traceback."""
    from spacy_elmo.errors import ElmoFormatError, ElmoInputError

    try:
        app(args=argv, prog_name=prog_name)
    except (ElmoFormatError, ElmoInputError) as e:
        typer.echo(f"Error: {e}", err=True)
        raise SystemExit(1)
