"""Benchmark of ``embed`` on generated text: tokens/s with 1 and N processes, peak memory at
two input sizes, and ``embed`` against ``ElmoEmbedder.embed_sentences`` per token.

``python -m benchmarks.corpus --lines 100000 --processes 1,2 --rss-lines 10000,1000000``

Every ``embed`` run is a fresh subprocess (``torchrun --standalone`` for N > 1); its peak RSS
is the largest of its processes (``RUSAGE_CHILDREN``, measured in a wrapper process per run).
Results are printed as one JSON object per measurement.
"""

import argparse
import json
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Optional

from .launch import spacy_elmo_command

WORDS = (
    "the of and to in a is that for it as was with be by on not he I this are or his from at "
    "which but have an they you were her she there been one all we their has would when what "
    "bank river money rates raised fell market city London Paris 1999 . , ; ' \" ( )"
).split()

_WRAPPER = (
    "import resource, subprocess, sys\n"
    "rc = subprocess.run(sys.argv[1:]).returncode\n"
    "print('PEAK_KB', resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr)\n"
    "sys.exit(rc)\n"
)


def generate(path: Path, n_lines: int, seed: int = 0) -> int:
    """Write ``n_lines`` sentences of 5-35 tokens (Zipf-like word choice); returns tokens."""
    rng = random.Random(seed)
    weights = [1.0 / (i + 1) for i in range(len(WORDS))]
    n_tokens = 0
    with open(path, "w", encoding="utf8") as f:
        for _ in range(n_lines):
            n = rng.randint(5, 35)
            n_tokens += n
            f.write(" ".join(rng.choices(WORDS, weights, k=n)) + "\n")
    return n_tokens


def run_embed(
    src: Path, out: Path, processes: int, extra: List[str], threads: Optional[int]
) -> Dict[str, float]:
    """One ``embed`` run in fresh processes: wall seconds and peak RSS (MB)."""
    cmd = [*spacy_elmo_command(processes), "embed", str(src), str(out), "--no-progress"]
    env = None
    if threads is not None:
        import os

        env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    start = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-c", _WRAPPER, *cmd, *extra], capture_output=True, text=True, env=env
    )
    seconds = time.perf_counter() - start
    if result.returncode != 0:
        raise RuntimeError(result.stderr[-3000:])
    peak_kb = int(result.stderr.rsplit("PEAK_KB", 1)[1].split()[0])
    return {"seconds": seconds, "peak_rss_mb": peak_kb / 1024}


def in_process_tokens_per_second(src: Path, out: Path, fmt: str, batch_size: int) -> Dict:
    """The same lines through ``embed_corpus`` (reading, embedding, writing, assembling) and
    through ``ElmoEmbedder.embed_sentences`` (embedding only), with one embedder loaded
    before either clock starts."""
    from spacy_elmo.corpus import EmbedSettings, embed_corpus
    from spacy_elmo.embedder import ElmoEmbedder

    embedder = ElmoEmbedder()
    lines = [line.split() for line in src.read_text(encoding="utf8").splitlines()]
    n_tokens = sum(map(len, lines))
    start = time.perf_counter()
    for _ in embedder.embed_sentences(lines, batch_size=batch_size):
        pass
    plain = time.perf_counter() - start
    settings = EmbedSettings(output_format=fmt, batch_size=batch_size, progress=False)
    start = time.perf_counter()
    embed_corpus(src, out, load=lambda: embedder, settings=settings)
    corpus = time.perf_counter() - start
    return {
        "ElmoEmbedder_tokens_per_second": n_tokens / plain,
        "embed_corpus_tokens_per_second": n_tokens / corpus,
    }


def main(argv: Optional[List[str]] = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--lines", type=int, default=100_000, help="lines for the speed runs")
    p.add_argument("--processes", default="1,2", help="process counts for the speed runs")
    p.add_argument("--rss-lines", default="10000,1000000", help="input sizes for peak RSS")
    p.add_argument("--rss-model", default="tiny", help="tiny | default: model of the RSS runs")
    p.add_argument("--format", default="top", choices=["all", "top", "average"])
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--threads", type=int, default=None, help="OMP_NUM_THREADS per process")
    p.add_argument("--skip", default="", help="comma list of: speed,embedder,rss")
    args = p.parse_args(argv)
    skip = set(filter(None, args.skip.split(",")))
    fmt = [f"--{args.format}", "--batch-size", str(args.batch_size)]
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        if "speed" not in skip or "embedder" not in skip:
            n_tokens = generate(d / "speed.txt", args.lines)
        if "speed" not in skip:
            for n in map(int, args.processes.split(",")):
                r = run_embed(d / "speed.txt", d / f"speed-{n}.h5", n, fmt, args.threads)
                r.update(processes=n, lines=args.lines, tokens_per_second=n_tokens / r["seconds"])
                print(json.dumps({"measure": "embed", **r}), flush=True)
        if "embedder" not in skip:
            r = in_process_tokens_per_second(
                d / "speed.txt", d / "in-process.h5", args.format, args.batch_size
            )
            print(json.dumps({"measure": "in_process", "lines": args.lines, **r}), flush=True)
        if "rss" not in skip:
            model = _model_args(args.rss_model)
            for n in map(int, args.rss_lines.split(",")):
                generate(d / f"rss-{n}.txt", n, seed=1)
                r = run_embed(d / f"rss-{n}.txt", d / f"rss-{n}.h5", 1, fmt + model, args.threads)
                r.update(lines=n, model=args.rss_model)
                print(json.dumps({"measure": "peak_rss", **r}), flush=True)
                (d / f"rss-{n}.h5").unlink()


def _model_args(name: str) -> List[str]:
    if name == "default":
        return []
    from spacy_elmo.util import ASSETS

    folder = ASSETS / name
    return [
        "--options-file",
        str(folder / "options.json"),
        "--weight-file",
        str(folder / "weights.hdf5"),
    ]


if __name__ == "__main__":
    main()
