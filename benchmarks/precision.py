"""Peak RSS and tokens/s of each precision at full size, one fresh process per precision.

``python -m benchmarks.precision [--batches 2] [--rounds 1] [--cache-dir bench-out]``:
each process loads ``ElmoEmbedder(precision=P)`` (lean for bfloat16 and int8) on the bench's
random ``original`` weights, embeds one warm-up batch of 32 (oneDNN and fbgemm make their
kernels for each new shape then), times ``batches`` more and reports its memory: the RSS
after importing torch and spacy-elmo (the baseline no precision can go below), the peak
after loading and the peak over the whole run (the process's own ``VmHWM``). Rounds run the precisions
interleaved, so a busy machine slows them alike; the table gives medians over rounds and
the median of each round's ratio to float32.
"""

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from typing import Dict, List

from spacy_elmo.runtime_settings import PRECISIONS

from .runner import checkout_env
from .sentences import make_sentences
from .weights import make_weights
from .worker_common import own_peak_rss_mb


def _peak_mb() -> float:
    """This process's own peak RSS (``VmHWM``; ``ru_maxrss`` where /proc has none, which
    starts from the forking parent's peak: see :func:`worker_common.own_peak_rss_mb`)."""
    own = own_peak_rss_mb()
    return own if own is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def one(precision: str, cache_dir: str, batches: int) -> dict:
    """Runs in the child: load, one warm-up batch, ``batches`` timed batches of 32."""
    import torch

    from spacy_elmo.embedder import ElmoEmbedder

    baseline = _peak_mb()  # torch and spacy-elmo imported, nothing loaded
    torch.set_num_threads(2)
    options, weights = make_weights("original", f"{cache_dir}/weights")
    sentences = make_sentences(32 * (batches + 1))
    # CPU memory is what this measures: never "auto" onto a GPU.
    emb = ElmoEmbedder(options, weights, state="zero", device="cpu", precision=precision)
    loaded = _peak_mb()
    emb.embed_batch(sentences[:32])
    timed = sentences[32:]
    t0 = time.perf_counter()
    for i in range(0, len(timed), 32):
        emb.embed_batch(timed[i : i + 32])
    seconds = time.perf_counter() - t0
    n = sum(len(s) for s in timed)
    return dict(
        precision=precision,
        tokens_per_s=n / seconds,
        baseline_rss_mb=baseline,
        loaded_peak_rss_mb=loaded,
        peak_rss_mb=_peak_mb(),
    )


def _child(precision: str, args: argparse.Namespace) -> dict:
    argv = [sys.executable, "-m", "benchmarks.precision", "--child", precision]
    argv += ["--batches", str(args.batches), "--cache-dir", args.cache_dir]
    env = checkout_env(dict(os.environ))
    out = subprocess.run(argv, capture_output=True, text=True, check=True, env=env).stdout
    return json.loads(out.strip().splitlines()[-1])


def _report(rows: Dict[str, List[dict]]) -> None:
    print(
        f"{'precision':10s} {'tokens/s':>9s} {'vs f32':>7s} {'baseline':>9s} {'load peak':>10s}"
        f" {'peak RSS':>9s} {'above baseline':>15s}"
    )
    for p, runs in rows.items():
        med = {k: statistics.median(r[k] for r in runs) for k in runs[0] if k != "precision"}
        ratio = statistics.median(
            r["tokens_per_s"] / f["tokens_per_s"] for f, r in zip(rows["float32"], runs)
        )
        print(
            f"{p:10s} {med['tokens_per_s']:9.1f} {ratio:6.2f}x {med['baseline_rss_mb']:7.0f}MB"
            f" {med['loaded_peak_rss_mb']:8.0f}MB {med['peak_rss_mb']:7.0f}MB"
            f" {med['peak_rss_mb'] - med['baseline_rss_mb']:13.0f}MB"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--batches", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--cache-dir", default="bench-out")
    parser.add_argument("--child", choices=PRECISIONS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(one(args.child, args.cache_dir, args.batches)))
        return
    make_weights("original", f"{args.cache_dir}/weights")  # once, before the children
    rows: Dict[str, List[dict]] = {p: [] for p in PRECISIONS}
    for _ in range(args.rounds):
        for precision in PRECISIONS:
            rows[precision].append(_child(precision, args))
    _report(rows)


if __name__ == "__main__":
    main()
