"""``embed_corpus``: embed a corpus into AllenNLP's HDF5 layout, streaming, resumable and
split over ``torchrun`` processes.

The steps: check OUTPUT and read the input once (coded errors before any model loads),
load the model, open the unfinished-run folder, embed this process's chunks (skipping the
finished ones), wait for every process, and let the main one assemble OUTPUT and rename it
into place. Memory holds one chunk of lines and one batch of vectors, whatever the input's
length.
"""

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, Mapping, Optional, Union

import numpy as np
import torch

from ..errors import ElmoInputError, Errors, Warnings
from ..pytorch.lstm import LSTMState
from ..util import warmup_text
from ..validation import check_int
from .checks import check_output
from .progress import Progress
from .protocol import CorpusEmbedder
from .reader import (
    Chunk,
    InputSummary,
    Source,
    check_encoding,
    check_source,
    is_stdin,
    iter_chunks,
    length_sorted_windows,
    scan_file,
)
from .resume import PartialRun, model_digest
from .shard import Shard, join, leave
from .writer import (
    INDEX_PIECE_BYTES,
    OUTPUT_FORMATS,
    ChunkWriter,
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
    :param batch_size: Sentences per biLM batch (default 64).
    :param forget_sentences: Leave out ``sentence_to_index``.
    :param use_sentence_keys: Key datasets by sentence instead of line index.
    :param chunk_size: Lines per resumable unit of work, rounded up to a multiple of the
        read-ahead window (8 x batch_size; batch_size with ``state="stateful"``). A killed
        run loses at most one chunk per process. Recommended: 1024-16384.
    :param encoding: Encoding of the input file or stdin (default utf-8).
    :param overwrite: Replace a complete OUTPUT; discard an unfinished run with other
        settings.
    :param progress: Show a progress bar on stderr.
    :param index_piece_bytes: Size at which ``sentence_to_index`` starts a new JSON piece
        (see :mod:`spacy_elmo.corpus.writer`).
    """

    output_format: str = "all"
    batch_size: int = 64
    forget_sentences: bool = False
    use_sentence_keys: bool = False
    chunk_size: int = 4096
    encoding: str = "utf-8"
    overwrite: bool = False
    progress: bool = True
    index_piece_bytes: int = INDEX_PIECE_BYTES

    def validate(self) -> None:
        if self.output_format not in OUTPUT_FORMATS:
            raise ElmoInputError(Errors.E105.format(value=self.output_format))
        for name in ("batch_size", "chunk_size", "index_piece_bytes"):
            check_int(name, getattr(self, name), low=1)
        check_encoding(self.encoding)

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
    check_source(source)
    if isinstance(source, (str, Path)) and not is_stdin(source):
        protected = {"input file": source, **protected}
    check_output(output, protected=protected, overwrite=settings.overwrite)
    if is_stdin(source) and shard.world_size > 1:
        raise ElmoInputError(Errors.E508.format(what="Standard input", world_size=shard.world_size))
    summary = _scan(source, settings)
    embedder = load()
    if embedder.state == "stateful" and shard.world_size > 1:
        what = "state='stateful' (states carried from one batch to the next)"
        raise ElmoInputError(Errors.E508.format(what=what, world_size=shard.world_size))
    join(shard)
    try:
        return _run(source, output, embedder, settings, shard, summary)
    finally:
        leave(shard)


def _scan(source: Source, settings: EmbedSettings) -> Optional[InputSummary]:
    """A file is read once up front (bad lines refused early, total known for the ETA);
    a stream is checked as it is read."""
    if isinstance(source, (str, Path)) and not is_stdin(source):
        return scan_file(source, encoding=settings.encoding)
    return None


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
    n_found = run.open(discard=settings.overwrite, is_main=shard.is_main)
    shard.barrier()
    if not shard.is_main:
        run.check_opened()
    elif n_found:
        import warnings

        warnings.warn(Warnings.W015.format(path=run.dir, done=n_found))
    n_chunks = _embed_own_chunks(source, embedder, settings, shard, run, summary)
    shard.barrier()
    if not shard.is_main:
        return 0
    return _assemble(output, run, n_chunks, settings)


def _embed_own_chunks(
    source: Source,
    embedder: CorpusEmbedder,
    settings: EmbedSettings,
    shard: Shard,
    run: PartialRun,
    summary: Optional[InputSummary],
) -> int:
    """Embed the chunks this process owns and has not finished before.

    :returns: Number of chunks in the input.
    """
    chunk_lines = settings.chunk_lines(embedder.state)
    finished = set(run.finished())
    progress = _progress(settings, shard, summary, chunk_lines, finished)
    n_chunks = 0
    try:
        for chunk in iter_chunks(source, chunk_lines=chunk_lines, encoding=settings.encoding):
            n_chunks = chunk.index + 1
            if not shard.owns(chunk.index):
                continue
            if chunk.index in finished:
                _check_finished(run, chunk, embedder)
            else:
                _embed_chunk(chunk, embedder, settings, run, progress)
    finally:
        progress.close()
    return n_chunks


def _progress(
    settings: EmbedSettings,
    shard: Shard,
    summary: Optional[InputSummary],
    chunk_lines: int,
    finished: "set[int]",
) -> Progress:
    total = done = None
    if summary is not None:
        n = summary.n_lines
        sizes = {k: min(chunk_lines, n - k * chunk_lines) for k in range(-(-n // chunk_lines))}
        total = sum(size for k, size in sizes.items() if shard.owns(k))
        done = sum(size for k, size in sizes.items() if shard.owns(k) and k in finished)
    desc = "embedding" if shard.world_size == 1 else f"embedding (rank 0 of {shard.world_size})"
    return Progress(
        total=total, done=done or 0, enabled=settings.progress and shard.is_main, desc=desc
    )


def _check_finished(run: PartialRun, chunk: Chunk, embedder: CorpusEmbedder) -> None:
    """A finished chunk must hold these very lines; with ``stateful`` its carried state is
    where the next chunk starts."""
    path = run.chunk_path(chunk.index)
    expected = (chunk.first, len(chunk.lines), lines_digest(chunk.lines))
    if read_chunk_info(path) != expected:
        raise ElmoInputError(
            Errors.E507.format(
                first=chunk.first + 1, last=chunk.first + len(chunk.lines), path=run.dir
            )
        )
    if embedder.state == "stateful":
        _set_stateful(embedder, read_chunk_state(path))


def _embed_chunk(
    chunk: Chunk,
    embedder: CorpusEmbedder,
    settings: EmbedSettings,
    run: PartialRun,
    progress: Progress,
) -> None:
    writer = ChunkWriter(
        run.chunk_path(chunk.index),
        first=chunk.first,
        lines=chunk.lines,
        use_sentence_keys=settings.use_sentence_keys,
    )
    stateful = embedder.state == "stateful"
    bs = settings.batch_size
    # Char-CNN vectors computed in other batches can differ in the last float bit: starting
    # every chunk with an empty cache makes its vectors a function of its lines alone, so a
    # resumed or sharded run writes the very same bytes as one uninterrupted process.
    embedder.clear_cache()
    try:
        windows = length_sorted_windows(
            chunk.lines, window=settings.window(embedder.state), sort=not stateful
        )
        for positions, tokens in windows:
            for start in range(0, len(tokens), bs):
                batch = tokens[start : start + bs]
                for pos, layers in zip(positions[start : start + bs], embedder.embed_batch(batch)):
                    writer.add(pos, reduce_layers(layers, settings.output_format))
                progress.update(len(batch), sum(len(t) for t in batch))
    except BaseException:
        writer.abort()
        raise
    writer.commit(_get_stateful(embedder) if stateful else None)


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


def _assemble(output: Path, run: PartialRun, n_chunks: int, settings: EmbedSettings) -> int:
    """Main process: all chunk files -> OUTPUT (temporary name, then renamed into place)."""
    paths = [run.chunk_path(k) for k in range(n_chunks)]
    missing = [p.name for p in paths if not p.is_file()]
    if missing:
        error = f"chunk files missing after every process finished: {', '.join(missing[:5])}"
        raise ElmoInputError(Errors.E511.format(path=run.dir, error=error))
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
