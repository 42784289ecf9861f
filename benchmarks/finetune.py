"""What a training step of an unfrozen biLM costs against the frozen forward pass.

One batch of the benchmark sentences, the whole biLM (char CNN, both LSTM directions),
forward and backward of a loss on every output layer, for each way of training it:

- ``frozen``: the forward pass without autograd (what a frozen pipeline runs, at most once
  per sentence with its layer cache);
- ``top``: only the top LSTM layer requires grad (``trainable_layers = "top"``): the frozen
  layers below it run the in-place loop;
- ``top-graph``: the same, with every LSTM layer forced through the autograd loop (what
  ``"top"`` ran before the loop was chosen per layer);
- ``all``: every parameter requires grad (``trainable_layers = "all"``).

Modes run interleaved, round after round, so a change in the machine's load touches all of
them; the report gives the median seconds per step and the ratio to ``frozen``.

    python -m benchmarks.finetune --model default --rounds 12
"""

import argparse
import json
import statistics
import time
from typing import Callable, Dict, List, Optional, Sequence

import torch

MODES = ("frozen", "top", "top-graph", "all")


# Each mode as the `trainable_layers` setting it times.
_TRAINABLE = {"frozen": "none", "top": "top", "top-graph": "top", "all": "all"}


def _set_trainable(bilm: torch.nn.Module, mode: str) -> None:
    """Exactly the parameters ``trainable_layers`` trains require grad (the pipeline's
    own choice, :func:`spacy_elmo.models.finetune.unfreeze`)."""
    from spacy_elmo.models.finetune import unfreeze

    unfreeze(bilm, _TRAINABLE[mode], precision="float32")


def _step(bilm: torch.nn.Module, char_ids: torch.Tensor, mode: str) -> Callable[[], float]:
    """One timed step of ``mode``; returns its seconds."""

    def run() -> float:
        _set_trainable(bilm, mode)
        graph_both = mode == "top-graph"
        if graph_both:  # every layer through the autograd loop, as before the per-layer choice
            lstm = bilm.lstm
            lstm._layer_under_autograd = lambda l, x, n, h, c: lstm._layer(l, x, n, h, c)
        try:
            start = time.perf_counter()
            if mode == "frozen":
                with torch.no_grad():
                    bilm(char_ids)
            else:
                bilm(char_ids).layers.square().sum().backward()
            return time.perf_counter() - start
        finally:
            if graph_both:
                del bilm.lstm._layer_under_autograd
            bilm.zero_grad(set_to_none=True)

    return run


def measure(
    bilm: torch.nn.Module, sentences: Sequence[Sequence[str]], *, rounds: int, modes: Sequence[str]
) -> Dict[str, List[float]]:
    """Seconds per step of every mode, ``rounds`` times each, interleaved."""
    char_ids = bilm.batch_to_ids(sentences).to(bilm.char_cnn.proj_weight.device)
    steps = {mode: _step(bilm, char_ids, mode) for mode in modes}
    times: Dict[str, List[float]] = {mode: [] for mode in modes}
    requires_grad = [p.requires_grad for p in bilm.parameters()]
    try:
        for mode in modes:  # warm-up: first calls allocate and pick kernels
            steps[mode]()
        for _ in range(rounds):
            for mode in modes:
                times[mode].append(steps[mode]())
    finally:
        for p, flag in zip(bilm.parameters(), requires_grad):
            p.requires_grad_(flag)
    return times


def report(times: Dict[str, List[float]], n_tokens: int) -> List[dict]:
    base = statistics.median(times["frozen"]) if "frozen" in times else None
    rows = []
    for mode, seconds in times.items():
        median = statistics.median(seconds)
        rows.append(
            {
                "mode": mode,
                "median_seconds": round(median, 5),
                "tokens_per_second": round(n_tokens / median, 1),
                "ratio_to_frozen": None if base is None else round(median / base, 3),
                "rounds": len(seconds),
            }
        )
    return rows


def main(argv: Optional[List[str]] = None) -> None:
    from benchmarks.sentences import make_sentences
    from spacy_elmo.embedder import ElmoEmbedder

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="default", help="catalogue name or folder")
    parser.add_argument("--options-file", help="options.json (with --weight-file)")
    parser.add_argument("--weight-file")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=12)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--modes", default=",".join(MODES))
    args = parser.parse_args(argv)
    modes = [m for m in args.modes.split(",") if m]
    unknown = [m for m in modes if m not in MODES]
    if unknown or not modes or args.rounds < 1:
        parser.error(f"--modes must list some of {','.join(MODES)} and --rounds be >= 1")
    torch.set_num_threads(args.threads)
    if args.options_file:
        embedder = ElmoEmbedder.from_files(args.options_file, args.weight_file)
    else:
        embedder = ElmoEmbedder.from_name(args.model)
    sentences = make_sentences(args.batch_size)
    times = measure(embedder.bilm, sentences, rounds=args.rounds, modes=modes)
    n_tokens = sum(len(s) for s in sentences)
    for row in report(times, n_tokens):
        print(json.dumps(row))


if __name__ == "__main__":
    main()
