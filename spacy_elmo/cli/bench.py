"""``python -m spacy_elmo bench``: the benchmarks of a source checkout (``python -m
benchmarks``). They are not part of the installed package; this entry only finds them."""

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import typer

from .app import app


@app.command(
    "bench",
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
    add_help_option=False,
)
def bench_cli(ctx: typer.Context) -> None:
    """Benchmark against AllenNLP (from a source checkout: the same as `python -m
    benchmarks`; --help lists its options)."""
    _benchmarks_cli().main(list(ctx.args), prog_name="python -m spacy_elmo bench")


def _benchmarks_cli() -> ModuleType:
    """``benchmarks.cli`` of the checkout: importable from the working directory, else the
    folder beside an editable install's ``spacy_elmo``. E607 when there is none."""
    from ..errors import ElmoInputError, Errors

    if importlib.util.find_spec("benchmarks") is None:
        checkout = Path(__file__).resolve().parents[2]
        if not (checkout / "benchmarks" / "cli.py").is_file():
            reason = f"no 'benchmarks' package in {Path.cwd()} nor in {checkout}"
            raise ElmoInputError(Errors.E607.format(reason=reason))
        sys.path.insert(0, str(checkout))
    try:
        import benchmarks.cli  # noqa: I900 - the checkout's, never installed
    except ImportError as e:
        reason = f"'benchmarks' is not this project's: {e}"
        raise ElmoInputError(Errors.E607.format(reason=reason)) from None
    return benchmarks.cli
