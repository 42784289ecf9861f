"""``python -m spacy_elmo models | download``: the model catalogue and the download cache."""

import typer

from .app import app


@app.command("models")
def models_cli(
    lang: str = typer.Option(
        "", "--lang", help="Only the models of this language (ISO 639 / spaCy code, e.g. de)."
    ),
) -> None:
    """List the biLMs that load by name, with their language, and whether each is in the
    cache (works offline)."""
    from ..hub.cache import cache_dir
    from ..hub.table import format_table, model_rows

    rows = model_rows(lang=lang.strip() or None)
    if not rows:
        typer.echo(
            f"No catalogue model for the language {lang!r}; all languages: "
            "python -m spacy_elmo models",
            err=True,
        )
        raise typer.Exit(1)
    typer.echo(format_table(rows))
    typer.echo(f"\nCache: {cache_dir()} (set SPACY_ELMO_CACHE to move it)", err=True)


@app.command("download")
def download_cli(
    what: str = typer.Argument(
        ..., help="A catalogue name (see `models`), an http(s) URL or hf://OWNER/REPO[@REV]/PATH."
    ),
    no_progress: bool = typer.Option(False, "--no-progress", help="No progress bar."),
) -> None:
    """Fetch a model or file into the cache (nothing to do if it is there) and print where
    the files are."""
    from ..hub.checks import kind_of
    from ..hub.fetch import FetchPolicy
    from ..hub.resolve import looks_like_name, resolve_bilm, resolve_file

    policy = FetchPolicy(progress=False) if no_progress else FetchPolicy()
    if looks_like_name(what):
        files = resolve_bilm(name=what, policy=policy)
        typer.echo(f"options: {files.options}\nweights: {files.weights}")
    else:
        typer.echo(str(resolve_file(what, kind=kind_of(what), policy=policy)))
