"""``embed_corpus``: embed a corpus into AllenNLP's HDF5 layout, streaming, resumable and
split over ``torchrun`` processes.

The steps: check OUTPUT and read the input once (coded errors before any model loads),
lock OUTPUT against other runs, load the model, open the unfinished-run folder, embed this
process's chunks (skipping the saved pieces), wait for every process, and let the main one
assemble OUTPUT and rename it into place. Memory holds one chunk of lines and one batch of
vectors, whatever the input's length.

The unit that decides the vectors is the read-ahead window (its lines are sorted by length
and batched together, and the char-CNN cache starts empty for each): chunk and piece
boundaries always fall between windows, so where a run was cut, by size, by time or by a
kill, changes nothing in OUTPUT.
"""

import hashlib
import math
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional, Union, cast

import numpy as np
import torch

from ..errors import ElmoInputError, Errors, Warnings
from ..pytorch.lstm import LSTMState
from ..runtime_settings import RUNTIME_DEFAULTS
from ..settings import BiLMSettings
from ..util import warmup_text
from ..validation import check_int
from .checks import check_output, output_lock
from .progress import Progress
from .protocol import CorpusEmbedder
from .reader import (
    Chunk,
    InputSummary,
    Source,
    SourceKind,
    check_encoding,
    check_source,
    describe,
    iter_chunks,
    length_sorted_windows,
    scan_file,
    token_batches,
)
from .resume import PartialRun, model_digest
from .shard import Shard, join, leave
from .writer import (
    INDEX_PIECE_BYTES,
    OUTPUT_FORMATS,
    ChunkWriter,
    check_unique,
    lines_digest,
    merge_chunks,
    read_chunk_info,
    read_chunk_state,
    reduce_layers,
)

PathLike = Union[str, Path]


@dataclass(frozen=True, kw_only=True)
class EmbedSettings:
    """What ``embed`` writes and how.

    :param output_format: ``"all"`` (L+1, n, 2P), ``"top"`` or ``"average"`` (n, 2P).
    :param batch_size: Sentences per biLM batch (default: ``RUNTIME_DEFAULTS.batch_size``, 64).
    :param max_batch_tokens: Most padded tokens (rows x longest) per biLM batch, as the
        spaCy model's setting of that name (default 4096): a window's long sentences go in
        smaller batches, so no call pads up to ``batch_size`` x its longest line. Not used
        with ``state="stateful"``.
    :param forget_sentences: Leave out ``sentence_to_index``.
    :param use_sentence_keys: Key datasets by sentence instead of line index.
    :param chunk_size: Lines per chunk (the unit split over processes, and saved when
        done), rounded up to a multiple of the read-ahead window (8 x batch_size;
        batch_size with ``state="stateful"``). Recommended: 1024-16384.
    :param save_seconds: Also save the unfinished chunk's finished windows after this many
        seconds (default 30), so a killed run loses at most about that much work per
        process (at least one window). Changes nothing in OUTPUT.
    :param encoding: Encoding of the input file or stdin (default utf-8).
    :param overwrite: Replace a complete OUTPUT; discard an unfinished run with other
        settings.
    :param progress: Show a progress bar on stderr.
    :param index_piece_bytes: Size at which ``sentence_to_index`` starts a new JSON piece
        (see :mod:`spacy_elmo.corpus.writer`).
    """

    output_format: str = "all"
    batch_size: int = RUNTIME_DEFAULTS.batch_size
    max_batch_tokens: int = BiLMSettings.max_batch_tokens
    forget_sentences: bool = False
    use_sentence_keys: bool = False
    chunk_size: int = 4096
    encoding: str = "utf-8"
    overwrite: bool = False
    progress: bool = True
    index_piece_bytes: int = INDEX_PIECE_BYTES
    save_seconds: float = 30.0

    def validate(self) -> None:
        if self.output_format not in OUTPUT_FORMATS:
            raise ElmoInputError(Errors.E105.format(value=self.output_format))
        for name in ("batch_size", "max_batch_tokens", "chunk_size", "index_piece_bytes"):
            check_int(name, getattr(self, name), low=1)
        check_encoding(self.encoding)
        seconds = self.save_seconds
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
            raise ElmoInputError(Errors.E516.format(value=seconds))
        if not (math.isfinite(seconds) and seconds > 0):
            raise ElmoInputError(Errors.E516.format(value=seconds))

    def window(self, state: str) -> int:
        """Read-ahead window: lines sorted by length together (consecutive when stateful)."""
        return self.batch_size if state == "stateful" else 8 * self.batch_size

    def chunk_lines(self, state: str) -> int:
        window = self.window(state)
        return -(-self.chunk_size // window) * window


def embed_corpus(
    source: Source,
    output: PathLike,
    *,
    load: Callable[[], CorpusEmbedder],
    settings: EmbedSettings = EmbedSettings(),
    shard: Shard = Shard(),
    protected: Mapping[str, Optional[PathLike]] = {},
) -> int:
    """Embed every line of ``source`` (a path, ``"-"`` for stdin, or a text stream) into the
    HDF5 file ``output``. ``load`` gives the embedder and is called only after the checks;
    ``protected`` names files OUTPUT must not be (the input file is always one).

    :returns: Number of sentences in OUTPUT.
    """
    output = Path(output)
    settings.validate()
    kind = check_source(source)
    if kind in ("file", "pipe"):
        protected = {"input file": cast(PathLike, source), **protected}
    check_output(output, protected=protected, overwrite=settings.overwrite)
    if kind in ("stdin", "pipe") and shard.world_size > 1:
        what = "Standard input" if kind == "stdin" else f"The pipe {describe(source)}"
        raise ElmoInputError(Errors.E508.format(what=what, world_size=shard.world_size))
    summary = _scan(source, kind, settings)
    with output_lock(output, is_main=shard.is_main):
        # again, under the lock: a run that held it may have completed OUTPUT meanwhile
        check_output(output, protected=protected, overwrite=settings.overwrite)
        embedder = load()
        if embedder.state == "stateful" and shard.world_size > 1:
            what = "state='stateful' (states carried from one batch to the next)"
            raise ElmoInputError(Errors.E508.format(what=what, world_size=shard.world_size))
        join(shard)
        try:
            return _run(source, output, embedder, settings, shard, summary)
        finally:
            leave(shard)


def _scan(source: Source, kind: SourceKind, settings: EmbedSettings) -> Optional[InputSummary]:
    """A file is read once up front (bad lines refused early, total known for the ETA);
    a stream or pipe is checked as it is read."""
    if kind != "file":
        return None
    summary = scan_file(source, encoding=settings.encoding)
    if settings.use_sentence_keys and summary.first_nul is not None:
        raise ElmoInputError(Errors.E515.format(line=summary.first_nul, source=describe(source)))
    return summary


def fingerprint(embedder: CorpusEmbedder, settings: EmbedSettings) -> Dict[str, Any]:
    """Everything that changes the vectors or the chunk files (not the number of
    processes, not the input: that is checked chunk by chunk)."""
    state = embedder.state
    warm = hashlib.sha256(warmup_text().encode("utf8")).hexdigest() if state == "warm" else ""
    return {
        "model": model_digest(embedder.bilm),
        "state": state,
        "warmup": warm,
        "precision": embedder.precision,
        "device": embedder.device.type,
        "output_format": settings.output_format,
        "use_sentence_keys": settings.use_sentence_keys,
        "batch_size": settings.batch_size,
        "max_batch_tokens": settings.max_batch_tokens,
        "chunk_lines": settings.chunk_lines(state),
    }


def _run(
    source: Source,
    output: Path,
    embedder: CorpusEmbedder,
    settings: EmbedSettings,
    shard: Shard,
    summary: Optional[InputSummary],
) -> int:
    run = PartialRun(output, fingerprint(embedder, settings))
    try:
        return _run_steps(source, output, embedder, settings, shard, summary, run)
    except OSError as e:
        if run.dir.is_dir():
            raise
        # the folder was created by this run, so it was deleted (or moved) under it
        raise ElmoInputError(Errors.E513.format(path=run.dir, error=e)) from None


def _run_steps(
    source: Source,
    output: Path,
    embedder: CorpusEmbedder,
    settings: EmbedSettings,
    shard: Shard,
    summary: Optional[InputSummary],
    run: PartialRun,
) -> int:
    run.open(discard=settings.overwrite, is_main=shard.is_main)
    shard.barrier()
    if not shard.is_main:
        run.check_opened()
    saved = run.saved()
    if shard.is_main:
        _announce(run, saved, settings, embedder.state, summary)
    n_lines = _embed_own_chunks(source, embedder, settings, shard, run, summary, saved)
    shard.barrier()
    if not shard.is_main:
        return 0
    return _assemble(output, run, n_lines, settings)


def _announce(
    run: PartialRun,
    saved: Dict[int, int],
    settings: EmbedSettings,
    state: str,
    summary: Optional[InputSummary],
) -> None:
    """Say at the start whether and how much an earlier run is resumed."""
    if saved:
        done = f"{sum(saved.values()):,}"
        done += f" of {summary.n_lines:,} lines" if summary is not None else " lines"
        warnings.warn(Warnings.W015.format(path=run.dir, done=done, pieces=len(saved)))
        return
    every = f"{settings.chunk_lines(state):,} lines or {settings.save_seconds:g} s"
    print(
        f"embed: nothing to resume; unfinished work is saved in '{run.dir}' every {every}",
        file=sys.stderr,
        flush=True,
    )


def _embed_own_chunks(
    source: Source,
    embedder: CorpusEmbedder,
    settings: EmbedSettings,
    shard: Shard,
    run: PartialRun,
    summary: Optional[InputSummary],
    saved: Dict[int, int],
) -> int:
    """Embed the lines of the chunks this process owns that no saved piece holds.

    :returns: Number of lines in the input.
    """
    chunk_lines = settings.chunk_lines(embedder.state)
    progress = _progress(settings, shard, summary, chunk_lines, saved)
    n_lines = 0
    try:
        for chunk in iter_chunks(source, chunk_lines=chunk_lines, encoding=settings.encoding):
            n_lines = chunk.first + len(chunk.lines)
            if not shard.owns(chunk.index):
                continue
            if settings.use_sentence_keys:
                _check_keys(chunk, source)
            done = _skip_saved(run, chunk, saved, embedder)
            while done < len(chunk.lines):
                done = _embed_piece(chunk, done, embedder, settings, run, progress)
    finally:
        progress.close()
    return n_lines


def _check_keys(chunk: Chunk, source: Source) -> None:
    """Before a chunk is embedded: its lines must make valid, unique dataset names (a
    duplicate in another chunk is found when OUTPUT is assembled)."""
    for i, line in enumerate(chunk.lines):
        if "\0" in line:
            line_number = chunk.first + i + 1
            raise ElmoInputError(Errors.E515.format(line=line_number, source=describe(source)))
    check_unique(chunk.lines)


def _progress(
    settings: EmbedSettings,
    shard: Shard,
    summary: Optional[InputSummary],
    chunk_lines: int,
    saved: Dict[int, int],
) -> Progress:
    total = None
    done = sum(n for first, n in saved.items() if shard.owns(first // chunk_lines))
    if summary is not None:
        n = summary.n_lines
        sizes = {k: min(chunk_lines, n - k * chunk_lines) for k in range(-(-n // chunk_lines))}
        total = sum(size for k, size in sizes.items() if shard.owns(k))
    desc = "embedding" if shard.world_size == 1 else f"embedding (rank 0 of {shard.world_size})"
    return Progress(total=total, done=done, enabled=settings.progress and shard.is_main, desc=desc)


def _skip_saved(
    run: PartialRun, chunk: Chunk, saved: Dict[int, int], embedder: CorpusEmbedder
) -> int:
    """Check the saved pieces at the start of ``chunk`` against its lines (E507 if the
    input changed); with ``stateful`` the last one's carried state is where embedding goes
    on.

    :returns: Number of the chunk's lines they hold.
    """
    done = 0
    while done < len(chunk.lines) and chunk.first + done in saved:
        first = chunk.first + done
        path = run.chunk_path(first)
        lines = chunk.lines[done : done + saved[first]]
        if read_chunk_info(path) != (first, len(lines), lines_digest(lines)):
            last = first + saved[first]
            raise ElmoInputError(Errors.E507.format(first=first + 1, last=last, path=run.dir))
        if embedder.state == "stateful":
            _set_stateful(embedder, read_chunk_state(path))
        done += len(lines)
    return done


def _embed_piece(
    chunk: Chunk,
    start: int,
    embedder: CorpusEmbedder,
    settings: EmbedSettings,
    run: PartialRun,
    progress: Progress,
) -> int:
    """Embed whole windows of ``chunk`` from line ``start`` until the chunk ends or
    ``save_seconds`` have passed (one window at least), and save them as one piece.

    :returns: Where the next piece starts in the chunk.
    """
    first = chunk.first + start
    writer = ChunkWriter(
        run.chunk_path(first), first=first, use_sentence_keys=settings.use_sentence_keys
    )
    window = settings.window(embedder.state)
    deadline = time.monotonic() + settings.save_seconds
    end = start
    try:
        while end < len(chunk.lines) and (end == start or time.monotonic() < deadline):
            _embed_window(chunk, end, embedder, settings, writer, progress)
            end = min(end + window, len(chunk.lines))
    except BaseException:
        writer.abort()
        raise
    stateful = embedder.state == "stateful"
    writer.commit(chunk.lines[start:end], _get_stateful(embedder) if stateful else None)
    return end


def _embed_window(
    chunk: Chunk,
    start: int,
    embedder: CorpusEmbedder,
    settings: EmbedSettings,
    writer: ChunkWriter,
    progress: Progress,
) -> None:
    """One read-ahead window of ``chunk`` from line ``start``, batch by batch."""
    window = settings.window(embedder.state)
    lines = chunk.lines[start : start + window]
    # A word's char-CNN vector computed in another batch can differ in the last float bit:
    # starting every window with an empty cache makes its vectors a function of its lines
    # alone, so a run cut anywhere (chunk size, save time, kill) writes the same bytes.
    embedder.clear_cache()
    sort = embedder.state != "stateful"
    for positions, tokens in length_sorted_windows(lines, window=window, sort=sort):
        for at, end in _batches(tokens, settings, embedder.state):
            batch = tokens[at:end]
            for pos, layers in zip(positions[at:end], embedder.embed_batch(batch)):
                index = chunk.first + start + pos
                array = reduce_layers(layers, settings.output_format)
                writer.add(index, chunk.lines[start + pos], array)
            progress.update(len(batch), sum(len(t) for t in batch))


def _batches(tokens: List[List[str]], settings: EmbedSettings, state: str):
    """The biLM batches of a window: filled by tokens (``max_batch_tokens``) as well as by
    sentences; stateful rows carry their state by batch row, so there every batch is
    ``batch_size`` consecutive lines."""
    if state == "stateful":
        return ((at, at + settings.batch_size) for at in range(0, len(tokens), settings.batch_size))
    return token_batches(
        tokens, batch_size=settings.batch_size, max_batch_tokens=settings.max_batch_tokens
    )


def _get_stateful(embedder: CorpusEmbedder) -> Optional[tuple]:
    state = embedder.carried_state
    if state is None:
        return None
    return state.h.to("cpu").numpy(), state.c.to("cpu").numpy()


def _set_stateful(embedder: CorpusEmbedder, arrays: Optional[tuple]) -> None:
    if arrays is None:
        embedder.carried_state = None
        return
    h, c = (torch.from_numpy(np.ascontiguousarray(a)) for a in arrays)
    embedder.carried_state = LSTMState(h, c)  # checked and moved to the model's device


def _assemble(output: Path, run: PartialRun, n_lines: int, settings: EmbedSettings) -> int:
    """Main process: all saved pieces -> OUTPUT (temporary name, then renamed into place)."""
    paths = _pieces_in_order(run, n_lines)
    tmp = run.dir / "output.hdf5.tmp"
    n = merge_chunks(
        paths,
        tmp,
        use_sentence_keys=settings.use_sentence_keys,
        write_index=not (settings.forget_sentences or settings.use_sentence_keys),
        index_piece_bytes=settings.index_piece_bytes,
    )
    tmp.replace(output)
    run.remove()
    return n


def _pieces_in_order(run: PartialRun, n_lines: int) -> List[Path]:
    """The saved pieces that hold lines 0 .. n_lines - 1, one after the other."""
    saved = run.saved()
    paths, first = [], 0
    while first < n_lines:
        if first not in saved:
            error = f"no saved piece holds line {first + 1} after every process finished"
            raise ElmoInputError(Errors.E511.format(path=run.dir, error=error))
        paths.append(run.chunk_path(first))
        first += saved[first]
    return paths
