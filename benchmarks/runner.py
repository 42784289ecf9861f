"""Run the benchmark: this package vs. AllenNLP, each in its own process, interleaved.

Every implementation runs in a worker process (``worker_ours.py`` with this Python,
``worker_allennlp.py`` with the reference Python). A worker loads the model, runs a warm-up
batch and answers ``{"event": "ready"}``; then the parent sends one JSON command per line
(``{"cmd": "run", "state": ...}``, ``{"cmd": "parity", "n": ..., "path": ...}``,
``{"cmd": "quit"}``) and reads one JSON reply per line. Only one worker computes at a time,
and the timed passes alternate between implementations, so neighbour load on the machine
hits all of them alike. Each worker reports its own peak RSS (``VmHWM``; ``ru_maxrss`` from
``os.wait4`` where /proc has none), so it covers loading, warm-up and every pass of that
implementation alone.
"""

import json
import os
import platform
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from spacy_elmo.errors import ElmoInputError, Errors
from spacy_elmo.pytorch.config import ELMoConfig
from spacy_elmo.pytorch.config import preset as get_preset
from spacy_elmo.runtime_settings import RUNTIME_DEFAULTS

from .sentences import DEFAULT_SEED, make_sentences, sentence_stats
from .weights import DEFAULT_WEIGHT_SEED, make_weights, preset_name

#: Sentences per batch in the benchmark: AllenNLP's ElmoEmbedder batch, so both sides run
#: the batches of the reference. A benchmark parameter, not the runtime's batch_size.
BENCH_BATCH_SIZE = 32

PathLike = Union[str, Path]
REFERENCE_ENV = "SPACY_ELMO_REFERENCE_PYTHON"
HERE = Path(__file__).parent
# Where tools/setup-reference-venv.sh puts AllenNLP when given no folder.
DEFAULT_REFERENCE_VENV = Path.home() / ".cache" / "elmo-reference-venv"

if TYPE_CHECKING:
    from resource import struct_rusage


def default_reference_python() -> Path:
    """``$SPACY_ELMO_REFERENCE_PYTHON``, else ``~/.cache/elmo-reference-venv/bin/python``,
    where ``tools/setup-reference-venv.sh`` makes the reference venv by default."""
    if os.environ.get(REFERENCE_ENV):
        return Path(os.environ[REFERENCE_ENV])
    return DEFAULT_REFERENCE_VENV / "bin" / "python"


def checkout_env(env: Dict[str, str]) -> Dict[str, str]:
    """``env`` with the checkout holding ``benchmarks`` first on ``PYTHONPATH``, so a child
    ``python -m benchmarks...`` finds it from any working directory."""
    paths = [str(HERE.parent)] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    return {**env, "PYTHONPATH": os.pathsep.join(paths)}


class Worker:
    """One implementation in its own process, driven line by line."""

    def __init__(self, name: str, argv: List[str], args: dict, log_path: Path, threads: int):
        self.name = name
        env = dict(os.environ)
        for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
            env[var] = str(threads)
        env.setdefault("PYTHONWARNINGS", "ignore")
        if argv[1:3] == ["-m", "benchmarks.worker_ours"]:
            env = checkout_env(env)
        self.log_path = log_path
        self._log = open(log_path, "w")
        self.proc = subprocess.Popen(
            argv + [json.dumps(args)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
            env=env,
        )
        self.ready = self._read()
        self.rusage: Optional["struct_rusage"] = None

    def _read(self) -> dict:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            self.proc.wait()
            self._log.close()
            tail = self.log_path.read_text(errors="replace").strip().splitlines()[-15:]
            raise RuntimeError(
                f"{self.name} worker exited with code {self.proc.returncode}; last lines of "
                f"{self.log_path}:\n" + "\n".join(tail)
            )
        return json.loads(line)

    def ask(self, **cmd) -> dict:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(cmd) + "\n")
        self.proc.stdin.flush()
        return self._read()

    def close(self) -> float:
        """Stop the worker; returns its peak RSS in MB."""
        own: Optional[float] = None
        if self.proc.poll() is None:
            try:
                own = self.ask(cmd="quit").get("peak_rss_mb")
            except (RuntimeError, BrokenPipeError):
                pass
        _, status, rusage = os.wait4(self.proc.pid, 0)
        self.proc.returncode = os.waitstatus_to_exitcode(status)
        self._log.close()
        self.rusage = rusage
        # The worker's own VmHWM where it could say; ru_maxrss includes the runner's peak
        # (see worker_common.own_peak_rss_mb).
        return own if own is not None else rusage.ru_maxrss / 1024.0  # KiB on Linux


@dataclass(frozen=True, kw_only=True)
class BenchSettings:
    """Everything :func:`run_benchmark` is asked for.

    preset: Architecture of the random weights: ``small``, ``medium``, ``original``, or a
        config object.
    n_sentences: Size of the fixed sentence set (default: 20 batches of 32).
    batch_size: Sentences per batch, in file order for every implementation.
    threads: ``torch.set_num_threads`` in every worker.
    repeats: Timed passes over the sentence set per implementation (median reported).
    device: Device for this package: ``auto`` (the runtime default: a CUDA GPU if torch sees
        one, else the CPU), ``cpu``, ``cuda``, ``cuda:N`` (AllenNLP always runs on CPU).
    states: Initial-state modes of this package to time (``zero``, ``warm``).
    precisions: Precisions of this package to time (``float32``, ``bfloat16``, ``int8``):
        one row per state and precision.
    reference_python: Python with AllenNLP 2.10.1 (default: :func:`default_reference_python`).
    use_reference: False skips AllenNLP.
    cache_dir: Folder for weights, sentences, worker logs and parity arrays.
    parity_sentences: Sentences compared between the implementations (0: none).
    interleave: ``"batch"``: run batch k of every implementation before batch k + 1 (the
        order flips every batch), so a noisy neighbour hits all implementations alike;
        ``"pass"``: alternate whole passes over the sentence set.
    paths: Also time the user paths of every variant (:mod:`benchmarks.paths`): the
        embedder alone, ``nlp.pipe`` (and its glue around the biLM), ``embed``.
    rss_per_variant: With several variants, also run each alone in a fresh worker for one
        pass, for its own peak RSS.
    """

    preset: Union[str, ELMoConfig] = "original"
    n_sentences: int = 640
    batch_size: int = BENCH_BATCH_SIZE
    threads: int = 2
    repeats: int = 3
    device: str = RUNTIME_DEFAULTS.device
    states: Sequence[str] = ("zero",)
    precisions: Sequence[str] = ("float32",)
    reference_python: Optional[PathLike] = None
    use_reference: bool = True
    cache_dir: PathLike = "bench-out"
    parity_sentences: int = 4
    interleave: str = "batch"
    paths: bool = True
    rss_per_variant: bool = True
    sentence_seed: int = DEFAULT_SEED
    weight_seed: int = DEFAULT_WEIGHT_SEED


@dataclass
class BenchRun:
    """The state of one benchmark run, filled in step by step by :func:`run_benchmark`."""

    settings: BenchSettings
    cache: Path
    config: ELMoConfig
    sentences: List[List[str]]
    stats: dict
    # Worker arguments shared by every implementation (files, batching, threads).
    common: dict = field(default_factory=dict)
    workers: Dict[str, Worker] = field(default_factory=dict)
    notes: List[str] = field(default_factory=list)
    # (worker name, spacy-elmo variant or None for AllenNLP), in timing order.
    runs: List[Tuple[str, Optional[str]]] = field(default_factory=list)
    # Seconds per pass, and per pass per batch (interleave="batch"), by label.
    times: Dict[str, List[float]] = field(default_factory=dict)
    batch_times: Dict[str, List[List[float]]] = field(default_factory=dict)
    rss_mb: Dict[str, float] = field(default_factory=dict)

    @property
    def n_batches(self) -> int:
        return (self.settings.n_sentences + self.settings.batch_size - 1) // (
            self.settings.batch_size
        )


def run_benchmark(
    settings: Optional[BenchSettings] = None,
    *,
    log: Callable[[str], None] = lambda msg: print(msg, file=sys.stderr, flush=True),
    **fields: Any,
) -> dict:
    """Benchmark this package (one row per state and precision) against AllenNLP.

    :param settings: What to run; or leave it out and pass :class:`BenchSettings`' fields
        as keywords (``run_benchmark(preset="small", repeats=1)``).
    :param log: Where progress lines go.
    :returns: A JSON-serialisable dict (see ``docs/benchmarks.md``).
    """
    if settings is None:
        settings = BenchSettings(**fields)
    elif fields:
        raise TypeError(f"pass settings or their fields, not both: {sorted(fields)}")
    settings = check_settings(settings)
    run = _prepare_inputs(settings, log)
    result = _result_header(run)
    variants = [variant(s, p) for p in settings.precisions for s in settings.states]
    try:
        _start_workers(run, variants, log)
        if settings.parity_sentences and "allennlp" in run.workers:
            result["parity"] = _parity(
                run.workers,
                run.cache,
                settings.parity_sentences,
                run.sentences,
                settings.precisions,
            )
            log(f"parity: max |ours - AllenNLP| = {result['parity']['max_abs_diff']:.3g}")
        _timed_passes(run, log)
        if settings.paths:
            result["paths"] = _time_paths(run, variants, log)
        result["gemm_peak"] = _gemm_peaks(run, variants)
        result["accuracy"] = _accuracy(run, variants)
        if settings.rss_per_variant and len(variants) > 1:
            result["rss_per_variant"] = _rss_per_variant(run, variants, log)
        if "allennlp" in run.workers and settings.batch_size != ALLENNLP_DEFAULT_BATCH:
            result["allennlp_default_batch"] = _allennlp_default_batch(run, log)
    finally:
        run.rss_mb = {name: w.close() for name, w in run.workers.items()}
    result["implementations"] = _implementation_rows(run)
    _add_peak_shares(result["implementations"], result.get("gemm_peak", {}))
    _add_ratios(result["implementations"], run.batch_times)
    return result


def check_settings(settings: BenchSettings) -> BenchSettings:
    """Reject bad settings before anything is written or started (coded errors); the
    settings with ``device`` resolved ("auto" as resolved here: the workers and the results
    see it)."""
    if settings.interleave not in ("batch", "pass"):
        raise ElmoInputError(Errors.E601.format(value=settings.interleave))
    from spacy_elmo.pytorch.device import resolve_device  # torch only when a benchmark runs

    # ``device`` must name a device this machine has: cpu, or cuda[:N] with CUDA.
    dev, problem = resolve_device(settings.device, types=("cpu", "cuda"))
    if dev is None or problem is not None:
        raise ElmoInputError(Errors.E602.format(device=settings.device, error=problem))
    return replace(settings, device=str(dev))


def _prepare_inputs(settings: BenchSettings, log: Callable[[str], None]) -> BenchRun:
    """Step 1: the sentence set and the random full-size weights, cached in ``cache_dir``."""
    cache = Path(settings.cache_dir)
    cache.mkdir(parents=True, exist_ok=True)
    preset = settings.preset
    config = get_preset(preset) if isinstance(preset, str) else preset
    sentences = make_sentences(settings.n_sentences, seed=settings.sentence_seed)
    sent_path = cache / f"sentences-{settings.n_sentences}-seed{settings.sentence_seed}.json"
    sent_path.write_text(json.dumps(sentences), encoding="utf8")
    t0 = time.perf_counter()
    options, weights = make_weights(preset, cache / "weights", seed=settings.weight_seed)
    log(
        f"weights: {weights} ({config.n_parameters() / 1e6:.1f}M parameters, "
        f"{time.perf_counter() - t0:.1f}s)"
    )
    run = BenchRun(settings, cache, config, sentences, sentence_stats(sentences))
    run.common = dict(
        options=str(options.resolve()),
        weights=str(weights.resolve()),
        sentences=str(sent_path.resolve()),
        batch_size=settings.batch_size,
        threads=settings.threads,
        parity_n=settings.parity_sentences,
    )
    return run


def _result_header(run: BenchRun) -> dict:
    """Step 2: the settings, sentence statistics and machine of the result."""
    s = run.settings
    return {
        "settings": dict(
            preset=preset_name(s.preset),
            n_parameters=run.config.n_parameters(),
            flops_per_token=run.config.flops_per_token(),
            n_sentences=s.n_sentences,
            batch_size=s.batch_size,
            threads=s.threads,
            repeats=s.repeats,
            device=s.device,
            states=list(s.states),
            precisions=list(s.precisions),
            interleave=s.interleave,
        ),
        "sentences": run.stats,
        "machine": dict(
            platform=platform.platform(),
            processor=platform.processor() or platform.machine(),
            cpu_count=os.cpu_count(),
            python=platform.python_version(),
        ),
        "implementations": {},
        "notes": run.notes,
    }


def _reference_python(s: BenchSettings) -> Path:
    return Path(s.reference_python) if s.reference_python else default_reference_python()


def _ours_worker(run: BenchRun, name: str, variants: List[str]) -> Worker:
    """A spacy-elmo worker for ``variants``, logging to ``worker-NAME.log`` (``+`` as ``-``)."""
    args = dict(run.common, variants=variants, device=run.settings.device)
    command = [sys.executable, "-m", "benchmarks.worker_ours"]
    log_file = run.cache / f"worker-{name.replace('+', '-')}.log"
    return Worker(name, command, args, log_file, run.settings.threads)


def _allennlp_worker(run: BenchRun, name: str, ref: Path, **args: Any) -> Worker:
    """An AllenNLP worker on the reference Python ``ref``, ``args`` over the common ones."""
    command = [str(ref), str(HERE / "worker_allennlp.py")]
    log_file = run.cache / f"worker-{name}.log"
    return Worker(name, command, dict(run.common, **args), log_file, run.settings.threads)


def _start_workers(run: BenchRun, variants: List[str], log: Callable[[str], None]) -> None:
    """Step 3: our worker (every variant, e.g. ``zero``, ``zero+bfloat16``) and, when its
    Python exists, AllenNLP's. Fills ``run.workers`` and ``run.runs``."""
    s = run.settings
    log("starting spacy-elmo worker")
    run.workers["spacy-elmo"] = _ours_worker(run, "spacy-elmo", variants)
    ref = _reference_python(s)
    if s.use_reference and ref.is_file():
        log(f"starting AllenNLP worker ({ref})")
        try:
            run.workers["allennlp"] = _allennlp_worker(run, "allennlp", ref)
        except RuntimeError as e:
            run.notes.append(f"AllenNLP skipped: {e}")
            log(run.notes[-1])
    elif s.use_reference:
        run.notes.append(
            f"AllenNLP skipped: no reference Python at {ref} (run "
            f"tools/setup-reference-venv.sh or set --reference-python / ${REFERENCE_ENV})"
        )
        log(run.notes[-1])
    run.runs = [("spacy-elmo", v) for v in variants]
    if "allennlp" in run.workers:
        run.runs.append(("allennlp", None))


def _timed_passes(run: BenchRun, log: Callable[[str], None]) -> None:
    """Step 4: ``repeats`` passes over the sentences per implementation, interleaved (the
    order flips every pass), into ``run.times`` and ``run.batch_times``."""
    run.times = {_label(n, v): [] for n, v in run.runs}
    run.batch_times = {_label(n, v): [] for n, v in run.runs}
    for r in range(run.settings.repeats):
        order = run.runs if r % 2 == 0 else run.runs[::-1]
        if run.settings.interleave == "pass":
            _pass_by_pass(run, order)
        else:
            _pass_by_batch(run, order)
        log(
            f"pass {r + 1}/{run.settings.repeats}: "
            + ", ".join(f"{label} {secs[-1]:.1f}s" for label, secs in run.times.items())
        )


def _pass_by_pass(run: BenchRun, order: List[Tuple[str, Optional[str]]]) -> None:
    """One whole pass of every implementation in turn."""
    for name, kind in order:
        reply = run.workers[name].ask(cmd="run", variant=kind)
        run.times[_label(name, kind)].append(reply["seconds"])


def _pass_by_batch(run: BenchRun, order: List[Tuple[str, Optional[str]]]) -> None:
    """Batch k of every implementation, then batch k + 1 (the order flips every batch), so
    that neighbour load hits all implementations alike."""
    for name, kind in order:
        run.workers[name].ask(cmd="reset", variant=kind)  # a pass starts cold
    per_batch: Dict[str, List[float]] = {_label(n, v): [] for n, v in run.runs}
    for k in range(run.n_batches):
        for name, kind in order if k % 2 == 0 else order[::-1]:
            reply = run.workers[name].ask(cmd="batch", variant=kind, k=k)
            per_batch[_label(name, kind)].append(reply["seconds"])
    for label, secs in per_batch.items():
        run.times[label].append(sum(secs))
        run.batch_times[label].append(secs)


def _time_paths(run: BenchRun, variants: List[str], log: Callable[[str], None]) -> dict:
    """Step 4b: tokens/s of each user path per variant, and the spaCy path's glue: the share
    of ``nlp.pipe``'s time spent outside the biLM calls."""
    n_tok = run.stats["n_tokens"]
    out = {}
    for v in variants:
        secs = run.workers["spacy-elmo"].ask(cmd="paths", variant=v)
        row = {f"{k}_tokens_per_s": n_tok / secs[k] for k in ("embedder", "pipe", "embed")}
        row["pipe_glue_share"] = 1.0 - secs["pipe_bilm"] / secs["pipe"]
        row["pipe_vs_embedder"] = secs["pipe"] / secs["embedder"] - 1.0
        row["pipe_bilm_calls"] = secs["pipe_bilm_calls"]
        row["seconds"] = {k: secs[k] for k in ("embedder", "pipe", "pipe_bilm", "embed")}
        out[v] = row
        log(
            f"paths {v}: embedder {row['embedder_tokens_per_s']:.0f}, nlp.pipe "
            f"{row['pipe_tokens_per_s']:.0f} (glue {row['pipe_glue_share']:.1%}), embed "
            f"{row['embed_tokens_per_s']:.0f} tokens/s"
        )
    return out


# AllenNLP's own default batch (its ElmoEmbedder and `allennlp elmo`), timed beside the
# benchmark's batch so neither side is judged at a batch it would not choose.
ALLENNLP_DEFAULT_BATCH = 64


def _allennlp_default_batch(run: BenchRun, log: Callable[[str], None]) -> dict:
    """Step 4e: AllenNLP again, in a fresh process (its own peak RSS), at its default batch
    of 64: ``repeats`` whole passes, median tokens/s."""
    s = run.settings
    worker = _allennlp_worker(
        run, "allennlp-b64", _reference_python(s), batch_size=ALLENNLP_DEFAULT_BATCH, parity_n=0
    )
    try:
        secs = [worker.ask(cmd="run")["seconds"] for _ in range(s.repeats)]
    finally:
        rss = worker.close()
    n_tok = run.stats["n_tokens"]
    row = dict(
        batch_size=ALLENNLP_DEFAULT_BATCH,
        seconds=secs,
        tokens_per_s=n_tok / statistics.median(secs),
        peak_rss_mb=rss,
    )
    log(f"allennlp at batch {ALLENNLP_DEFAULT_BATCH}: {row['tokens_per_s']:.1f} tokens/s")
    return row


def _rss_per_variant(run: BenchRun, variants: List[str], log: Callable[[str], None]) -> dict:
    """Step 4f: each variant alone in a fresh worker (a lone reduced precision loads lean),
    one pass: its own peak RSS, which the shared worker's cannot tell apart."""
    out = {}
    for v in variants:
        worker = _ours_worker(run, f"spacy-elmo-{v}", [v])
        try:
            seconds = worker.ask(cmd="run", variant=v)["seconds"]
        finally:
            rss = worker.close()
        out[v] = dict(peak_rss_mb=rss, seconds=seconds, load_seconds=worker.ready["load_seconds"])
        log(f"{v} alone: peak RSS {rss:.0f} MB")
    return out


# Sentences compared with float32 for each reduced precision.
ACCURACY_SENTENCES = 64


def _accuracy(run: BenchRun, variants: List[str]) -> Dict[str, dict]:
    """Step 4d: each reduced-precision variant against float32 (same state, same biLM). A
    lone reduced precision loads lean (no float32 weights kept): compared only when float32
    is timed too."""
    if "float32" not in run.settings.precisions:
        return {}
    n = min(ACCURACY_SENTENCES, len(run.sentences))
    worker = run.workers["spacy-elmo"]
    return {
        v: worker.ask(cmd="accuracy", variant=v, n=n)
        for v in variants
        if split_variant(v)[1] != "float32"
    }


def _gemm_peaks(run: BenchRun, variants: List[str]) -> Dict[str, dict]:
    """Step 4c: the GEMM peak of each precision (:mod:`benchmarks.gemm`), in our worker."""
    peaks: Dict[str, dict] = {}
    for v in variants:
        precision = split_variant(v)[1]
        if precision not in peaks:
            peaks[precision] = run.workers["spacy-elmo"].ask(cmd="gemm", variant=v)
    return peaks


def _add_peak_shares(impl: Dict[str, dict], peaks: Dict[str, dict]) -> None:
    """Each spacy-elmo row's GFLOP/s as a share of its precision's GEMM peak."""
    for label, row in impl.items():
        if label.startswith("spacy-elmo[") and peaks:
            precision = split_variant(label[len("spacy-elmo[") : -1])[1]
            row["gemm_peak_gflops"] = peaks[precision]["gflops"]
            row["share_of_gemm_peak"] = row["gflops"] / peaks[precision]["gflops"]


def _implementation_rows(run: BenchRun) -> Dict[str, dict]:
    """Step 5: tokens/s, GFLOP/s, peak RSS and load time of every implementation."""
    n_tok = run.stats["n_tokens"]
    positions = n_tok + 2 * run.stats["n_sentences"]  # <S> and </S> are computed too
    rows: Dict[str, dict] = {}
    for name, kind in run.runs:
        label = _label(name, kind)
        secs = run.times[label]
        med = statistics.median(secs)
        ready = run.workers[name].ready
        rows[label] = dict(
            seconds=secs,
            median_seconds=med,
            tokens_per_s=n_tok / med,
            tokens_per_s_each=[n_tok / s for s in secs],
            gflops=run.config.flops_per_token() * positions / med / 1e9,
            peak_rss_mb=run.rss_mb[name],
            load_seconds=ready["load_seconds"],
            versions={k: v for k, v in ready.items() if k in ("torch", "allennlp")},
            threads=ready["threads"],
            device=ready["device"],
        )
    return rows


def _add_ratios(impl: Dict[str, dict], batch_times: Dict[str, List[List[float]]]) -> None:
    """Step 6: every spacy-elmo row against AllenNLP's, when AllenNLP ran."""
    if "allennlp" not in impl:
        return
    base = impl["allennlp"]
    for label, row in impl.items():
        if label == "allennlp":
            continue
        row["speedup_vs_allennlp"] = row["tokens_per_s"] / base["tokens_per_s"]
        # Per-pass ratios of adjacent (interleaved) passes: robust to drifting load.
        row["speedup_per_pass"] = [b / a for a, b in zip(row["seconds"], base["seconds"])]
        if batch_times[label]:
            # Median over every (pass, batch) of the paired per-batch time ratio.
            row["speedup_median_paired_batch"] = statistics.median(
                b / a
                for ours_pass, ref_pass in zip(batch_times[label], batch_times["allennlp"])
                for a, b in zip(ours_pass, ref_pass)
            )
        row["rss_vs_allennlp"] = row["peak_rss_mb"] / base["peak_rss_mb"]


def variant(state: str, precision: str) -> str:
    """A spacy-elmo worker variant: ``state`` alone in float32, else ``state+precision``."""
    return state if precision == "float32" else f"{state}+{precision}"


def split_variant(name: str) -> Tuple[str, str]:
    """``(state, precision)`` of a variant made by :func:`variant`."""
    state, _, precision = name.partition("+")
    return state, precision or "float32"


def _label(name: str, variant: Optional[str]) -> str:
    return f"{name}[{variant}]" if variant else name


def _parity(
    workers: Dict[str, Worker], cache: Path, n: int, sentences, precisions: Sequence[str]
) -> dict:
    """Max abs differences to AllenNLP on the first ``n`` sentences, zero state: float32
    (``max_abs_diff``) and every other precision (``max_abs_diff_<precision>``)."""
    asks: List[Tuple[str, str, Dict[str, str]]] = [("allennlp", "allennlp", {})] + [
        ("spacy-elmo", f"spacy-elmo-{p}", {"variant": variant("zero", p)}) for p in precisions
    ]
    if "float32" not in precisions:
        asks.append(("spacy-elmo", "spacy-elmo-float32", {"variant": "zero"}))
    arrays = {}
    for worker, key, extra in asks:
        path = cache / f"parity-{key}.npy"
        workers[worker].ask(cmd="parity", n=n, path=str(path), **extra)
        arrays[key] = np.load(path)
    ref = arrays["allennlp"]  # (L+1, B, T, 2P)

    def per_layer(a: np.ndarray) -> List[float]:
        return [
            max(
                float(np.abs(a[layer, i, : len(s)] - ref[layer, i, : len(s)]).max(initial=0.0))
                for i, s in enumerate(sentences[:n])
            )
            for layer in range(a.shape[0])
        ]

    exact = per_layer(arrays["spacy-elmo-float32"])
    out = dict(
        n_sentences=n,
        n_tokens=sum(len(s) for s in sentences[:n]),
        max_abs_diff=max(exact),
        max_abs_diff_per_layer=exact,
        max_abs_value=float(np.abs(ref).max()),
        state="zero",
    )
    for p in precisions:
        if p != "float32":
            out[f"max_abs_diff_{p}"] = max(per_layer(arrays[f"spacy-elmo-{p}"]))
    return out


def _accuracy_lines(accuracy: dict) -> List[str]:
    if not accuracy:
        return []
    lines = ["", "accuracy against float32 (same state):"]
    for v, a in accuracy.items():
        cosines = ", ".join(f"{c:.5f}" for c in a["min_cosine_per_layer"])
        lines.append(
            f"  {v}: median relative error per token {a['median_relative_error']:.2e}, "
            f"min cosine per layer {cosines} ({a['n_tokens']} tokens)"
        )
    return lines


def _gemm_lines(result: dict) -> List[str]:
    peaks = result.get("gemm_peak", {})
    if not peaks:
        return []
    shape = next(iter(peaks.values()))
    lines = [
        "",
        f"GEMM peak at the recurrent product's shape ({shape['rows']} x {shape['k']} x "
        f"{shape['n']}): " + ", ".join(f"{p} {v['gflops']:.1f} GFLOP/s" for p, v in peaks.items()),
    ]
    for label, row in result["implementations"].items():
        if "share_of_gemm_peak" in row:
            lines.append(f"  {label}: {row['share_of_gemm_peak']:.0%} of its precision's peak")
    return lines


def _paths_lines(paths: dict) -> List[str]:
    if not paths:
        return []
    lines = [
        "",
        f"{'user path tokens/s':<22}{'embedder':>10}{'nlp.pipe':>10}{'embed':>10}"
        f"{'pipe glue':>11}{'pipe/embedder':>15}",
    ]
    for v, row in paths.items():
        lines.append(
            f"{v:<22}{row['embedder_tokens_per_s']:>10.1f}{row['pipe_tokens_per_s']:>10.1f}"
            f"{row['embed_tokens_per_s']:>10.1f}{row['pipe_glue_share']:>11.1%}"
            f"{row['pipe_vs_embedder']:>+15.1%}"
        )
    lines.append(
        "(one pass each; nlp.pipe at spaCy batch_size=1; pipe glue: share of nlp.pipe's time "
        "outside the biLM calls; pipe/embedder: nlp.pipe's time over the embedder's alone, "
        "minus 1)"
    )
    return lines


def format_table(result: dict) -> str:
    """The human-readable summary printed by ``python -m spacy_elmo bench``."""
    s, st = result["settings"], result["sentences"]
    width = max([20] + [len(label) + 2 for label in result["implementations"]])
    lines = [
        f"preset {s['preset']} ({s['n_parameters'] / 1e6:.1f}M params, "
        f"{s['flops_per_token'] / 1e6:.1f} MFLOP/token position), {st['n_sentences']} sentences, "
        f"{st['n_tokens']} tokens ({st['n_types']} types, mean length {st['mean_length']:.1f}), "
        f"batch {s['batch_size']}, {s['threads']} threads, median of {s['repeats']} passes",
        "",
        f"{'implementation':<{width}}{'tokens/s':>10}{'vs AllenNLP':>13}{'paired':>8}{'GFLOP/s':>9}"
        f"{'peak RSS MB':>13}{'load s':>8}",
    ]

    def ratio(value: Optional[float], label: str) -> str:
        return f"{value:.2f}x" if value else "1.00x" if label == "allennlp" else "-"

    for label, row in result["implementations"].items():
        lines.append(
            f"{label:<{width}}{row['tokens_per_s']:>10.1f}"
            f"{ratio(row.get('speedup_vs_allennlp'), label):>13}"
            f"{ratio(row.get('speedup_median_paired_batch'), label):>8}"
            f"{row['gflops']:>9.1f}{row['peak_rss_mb']:>13.0f}{row['load_seconds']:>8.1f}"
        )
    lines.append(
        "(tokens/s: median pass; paired: median over batches of the AllenNLP/ours time ratio "
        "of the same batch run back to back; GFLOP/s: model FLOPs of every position incl. "
        "<S>/</S> (docs/format.md §14) / time)"
    )
    if "parity" in result:
        p = result["parity"]
        lines.append("")
        lines.append(
            f"parity (zero state, {p['n_sentences']} sentences, all layers): max |ours - AllenNLP| = "
            f"{p['max_abs_diff']:.3g} (max |value| {p['max_abs_value']:.3g})"
        )
        for key, value in p.items():
            if key.startswith("max_abs_diff_") and key != "max_abs_diff_per_layer":
                lines.append(f"  {key[len('max_abs_diff_'):]}: max |ours - AllenNLP| = {value:.3g}")
    if "allennlp_default_batch" in result:
        a = result["allennlp_default_batch"]
        lines.append(
            f"allennlp at its default batch {a['batch_size']}: {a['tokens_per_s']:.1f} tokens/s, "
            f"peak RSS {a['peak_rss_mb']:.0f} MB (own process)"
        )
    for v, r in result.get("rss_per_variant", {}).items():
        lines.append(f"spacy-elmo[{v}] alone in its process: peak RSS {r['peak_rss_mb']:.0f} MB")
    lines += _gemm_lines(result)
    lines += _accuracy_lines(result.get("accuracy", {}))
    lines += _paths_lines(result.get("paths", {}))
    for note in result["notes"]:
        lines.append(note)
    return "\n".join(lines)
