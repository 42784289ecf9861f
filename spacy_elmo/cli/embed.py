"""``python -m spacy_elmo embed``: the AllenNLP ``elmo`` command, with the same HDF5 layout,
for corpora of any size: streaming, resumable, and split over processes under ``torchrun``.
"""

from pathlib import Path
from typing import Optional

import typer

from ..runtime_settings import RUNTIME_DEFAULTS
from .app import app


@app.command("embed")
def embed_cli(
    # fmt: off
    input_file: str = typer.Argument(..., help="Text file, one whitespace-tokenized sentence per line; '-' reads stdin; a pipe such as <(zcat in.gz) is read as a stream."),
    output_file: Path = typer.Argument(..., help="HDF5 file to write (it appears only when complete)."),
    all_layers: bool = typer.Option(False, "--all", help="Write all layers (L+1, n, 2P)."),
    top: bool = typer.Option(False, "--top", help="Write the top layer (n, 2P)."),
    average: bool = typer.Option(False, "--average", help="Write the layer average (n, 2P)."),
    model: Optional[str] = typer.Option(None, "--model", help="Catalogue name, e.g. original (see `models`; default: embedded)."),
    options_file: Optional[str] = typer.Option(None, "--options-file", help="options.json: path, URL or hf:// (default: embedded)."),
    weight_file: Optional[str] = typer.Option(None, "--weight-file", help="weights.hdf5: path, URL or hf:// (default: embedded)."),
    batch_size: int = typer.Option(RUNTIME_DEFAULTS.batch_size, "--batch-size", min=1, help="Sentences per biLM batch."),
    state: str = typer.Option(RUNTIME_DEFAULTS.state, "--state", help="Initial LSTM state: warm | zero | stateful (AllenNLP's; one process only)."),
    device: str = typer.Option(RUNTIME_DEFAULTS.device, "--device", help="auto (a CUDA GPU if torch sees one, else cpu), cpu, cuda (under torchrun: cuda:LOCAL_RANK), cuda:1, ..."),
    precision: str = typer.Option(RUNTIME_DEFAULTS.precision, "--precision", help="float32 (exact) | bfloat16 (biLSTM products in bfloat16: faster, ~0.3% off) | int8 (CPU only)"),
    forget_sentences: bool = typer.Option(False, "--forget-sentences", help="Do not write sentence_to_index."),
    use_sentence_keys: bool = typer.Option(False, "--use-sentence-keys", help="Key datasets by sentence instead of line index (sentences must be unique)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace a complete OUTPUT; discard an unfinished run made with other settings."),
    encoding: str = typer.Option("utf-8", "--encoding", help="Encoding of the input; a line that does not decode is an error."),
    chunk_size: int = typer.Option(4096, "--chunk-size", min=1, help="Lines per resumable unit of work (rounded up to a multiple of 8 x batch size)."),
    save_seconds: float = typer.Option(30.0, "--save-seconds", min=0.001, help="Also save unfinished work every this many seconds (at window boundaries; OUTPUT does not change)."),
    no_progress: bool = typer.Option(False, "--no-progress", help="No progress bar on stderr."),
    # fmt: on
) -> None:
    """Embed every sentence of INPUT_FILE into OUTPUT_FILE.

    Re-running the same command after an interruption continues where it stopped (work is
    saved after every chunk and every --save-seconds). Under
    `torchrun --nproc_per_node N -m spacy_elmo embed ...` every process embeds its share;
    the output is the same as with one process.
    """
    chosen = [name for name, on in (("all", all_layers), ("top", top), ("average", average)) if on]
    if len(chosen) != 1:
        raise typer.BadParameter("choose exactly one of --all, --top, --average")
    run_embed(
        input_file,
        output_file,
        output_format=chosen[0],
        model=model,
        options_file=options_file,
        weight_file=weight_file,
        batch_size=batch_size,
        state=state,
        device=device,
        precision=precision,
        forget_sentences=forget_sentences,
        use_sentence_keys=use_sentence_keys,
        overwrite=overwrite,
        encoding=encoding,
        chunk_size=chunk_size,
        save_seconds=save_seconds,
        progress=not no_progress,
    )


def run_embed(
    input_file: str,
    output_file: Path,
    *,
    output_format: str,
    model: Optional[str],
    options_file: Optional[str],
    weight_file: Optional[str],
    batch_size: int,
    state: str,
    device: str,
    precision: str,
    forget_sentences: bool,
    use_sentence_keys: bool,
    overwrite: bool,
    encoding: str,
    chunk_size: int,
    progress: bool,
    save_seconds: float = 30.0,
) -> int:
    """The plain function behind ``embed``: every check runs before the model loads."""
    from ..corpus import EmbedSettings, embed_corpus, shard_from_env
    from ..embedder import ElmoEmbedder
    from ..errors import ElmoInputError, Errors
    from ..hub import resolve_bilm
    from ..pytorch.device import resolve_device
    from ..runtime_settings import RuntimeSettings

    shard = shard_from_env()
    RuntimeSettings(state=state, precision=precision, batch_size=batch_size)  # E104, E114
    # "cuda" and "auto" put each torchrun process on its own GPU (cuda:LOCAL_RANK).
    dev, problem = resolve_device(device, local_rank=shard.local_rank, types=("cpu", "cuda"))
    if dev is None or problem is not None:
        raise ElmoInputError(Errors.E509.format(device=device, reason=problem))
    device = str(dev)
    settings = EmbedSettings(
        output_format=output_format,
        batch_size=batch_size,
        forget_sentences=forget_sentences,
        use_sentence_keys=use_sentence_keys,
        chunk_size=chunk_size,
        save_seconds=save_seconds,
        encoding=encoding,
        overwrite=overwrite,
        progress=progress,
    )
    files = None
    if model is None and not any("://" in str(f) for f in (options_file, weight_file) if f):
        files = resolve_bilm(options_file=options_file, weight_file=weight_file)  # local: cheap
    n = embed_corpus(
        input_file,
        output_file,
        load=lambda: ElmoEmbedder(
            *(
                files
                or resolve_bilm(name=model, options_file=options_file, weight_file=weight_file)
            ),
            state=state,
            device=device,
            precision=precision,
        ),
        settings=settings,
        shard=shard,
        protected={"options file": files[0], "weight file": files[1]} if files else {},
    )
    if shard.is_main:
        typer.echo(f"Wrote {n} sentences to {output_file}", err=True)
    return n
