"""Run the benchmark: this package vs. AllenNLP, each in its own process, interleaved.

Every implementation runs in a worker process (``worker_ours.py`` with this Python,
``worker_allennlp.py`` with the reference Python). A worker loads the model, runs a warm-up
batch and answers ``{"event": "ready"}``; then the parent sends one JSON command per line
(``{"cmd": "run", "state": ...}``, ``{"cmd": "parity", "n": ..., "path": ...}``,
``{"cmd": "quit"}``) and reads one JSON reply per line. Only one worker computes at a time,
and the timed passes alternate between implementations, so neighbour load on the machine
hits all of them alike. Each worker's peak RSS comes from ``os.wait4`` on that process
(``ru_maxrss``), so it covers loading, warm-up and every pass of that implementation alone.
"""

import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from ..pytorch.config import ELMoConfig
from ..pytorch.config import preset as get_preset
from .sentences import DEFAULT_SEED, make_sentences, sentence_stats
from .weights import DEFAULT_WEIGHT_SEED, make_weights, preset_name

PathLike = Union[str, Path]
REFERENCE_ENV = "SPACY_ELMO_REFERENCE_PYTHON"
HERE = Path(__file__).parent

if TYPE_CHECKING:
    from resource import struct_rusage


def default_reference_python() -> Path:
    """``$SPACY_ELMO_REFERENCE_PYTHON``, else the first that exists of
    ``~/.cache/elmo-reference-venv/bin/python`` (where ``shared/tools/setup-reference-venv.sh``
    puts it by default) and ``../refvenv/bin/python`` next to the checkout (the old default)."""
    if os.environ.get(REFERENCE_ENV):
        return Path(os.environ[REFERENCE_ENV])
    candidates = [
        Path.home() / ".cache" / "elmo-reference-venv" / "bin" / "python",
        HERE.parents[2] / "refvenv" / "bin" / "python",
    ]
    return next((p for p in candidates if p.is_file()), candidates[0])


class Worker:
    """One implementation in its own process, driven line by line."""

    def __init__(self, name: str, argv: List[str], args: dict, log_path: Path, threads: int):
        self.name = name
        env = dict(os.environ)
        for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
            env[var] = str(threads)
        env.setdefault("PYTHONWARNINGS", "ignore")
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
        if self.proc.poll() is None:
            try:
                self.ask(cmd="quit")
            except (RuntimeError, BrokenPipeError):
                pass
        _, status, rusage = os.wait4(self.proc.pid, 0)
        self.proc.returncode = os.waitstatus_to_exitcode(status)
        self._log.close()
        self.rusage = rusage
        return rusage.ru_maxrss / 1024.0  # KiB on Linux


def run_benchmark(
    *,
    preset: Union[str, ELMoConfig] = "original",
    n_sentences: int = 640,
    batch_size: int = 32,
    threads: int = 2,
    repeats: int = 3,
    device: str = "cpu",
    states: Sequence[str] = ("zero",),
    precisions: Sequence[str] = ("float32",),
    reference_python: Optional[PathLike] = None,
    use_reference: bool = True,
    cache_dir: PathLike = "bench-out",
    parity_sentences: int = 4,
    interleave: str = "batch",
    sentence_seed: int = DEFAULT_SEED,
    weight_seed: int = DEFAULT_WEIGHT_SEED,
    log: Callable[[str], None] = lambda msg: print(msg, file=sys.stderr, flush=True),
) -> dict:
    """Benchmark this package (one row per state and precision) against AllenNLP.

    :param preset: Architecture of the random weights: ``small``, ``medium``, ``original``,
        or a config object.
    :param n_sentences: Size of the fixed sentence set (default: 20 batches of 32).
    :param batch_size: Sentences per batch, in file order for every implementation.
    :param threads: ``torch.set_num_threads`` in every worker.
    :param repeats: Timed passes over the sentence set per implementation (median reported).
    :param device: Device for this package (AllenNLP always runs on CPU).
    :param states: Initial-state modes of this package to time (``zero``, ``warm``).
    :param precisions: Precisions of this package to time (``float32``, ``bfloat16``): one
        row per state and precision.
    :param reference_python: Python with AllenNLP 2.10.1 (default: :func:`default_reference_python`).
    :param use_reference: Set to False to skip AllenNLP.
    :param cache_dir: Folder for weights, sentences, worker logs and parity arrays.
    :param parity_sentences: Sentences compared between the implementations (0: none).
    :param interleave: ``"batch"``: run batch k of every implementation before batch k + 1
        (the order flips every batch), so a noisy neighbour hits all implementations alike;
        ``"pass"``: alternate whole passes over the sentence set.
    :returns: A JSON-serialisable dict (see ``docs/benchmarks.md``).
    """
    if interleave not in ("batch", "pass"):
        raise ValueError(f"interleave must be 'batch' or 'pass', got {interleave!r}")
    cache = Path(cache_dir)
    cache.mkdir(parents=True, exist_ok=True)
    config = get_preset(preset) if isinstance(preset, str) else preset
    sentences = make_sentences(n_sentences, seed=sentence_seed)
    stats = sentence_stats(sentences)
    sent_path = cache / f"sentences-{n_sentences}-seed{sentence_seed}.json"
    sent_path.write_text(json.dumps(sentences), encoding="utf8")
    t0 = time.perf_counter()
    options, weights = make_weights(preset, cache / "weights", seed=weight_seed)
    log(
        f"weights: {weights} ({config.n_parameters() / 1e6:.1f}M parameters, {time.perf_counter() - t0:.1f}s)"
    )
    common = dict(
        options=str(options.resolve()),
        weights=str(weights.resolve()),
        sentences=str(sent_path.resolve()),
        batch_size=batch_size,
        threads=threads,
        parity_n=parity_sentences,
    )
    workers: Dict[str, Worker] = {}
    notes: List[str] = []
    result: dict = {
        "settings": dict(
            preset=preset_name(preset),
            n_parameters=config.n_parameters(),
            flops_per_token=config.flops_per_token(),
            n_sentences=n_sentences,
            batch_size=batch_size,
            threads=threads,
            repeats=repeats,
            device=device,
            states=list(states),
            precisions=list(precisions),
            interleave=interleave,
        ),
        "sentences": stats,
        "machine": dict(
            platform=platform.platform(),
            processor=platform.processor() or platform.machine(),
            cpu_count=os.cpu_count(),
            python=platform.python_version(),
        ),
        "implementations": {},
        "notes": notes,
    }
    # One spacy-elmo variant per state and precision: "zero", "zero+bfloat16", ...
    variants = [variant(s, p) for p in precisions for s in states]
    try:
        log("starting spacy-elmo worker")
        ours = Worker(
            "spacy-elmo",
            [sys.executable, "-m", "spacy_elmo.bench.worker_ours"],
            dict(common, variants=variants, device=device),
            cache / "worker-spacy-elmo.log",
            threads,
        )
        workers["spacy-elmo"] = ours
        ref = Path(reference_python) if reference_python else default_reference_python()
        if use_reference and ref.is_file():
            log(f"starting AllenNLP worker ({ref})")
            try:
                workers["allennlp"] = Worker(
                    "allennlp",
                    [str(ref), str(HERE / "worker_allennlp.py")],
                    common,
                    cache / "worker-allennlp.log",
                    threads,
                )
            except RuntimeError as e:
                notes.append(f"AllenNLP skipped: {e}")
                log(notes[-1])
        elif use_reference:
            notes.append(
                f"AllenNLP skipped: no reference Python at {ref} (run "
                f"shared/tools/setup-reference-venv.sh or set --reference-python / ${REFERENCE_ENV})"
            )
            log(notes[-1])
        # Parity on the first sentences, zero state, before anything is timed.
        if parity_sentences and "allennlp" in workers:
            result["parity"] = _parity(workers, cache, parity_sentences, sentences, precisions)
            log(f"parity: max |ours - AllenNLP| = {result['parity']['max_abs_diff']:.3g}")
        # Timed passes, interleaved: ours[variant...], allennlp; then again.
        runs = [("spacy-elmo", v) for v in variants] + [("allennlp", None)] * (
            "allennlp" in workers
        )
        times: Dict[str, List[float]] = {_label(n, s): [] for n, s in runs}
        batch_times: Dict[str, List[List[float]]] = {_label(n, s): [] for n, s in runs}
        n_batches = (n_sentences + batch_size - 1) // batch_size
        for r in range(repeats):
            order = runs if r % 2 == 0 else runs[::-1]
            if interleave == "pass":
                for name, kind in order:
                    reply = workers[name].ask(cmd="run", variant=kind)
                    times[_label(name, kind)].append(reply["seconds"])
            else:  # batch k of every implementation, then batch k + 1: same load for all
                for name, kind in order:
                    workers[name].ask(cmd="reset", variant=kind)
                per_batch: Dict[str, List[float]] = {_label(n, s): [] for n, s in runs}
                for k in range(n_batches):
                    for name, kind in order if k % 2 == 0 else order[::-1]:
                        reply = workers[name].ask(cmd="batch", variant=kind, k=k)
                        per_batch[_label(name, kind)].append(reply["seconds"])
                for label, secs in per_batch.items():
                    times[label].append(sum(secs))
                    batch_times[label].append(secs)
            log(
                f"pass {r + 1}/{repeats}: "
                + ", ".join(f"{label} {secs[-1]:.1f}s" for label, secs in times.items())
            )
    finally:
        rss = {name: w.close() for name, w in workers.items()}
    n_tok = stats["n_tokens"]
    positions = n_tok + 2 * stats["n_sentences"]
    for name, kind in runs:
        label = _label(name, kind)
        secs = times[label]
        med = statistics.median(secs)
        result["implementations"][label] = dict(
            seconds=secs,
            median_seconds=med,
            tokens_per_s=n_tok / med,
            tokens_per_s_each=[n_tok / s for s in secs],
            gflops=config.flops_per_token() * positions / med / 1e9,
            peak_rss_mb=rss[name],
            load_seconds=workers[name].ready["load_seconds"],
            versions={k: v for k, v in workers[name].ready.items() if k in ("torch", "allennlp")},
            threads=workers[name].ready["threads"],
            device=workers[name].ready["device"],
        )
    impl = result["implementations"]
    if "allennlp" in impl:
        base = impl["allennlp"]
        for label, row in impl.items():
            if label != "allennlp":
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
    return result


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
    for note in result["notes"]:
        lines.append(note)
    return "\n".join(lines)
