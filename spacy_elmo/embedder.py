"""``ElmoEmbedder``: the inference runtime used by the CLI, the benchmark and the spaCy glue.

It gives back AllenNLP 0.9's ``ElmoEmbedder`` (removed in AllenNLP 1.0) with the same
results layout, without its quirks, and faster: char-CNN vectors are computed once per word
type (bounded LRU cache), never for padding, :meth:`ElmoEmbedder.embed_sentences` sorts each
window of sentences by length (``zero``/``warm``), and no autograd graph is built.
"""

import threading
import warnings
from collections import OrderedDict
from pathlib import Path
from typing import IO, Callable, Iterable, Iterator, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from torch import Tensor

from .errors import ElmoInputError, Errors, Warnings
from .memory import check_fits, device_memory
from .pytorch.bilm import ELMoBiLM
from .pytorch.char_ids import check_sentences
from .pytorch.config import ELMoConfig
from .pytorch.device import require_device
from .pytorch.fork_safety import register_fork_handler
from .pytorch.lstm import LSTMState, precision_dtype
from .pytorch.state import StatefulRows, broadcast_state, read_sentences, warm_state
from .runtime_settings import RUNTIME_DEFAULTS, RuntimeSettings
from .util import cpu_has_bf16_gemm, cpu_has_vnni, warmup_text
from .validation import check_int, invalid

PathLike = Union[str, Path]
OUTPUT_FORMATS = ("all", "top", "average")
#: Fewest rows the word-type cache grows by: it grows with the words seen, never to
#: ``cache_size`` rows at once (see ``_reserve_cache_rows``).
MIN_CACHE_ROWS = 1024

# Workers of nlp.pipe(n_process=...) are forked by default on Linux: run torch with one
# thread there, or they hang on the parent's OpenMP pool (see pytorch/fork_safety.py).
register_fork_handler()


class ElmoEmbedder:
    """Contextual ELMo vectors for tokenized sentences.

    Every result is a float32 array of shape ``(L + 1, n_tokens, 2P)``: layer 0 is the
    context-independent char-CNN vector (duplicated to width 2P), layers 1..L the biLSTM
    layers ``[forward; backward]``, sentence boundaries removed.

    ``state`` chooses the initial LSTM state of each sentence: ``"warm"`` (default: one fixed
    state computed at load time from a warm-up text), ``"zero"``, or ``"stateful"``
    (AllenNLP/bilm-tf: carried across calls by batch row). With ``warm`` and ``zero`` a
    sentence's vectors do not depend on the rest of its batch.

    ``precision="bfloat16"`` or ``"int8"`` (opt-in) runs the matrix products of the biLSTM
    and of the char CNN's highway layers in that precision (float32 accumulation; gates,
    cell state, clipping and outputs stay float32): about 3x (bfloat16) and 4.4x (int8)
    faster than float32 at the full size where the CPU has bfloat16 GEMMs / VNNI, not exact
    (about 0.4% / 1-3% relative, docs/benchmarks.md). Such an embedder holds its weights
    only in its own precision (``lean=True``, the default): ``lean=False`` keeps the float32
    weights too (for saving, or an exact char CNN).

    Thread safety: one embedder may be called from several threads at once. The word-type
    cache is guarded by a lock (held while the char CNN runs for the words it misses; cache
    hits are cheap), and the biLSTMs of different threads run in parallel, since they share
    only read-only weights. With ``state="stateful"`` the whole batch runs under the lock,
    because every batch reads and writes the carried states; which thread's batch comes
    first is then up to the scheduler.
    """

    def __init__(
        self,
        options_file: Optional[PathLike] = None,
        weight_file: Optional[PathLike] = None,
        *,
        state: str = RUNTIME_DEFAULTS.state,
        device: Union[str, torch.device] = RUNTIME_DEFAULTS.device,
        cache_size: int = RUNTIME_DEFAULTS.word_cache_size,
        precision: str = RUNTIME_DEFAULTS.precision,
        lean: bool = True,
    ):
        """Load a biLM: :meth:`from_name` for ``ElmoEmbedder("original")``, else
        :meth:`from_files` (nothing given: the embedded default model).

        :param options_file: options.json of the biLM (default: the embedded model): a path,
            an http(s) URL or ``hf://OWNER/REPO[@REVISION]/PATH``; alone, a catalogue name
            (``ElmoEmbedder("original")``, see ``python -m spacy_elmo models``).
        :param weight_file: weights.hdf5 of the biLM (default: the embedded model), as above.
        :param state: ``"warm"`` (default), ``"zero"`` or ``"stateful"``.
        :param device: ``"auto"`` (default: the first CUDA GPU torch sees, else the CPU; see
            :func:`spacy_elmo.pytorch.device.resolve_device`), ``"cpu"``, ``"cuda[:N]"``,
            ``"mps"`` or a torch.device.
        :param cache_size: Word types whose char-CNN vectors are kept (0: none); the runtime
            setting ``word_cache_size``.
        :param precision: ``"float32"`` (exact), ``"bfloat16"`` or ``"int8"`` (faster, see
            the class).
        :param lean: With a reduced precision, load the biLSTM's weights only in that
            precision (no float32 copy: less memory). Set False to share the biLM with
            embedders of other precisions, or to train or save it.

        Every default is :data:`spacy_elmo.runtime_settings.RUNTIME_DEFAULTS`'.
        """
        from .hub import looks_like_name

        if weight_file is None and looks_like_name(options_file):  # ElmoEmbedder("original")
            made = self.from_name(
                str(options_file),
                state=state,
                device=device,
                cache_size=cache_size,
                precision=precision,
                lean=lean,
            )
        else:
            made = self.from_files(
                options_file,  # None: checked by the hub (E402)
                weight_file,
                state=state,
                device=device,
                cache_size=cache_size,
                precision=precision,
                lean=lean,
            )
        # __init__ cannot hand back another object: take over the one the constructor made.
        self.__dict__.update(made.__dict__)

    @classmethod
    def from_name(
        cls,
        name: str,
        *,
        state: str = RUNTIME_DEFAULTS.state,
        device: Union[str, torch.device] = RUNTIME_DEFAULTS.device,
        cache_size: int = RUNTIME_DEFAULTS.word_cache_size,
        precision: str = RUNTIME_DEFAULTS.precision,
        lean: bool = True,
    ) -> "ElmoEmbedder":
        """The catalogue biLM ``name`` (``python -m spacy_elmo models``; "default" is the
        embedded one), fetched once into the download cache. Settings as in the class."""
        from .hub import resolve_bilm

        return cls._checked_load(
            lambda: resolve_bilm(name=name),
            state=state,
            device=device,
            cache_size=cache_size,
            precision=precision,
            lean=lean,
        )

    @classmethod
    def from_files(
        cls,
        options_file: Optional[PathLike],
        weight_file: Optional[PathLike],
        *,
        state: str = RUNTIME_DEFAULTS.state,
        device: Union[str, torch.device] = RUNTIME_DEFAULTS.device,
        cache_size: int = RUNTIME_DEFAULTS.word_cache_size,
        precision: str = RUNTIME_DEFAULTS.precision,
        lean: bool = True,
    ) -> "ElmoEmbedder":
        """The biLM of ``options_file`` and ``weight_file``: each a local path, an http(s) URL
        or ``hf://OWNER/REPO[@REVISION]/PATH`` (remote files are fetched into the cache);
        both None: the embedded default model. Settings as in the class."""
        from .hub import resolve_bilm

        return cls._checked_load(
            lambda: resolve_bilm(options_file=options_file, weight_file=weight_file),
            state=state,
            device=device,
            cache_size=cache_size,
            precision=precision,
            lean=lean,
        )

    @classmethod
    def _checked_load(
        cls,
        resolve: Callable[[], Tuple[PathLike, PathLike]],
        *,
        state: str,
        device: Union[str, torch.device],
        cache_size: int,
        precision: str,
        lean: bool,
    ) -> "ElmoEmbedder":
        """Check every setting, then resolve the files (which may download), then load."""
        dev = _checked_settings(
            state=state, device=device, cache_size=cache_size, precision=precision
        )
        files = resolve()
        assert dev is not None  # a device was given (None only in from_bilm)
        return cls._load(
            files, state=state, device=dev, cache_size=cache_size, precision=precision, lean=lean
        )

    @classmethod
    def _load(
        cls,
        files: Tuple[PathLike, PathLike],
        *,
        state: str,
        device: torch.device,
        cache_size: int,
        precision: str,
        lean: bool,
    ) -> "ElmoEmbedder":
        from .weights import load_bilm

        options_file, weight_file = files
        if lean and precision != "float32":
            from .weights.lean import load_lean_bilm

            bilm = load_lean_bilm(options_file, weight_file, precision=precision, device=device)
        else:
            bilm = load_bilm(options_file, weight_file, device=device)
        self = cls.__new__(cls)
        self._setup(bilm, state=state, cache_size=cache_size, precision=precision)
        return self

    @classmethod
    def from_bilm(
        cls,
        bilm: ELMoBiLM,
        *,
        state: str = RUNTIME_DEFAULTS.state,
        cache_size: int = RUNTIME_DEFAULTS.word_cache_size,
        precision: str = RUNTIME_DEFAULTS.precision,
    ) -> "ElmoEmbedder":
        """Wrap a biLM already in memory (it is put in eval mode and frozen). Embedders
        wrapping the same biLM share it, whatever their state or precision."""
        self = cls.__new__(cls)
        _checked_settings(state=state, device=None, cache_size=cache_size, precision=precision)
        bilm.requires_grad_(False).eval()
        self._setup(bilm, state=state, cache_size=cache_size, precision=precision)
        return self

    def _setup(self, bilm: ELMoBiLM, *, state: str, cache_size: int, precision: str) -> None:
        _check_cache_size(cache_size, bilm)
        self._matmul_dtype = precision_dtype(precision)
        _check_precision(bilm, precision)
        self.precision = precision
        self.bilm = bilm
        self.state = state
        self.cache_size = cache_size
        # Guards the word-type cache and the stateful rows (see the class docstring).
        self._lock = threading.RLock()
        self._cache_index: "OrderedDict[str, int]" = OrderedDict()
        self._cache_rows: Optional[Tensor] = None
        self._stateful = StatefulRows()
        self._warm: Optional[LSTMState] = None
        self._warm_stale = False  # weights changed since the warm state was computed
        if state == "warm":
            self._warm = warm_state(bilm, read_sentences(warmup_text()))

    # --- properties ----------------------------------------------------------------------
    @property
    def config(self) -> ELMoConfig:
        return self.bilm.config

    @property
    def output_dim(self) -> int:
        """Width of every layer: ``2P``."""
        return self.bilm.output_dim

    @property
    def n_layers(self) -> int:
        """Number of output layers: ``L + 1``."""
        return self.bilm.n_output_layers

    @property
    def device(self) -> torch.device:
        return _device_of(self.bilm)

    @property
    def carried_state(self) -> Optional[LSTMState]:
        """The LSTM states that ``state="stateful"`` carries from one batch to the next, one
        per batch row: None before the first batch and after :meth:`reset_states`. A copy, so
        it can be kept (``embed`` saves it with each chunk) and set back later to go on from
        that point.

        *Shapes:* ``h (L, 2, n_rows, P)``, ``c (L, 2, n_rows, D)``.
        """
        with self._lock:
            state = self._stateful.state
            return None if state is None else LSTMState(state.h.clone(), state.c.clone())

    @carried_state.setter
    def carried_state(self, state: Optional[LSTMState]) -> None:
        """Replace the carried states (None forgets them), e.g. with a saved
        :attr:`carried_state`: copied to float32 on the model's device; its shapes must fit
        this biLM (coded error E110 otherwise)."""
        checked = None if state is None else self._checked_state(state)
        with self._lock:
            self._stateful.state = checked

    def reset_states(self) -> None:
        """Forget the carried states of ``state="stateful"``."""
        with self._lock:
            self._stateful.reset()

    def clear_cache(self) -> None:
        """Forget cached char-CNN vectors (needed only if the biLM's weights change)."""
        with self._lock:
            self._cache_index.clear()
            self._cache_rows = None

    def weights_changed(self) -> None:
        """Follow an update of the biLM's weights (fine-tuning): forget the char-CNN vectors
        if the char CNN trains (they stay valid otherwise), and compute the warm state again from the new weights before
        the next call without gradients, so that inference gives the vectors a runtime
        loaded from the saved weights gives. Training calls (``grad=True``) keep the warm
        state they have: computing it again at every update would double a step's cost."""
        with self._lock:
            if self._char_cnn_trains:
                self.clear_cache()
            self._warm_stale = self.state == "warm"

    def _fresh_warm_state(self) -> LSTMState:
        """The warm state, computed again if the weights changed since (see
        :meth:`weights_changed`) and this call records no graph."""
        if self._warm_stale and not torch.is_grad_enabled():
            with self._lock:
                if self._warm_stale:
                    self._warm = warm_state(self.bilm, read_sentences(warmup_text()))
                    self._warm_stale = False
        assert self._warm is not None
        return self._warm

    # A lock can be neither pickled nor deep-copied: copies get their own.
    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state.pop("_lock", None)
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._lock = threading.RLock()

    # --- embedding -----------------------------------------------------------------------
    def embed_batch_torch(
        self, batch: Sequence[Sequence[str]], *, grad: bool = False
    ) -> Tuple[Tensor, Tensor]:
        """Run one batch and keep the result on the model's device.

        :param grad: Record the autograd graph of the parameters that require grad (a biLM
            being fine-tuned); the char-CNN cache is bypassed while the char CNN trains.
            Default False: no graph, the inference loop.
        :returns: ``layers`` *Shape:* ``(L + 1, batch_size, T, 2P)``, zero at padding, and
            ``mask`` *Shape:* ``(batch_size, T)``.
        """
        with torch.set_grad_enabled(grad):
            return self._embed_batch(batch)

    def _embed_batch(self, batch: Sequence[Sequence[str]]) -> Tuple[Tensor, Tensor]:
        check_sentences(batch)
        B = len(batch)
        lengths = torch.tensor([len(s) for s in batch], dtype=torch.long)
        T = int(lengths.max()) if B else 0
        if B == 0:
            empty = torch.zeros(self.n_layers, 0, 0, self.output_dim, device=self.device)
            return empty, torch.zeros(0, 0, dtype=torch.bool, device=self.device)
        if self.state == "stateful":
            with self._lock:  # take, run and update the carried states as one step
                return self._contextualize(batch, lengths, T)
        return self._contextualize(batch, lengths, T)

    def _contextualize(
        self, batch: Sequence[Sequence[str]], lengths: Tensor, T: int
    ) -> Tuple[Tensor, Tensor]:
        token_emb = self._token_vectors(batch, T)
        state = self._initial_state(len(batch))
        out = self.bilm.contextualize(
            token_emb, lengths.to(self.device), state, matmul_dtype=self._matmul_dtype
        )
        if self.state == "stateful":
            self._stateful.update(out.final_state)
        return out.layers, out.mask

    def embed_batch(self, batch: Sequence[Sequence[str]]) -> List[np.ndarray]:
        """Embed a batch of tokenized sentences.

        :returns: One float32 array per sentence. *Shape:* ``(L + 1, n_tokens, 2P)``;
            an empty sentence gives ``(L + 1, 0, 2P)``.
        """
        layers, _ = self.embed_batch_torch(batch)
        array = layers.to("cpu", torch.float32).numpy()
        return [np.ascontiguousarray(array[:, i, : len(s)]) for i, s in enumerate(batch)]

    def embed_sentence(self, tokens: Sequence[str]) -> np.ndarray:
        """Embed one tokenized sentence. *Shape:* ``(L + 1, n_tokens, 2P)``."""
        if isinstance(tokens, (str, bytes)):
            raise ElmoInputError(Errors.E103.format(type=type(tokens).__name__, where="tokens"))
        return self.embed_batch([tokens])[0]

    def embed_sentences(
        self, sentences: Iterable[Sequence[str]], batch_size: int = RUNTIME_DEFAULTS.batch_size
    ) -> Iterator[np.ndarray]:
        """Embed a stream of sentences lazily, yielding results in input order.

        With ``warm``/``zero`` states, a window of ``8 * batch_size`` sentences is sorted by
        length before batching (same results, less padding). With ``stateful`` the batches are
        consecutive sentences, as in AllenNLP.
        """
        check_int("batch_size", batch_size, low=1)
        pool_size = batch_size if self.state == "stateful" else 8 * batch_size
        pool: List[Sequence[str]] = []
        for sentence in sentences:
            pool.append(sentence)
            if len(pool) == pool_size:
                yield from self._embed_pool(pool, batch_size)
                pool = []
        if pool:
            yield from self._embed_pool(pool, batch_size)

    def _embed_pool(self, pool: List[Sequence[str]], batch_size: int) -> Iterator[np.ndarray]:
        if self.state == "stateful":
            order = list(range(len(pool)))
        else:
            order = sorted(range(len(pool)), key=lambda i: -len(pool[i]))
        results: List[Optional[np.ndarray]] = [None] * len(pool)
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            for i, r in zip(idx, self.embed_batch([pool[i] for i in idx])):
                results[i] = r
        for result in results:
            assert result is not None  # every index of order was filled above
            yield result

    def embed_file(
        self,
        input_file: Union[PathLike, IO[str]],
        output_file_path: PathLike,
        output_format: str = "all",
        batch_size: int = RUNTIME_DEFAULTS.batch_size,
        forget_sentences: bool = False,
        use_sentence_keys: bool = False,
        progress: bool = True,
        *,
        overwrite: bool = False,
        encoding: str = "utf-8",
        chunk_size: int = 4096,
    ) -> int:
        """Embed a file of one whitespace-tokenized sentence per line (``"-"``: stdin) into
        HDF5, in the layout of AllenNLP's ``elmo`` command: one dataset per line keyed
        ``str(index)`` (or the sentence with ``use_sentence_keys``), and ``sentence_to_index``
        unless ``forget_sentences``. Streams in bounded memory, writes under a temporary name
        and resumes an interrupted run: see :func:`spacy_elmo.corpus.embed_corpus`.

        :param overwrite: Replace ``output_file_path`` if it is already a complete result.
        :param encoding: Encoding of the input (an undecodable line is an error).
        :param chunk_size: Lines per resumable unit of work.
        :returns: Number of sentences written.
        """
        from .corpus import EmbedSettings, embed_corpus

        settings = EmbedSettings(
            output_format=output_format,
            batch_size=batch_size,
            forget_sentences=forget_sentences,
            use_sentence_keys=use_sentence_keys,
            chunk_size=chunk_size,
            encoding=encoding,
            overwrite=overwrite,
            progress=progress,
        )
        return embed_corpus(input_file, output_file_path, load=lambda: self, settings=settings)

    # --- internals -----------------------------------------------------------------------
    def _checked_state(self, state: LSTMState) -> LSTMState:
        """``state`` copied to float32 on the model's device, if its shapes fit the biLM."""
        h, c = (torch.as_tensor(t) for t in state)
        one = self.bilm.zero_state(1)
        rows = h.shape[2] if h.dim() == 4 else 0
        fits = [(*s[:2], rows, *s[3:]) for s in (tuple(one.h.shape), tuple(one.c.shape))]
        if rows == 0 or [tuple(h.shape), tuple(c.shape)] != fits:
            expected = (
                f"h of shape (L, 2, n_rows, P) = {fits[0]} and c (L, 2, n_rows, D) = {fits[1]}"
            )
            raise ElmoInputError(
                Errors.E110.format(
                    name="carried_state",
                    value=f"h {tuple(h.shape)}, c {tuple(c.shape)}",
                    expected=expected + " for this biLM (a state saved from an embedder of it)",
                )
            )
        return LSTMState(*(t.to(self.device, torch.float32, copy=True) for t in (h, c)))

    def _initial_state(self, batch_size: int) -> Optional[LSTMState]:
        if self.state == "zero":
            return None
        if self.state == "warm":
            return broadcast_state(self._fresh_warm_state(), batch_size)
        return self._stateful.take(self.bilm, batch_size)

    def _token_vectors(self, batch: Sequence[Sequence[str]], T: int) -> Tensor:
        """Char-CNN vectors of every token, each word type computed once.

        :returns: *Shape:* ``(batch_size, T, P)``, zero at padding.
        """
        types: "OrderedDict[str, int]" = OrderedDict()
        ids = torch.zeros(len(batch), T, dtype=torch.long)  # 0 = padding, type k -> k + 1
        for b, sentence in enumerate(batch):
            row = [types.setdefault(tok, len(types)) + 1 for tok in sentence]
            if row:
                ids[b, : len(row)] = torch.tensor(row)
        words = list(types)
        vectors = self._type_vectors(words)  # (U, P)
        P = self.config.lstm.projection_dim
        table = torch.cat([vectors.new_zeros(1, P), vectors])
        return table[ids.to(self.device)]

    def _type_vectors(self, words: List[str]) -> Tensor:
        """Char-CNN vectors of distinct words, through the bounded LRU cache. *(U, P)*"""
        if self.cache_size < len(words) or (torch.is_grad_enabled() and self._char_cnn_trains):
            return self._run_char_cnn(words)  # cached rows would carry no gradient
        # Under the lock: another thread could otherwise read a row that is reserved but not
        # yet written, evict rows this call is about to read, or claim the same free rows.
        # The result is a copy (index_select), so it stays valid once the lock is released.
        with self._lock:
            return self._cached_type_vectors(words)

    def _cached_type_vectors(self, words: List[str]) -> Tensor:
        index = self._cache_index
        for w in words:
            if w in index:
                index.move_to_end(w)
        missing = [w for w in words if w not in index]
        if missing:
            vectors = self._run_char_cnn(missing)
            free = self.cache_size - len(index)
            rows: List[int] = list(range(len(index), len(index) + min(free, len(missing))))
            while len(rows) < len(missing):  # evict least recently used
                rows.append(index.popitem(last=False)[1])
            for w, r in zip(missing, rows):
                index[w] = r
            table = self._reserve_cache_rows(max(rows) + 1)
            table[torch.tensor(rows, dtype=torch.long, device=self.device)] = vectors
        rows_t = torch.tensor([index[w] for w in words], dtype=torch.long, device=self.device)
        assert self._cache_rows is not None  # reserved when the first words were cached
        return self._cache_rows.index_select(0, rows_t)

    @property
    def _char_cnn_trains(self) -> bool:
        """Whether a parameter below the LSTMs (char CNN, word embedding) requires grad."""
        below = [self.bilm.char_cnn] + [m for m in (self.bilm.word_embedding,) if m is not None]
        return any(p.requires_grad for m in below for p in m.parameters())

    def _reserve_cache_rows(self, n_rows: int) -> Tensor:
        """The cache table, made to hold at least ``n_rows`` rows. It grows by doubling,
        capped at ``cache_size``, so memory follows the word types actually seen: a large
        ``cache_size`` costs nothing up front. *Shape:* ``(rows, P)``"""
        have = 0 if self._cache_rows is None else self._cache_rows.shape[0]
        if self._cache_rows is not None and n_rows <= have:
            return self._cache_rows
        size = min(self.cache_size, max(n_rows, 2 * have, MIN_CACHE_ROWS))
        P = self.config.lstm.projection_dim
        rows = torch.zeros(size, P, device=self.device)  # (size, P)
        if self._cache_rows is not None:
            rows[:have] = self._cache_rows
        self._cache_rows = rows
        return rows

    def _run_char_cnn(self, words: List[str], chunk: int = 512) -> Tensor:
        P = self.config.lstm.projection_dim
        if not words:
            return torch.zeros(0, P, device=self.device)
        parts = [
            self.bilm.embed_words(words[i : i + chunk])  # UTF-8 bytes or the model's dictionaries
            for i in range(0, len(words), chunk)
        ]
        return torch.cat(parts)


def _device_of(bilm: ELMoBiLM) -> torch.device:
    return bilm.char_cnn.proj_weight.device


def _check_precision(bilm: ELMoBiLM, precision: str) -> None:
    """Coded errors where ``bilm`` cannot run ``precision`` (a lean biLM of another
    precision: E121; int8 off the CPU: E122), warnings where it would be slow (W004, W005)."""
    lean = bilm.lstm.lean_dtype
    if lean is not None and lean != precision_dtype(precision):
        raise ElmoInputError(Errors.E121.format(lean=str(lean).split(".")[-1], asked=precision))
    on_cpu = _device_of(bilm).type == "cpu"
    if precision == "int8":
        from .pytorch.quantize import int8_problem

        problem = int8_problem(_device_of(bilm))
        if problem is not None:
            raise ElmoInputError(Errors.E122.format(problem=problem))
        if cpu_has_vnni() is False:
            warnings.warn(Warnings.W005)
    if precision == "bfloat16" and on_cpu and cpu_has_bf16_gemm() is False:
        warnings.warn(Warnings.W004)


def _checked_settings(
    *, state: str, device: Union[None, str, torch.device], cache_size: int, precision: str
) -> Optional[torch.device]:
    """Every setting checked before anything is loaded (or downloaded): types (E110, E114),
    values by their owner ``RuntimeSettings`` (E104, E114, E209), and the device by
    ``resolve_device`` (E109 where this machine lacks it). The torch device (None without
    one: ``from_bilm``'s biLM is already placed)."""
    _check_argument_types(device=device, precision=precision, cache_size=cache_size)
    name = None if device is None else str(device)
    RuntimeSettings(
        state=state,
        precision=precision,
        device=RUNTIME_DEFAULTS.device if name is None else name,
        word_cache_size=cache_size,
    )
    if device is None:
        return None
    return require_device(device)


def _check_argument_types(*, precision: object, cache_size: object, device: object = None) -> None:
    """A coded error for an argument of the wrong type, before anything is loaded (a list
    given as precision would otherwise fail as an unhashable dict key)."""
    if device is not None and not isinstance(device, (str, torch.device)):
        invalid("device", device, "a device name such as 'cpu' or 'cuda:0', or a torch.device")
    if not isinstance(precision, str):
        raise ElmoInputError(Errors.E114.format(value=precision))
    check_int("cache_size", cache_size, low=0)


def _check_cache_size(cache_size: int, bilm: ELMoBiLM) -> None:
    """E110 for a cache_size that is not a count, E115 for one that could never fit in the
    memory of the biLM's device (its rows are float32 char-CNN vectors of width P)."""
    check_int("cache_size", cache_size, low=0)
    P = bilm.config.lstm.projection_dim
    device = _device_of(bilm)
    check_fits(
        "cache_size",
        cache_size,
        item_bytes=4 * P,
        what=f"{P} float32 char-CNN values per cached word type",
        device=device,
        memory=device_memory(device),
        advice=" word types (default 50,000; 0 turns the cache off)",
    )
