"""Pretraining throughput of process x thread layouts, side by side in one run.

``python -m benchmarks.pretrain --layouts 1x1,1x2,2x1 --steps 60 --repeats 3 \\
    -c configs/pretrain_default.json --corpus-dir /path/to/lm-corpus``

A layout ``PxT`` is P processes (``torchrun --standalone`` for P > 1) of T torch threads each.
Every run is a fresh ``pretrain`` from scratch for ``--steps`` steps; the arguments this
module does not know (``-c``, ``--corpus-dir``, ``--train``, ``--model``, ``--section.key
value``) go to every run unchanged. The corpus is tokenized once, by the first run, and its
cache copied into the others. Tokens/s is read from the run's log: training tokens over wall
time from the first log line to the last, so start-up, data loading and the first window
(allocation, warm-up) are left out. Within each repeat the layouts run one after another in
the given order, so a change in machine load hits them alike. Printed: one JSON object per
run, then one per layout with the median and its ratio to the first layout.
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import tempfile
from pathlib import Path
from typing import Dict, List, Optional, Tuple

from spacy_elmo.errors import ElmoInputError, Errors

from .launch import spacy_elmo_command


def parse_layouts(text: str) -> List[Tuple[int, int]]:
    """``"1x1,2x1"`` -> ``[(1, 1), (2, 1)]`` (processes, threads).

    :raises ElmoInputError: E605 for an item that is not two positive integers.
    """
    layouts = []
    for item in filter(None, text.split(",")):
        try:
            processes, threads = (int(x) for x in item.lower().split("x"))
        except ValueError:
            reason = f"'{item}' is not PROCESSESxTHREADS"
            raise ElmoInputError(Errors.E605.format(value=text, reason=reason)) from None
        if processes < 1 or threads < 1:
            reason = f"'{item}' has fewer than 1 process or 1 thread"
            raise ElmoInputError(Errors.E605.format(value=text, reason=reason))
        layouts.append((processes, threads))
    if not layouts:
        raise ElmoInputError(Errors.E605.format(value=text, reason="no layout is given"))
    return layouts


def layout_name(layout: Tuple[int, int]) -> str:
    return f"{layout[0]}x{layout[1]}"


def pretrain_command(
    run: Path, processes: int, threads: int, steps: int, log_every: int, extra: List[str]
) -> List[str]:
    """The ``pretrain`` command line of one run: log often, evaluate and checkpoint only at
    the end, so the timed steps do nothing else."""
    settings = {
        "threads": threads,
        "log_every_steps": log_every,
        "eval_every_steps": 0,
        "checkpoint_every_steps": 0,
        "checkpoint_every_minutes": 0,
    }
    overrides = [arg for key, v in settings.items() for arg in (f"--training.{key}", str(v))]
    tail = ["--max-steps", str(steps), "--no-progress"]
    return [*spacy_elmo_command(processes), "pretrain", str(run), *extra, *overrides, *tail]


def tokens_per_second(log_path: Path) -> float:
    """Training tokens over wall time between the first and the last line of ``log.jsonl``."""
    records = [json.loads(line) for line in log_path.read_text(encoding="utf8").splitlines()]
    if len(records) < 2:
        raise RuntimeError(f"{log_path} has {len(records)} line(s): raise --steps")
    first, last = records[0], records[-1]
    return (last["tokens"] - first["tokens"]) / (last["time"] - first["time"])


def run_once(
    run: Path,
    layout: Tuple[int, int],
    steps: int,
    log_every: int,
    extra: List[str],
    data_cache: Optional[Path],
) -> float:
    """One fresh run of ``layout``; returns its tokens/s."""
    processes, threads = layout
    if data_cache is not None:
        shutil.copytree(data_cache, run / "data")
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    cmd = pretrain_command(run, processes, threads, steps, log_every, extra)
    result = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{result.stderr[-3000:]}")
    return tokens_per_second(run / "log.jsonl")


def summarise(runs: Dict[Tuple[int, int], List[float]]) -> List[Dict]:
    """Median tokens/s per layout and its ratio to the first layout."""
    medians = {layout: statistics.median(v) for layout, v in runs.items()}
    base = next(iter(medians.values()))
    return [
        {
            "layout": layout_name((p, t)),
            "processes": p,
            "threads": t,
            "tokens_per_second": m,
            "runs": runs[(p, t)],
            "ratio": m / base,
        }
        for (p, t), m in medians.items()
    ]


def main(argv: Optional[List[str]] = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--layouts", default="1x1,1x2,2x1", help="PROCESSESxTHREADS, comma list")
    p.add_argument("--steps", type=int, default=60, help="steps per run")
    p.add_argument("--log-every", type=int, default=10, help="steps per log line")
    p.add_argument("--repeats", type=int, default=3, help="runs per layout (median reported)")
    args, extra = p.parse_known_args(argv)
    try:
        layouts = parse_layouts(args.layouts)
        if args.steps < 2 * args.log_every:
            minimum = 2 * args.log_every
            raise ElmoInputError(
                Errors.E606.format(steps=args.steps, log_every=args.log_every, minimum=minimum)
            )
    except ElmoInputError as err:
        raise SystemExit(str(err)) from None
    runs: Dict[Tuple[int, int], List[float]] = {layout: [] for layout in layouts}
    with tempfile.TemporaryDirectory() as tmp:
        cache = None
        for repeat in range(args.repeats):
            for layout in layouts:
                run = Path(tmp) / f"run-{layout_name(layout)}-{repeat}"
                tps = run_once(run, layout, args.steps, args.log_every, extra, cache)
                cache = cache or run / "data"
                runs[layout].append(tps)
                row = {"layout": layout_name(layout), "repeat": repeat, "tokens_per_second": tps}
                print(json.dumps({"measure": "run", **row}), flush=True)
    for row in summarise(runs):
        print(json.dumps({"measure": "layout", **row}), flush=True)


if __name__ == "__main__":
    main()
