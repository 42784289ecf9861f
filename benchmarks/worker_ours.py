"""Benchmark worker for this package, run in its own process by :mod:`.runner`.

``python -m benchmarks.worker_ours ARGS_JSON``; the protocol (one JSON object per line on
stdin/stdout) is described in :mod:`.runner`.
"""

import json
import sys
import time

from . import worker_common as common


def _load(args: dict) -> dict:
    """One embedder per variant ("zero", "warm+bfloat16", ...), all sharing one biLM."""
    from spacy_elmo.embedder import ElmoEmbedder

    from .runner import split_variant

    first_variant, *others = args["variants"]
    state, precision = split_variant(first_variant)
    # Variants of several precisions share one biLM, which then keeps its float32 weights;
    # a single reduced precision loads lean (weights held once, in that precision).
    single = len({split_variant(v)[1] for v in args["variants"]}) == 1
    first = ElmoEmbedder(
        args["options"],
        args["weights"],
        state=state,
        precision=precision,
        device=args["device"],
        lean=single,
    )
    embedders = {first_variant: first}
    for v in others:
        state, precision = split_variant(v)
        embedders[v] = ElmoEmbedder.from_bilm(first.bilm, state=state, precision=precision)
    return embedders


def main(args: dict) -> None:
    send = common.open_protocol()
    import numpy as np
    import torch

    torch.set_num_threads(args["threads"])
    from .runner import split_variant

    sentences, batches = common.read_batches(args["sentences"], args["batch_size"])
    t0 = time.perf_counter()
    embedders = _load(args)
    load_seconds = time.perf_counter() - t0
    first = next(iter(embedders.values()))
    for emb in embedders.values():  # warm-up: one batch, then forget the cached words
        emb.embed_batch(batches[0])
        emb.clear_cache()
    sync = torch.cuda.synchronize if first.device.type == "cuda" else None
    send(
        event="ready",
        load_seconds=load_seconds,
        torch=torch.__version__,
        threads=torch.get_num_threads(),
        device=str(first.device),
    )

    def parity(cmd: dict) -> dict:  # zero state, a fresh char-CNN cache
        from spacy_elmo.embedder import ElmoEmbedder

        _, precision = split_variant(cmd["variant"])
        zero = ElmoEmbedder.from_bilm(first.bilm, state="zero", precision=precision)
        layers, _ = zero.embed_batch_torch(sentences[: cmd["n"]])
        np.save(cmd["path"], layers.float().cpu().numpy())
        return {}

    def run(cmd: dict) -> dict:
        emb = embedders[cmd["variant"]]
        emb.clear_cache()  # every timed pass starts cold, like a new file
        # per-sentence numpy arrays, as AllenNLP's embedder
        return {"seconds": common.timed(lambda: [emb.embed_batch(b) for b in batches], sync)}

    def reset(cmd: dict) -> dict:
        embedders[cmd["variant"]].clear_cache()  # a new pass starts cold, like a new file
        return {}

    def batch(cmd: dict) -> dict:
        emb = embedders[cmd["variant"]]
        return {"seconds": common.timed(lambda: emb.embed_batch(batches[cmd["k"]]), sync)}

    def paths(cmd: dict) -> dict:
        from .paths import time_paths

        state, precision = split_variant(cmd["variant"])
        return time_paths(
            options=args["options"],
            weights=args["weights"],
            state=state,
            precision=precision,
            device=args["device"],
            sentences=sentences,
        )

    def gemm(cmd: dict) -> dict:
        from .gemm import gemm_gflops

        lstm = first.config.lstm
        shape = dict(rows=args["batch_size"], k=lstm.projection_dim, n=4 * lstm.dim)
        _, precision = split_variant(cmd["variant"])
        return {"gflops": gemm_gflops(precision, device=args["device"], **shape), **shape}

    def accuracy(cmd: dict) -> dict:
        """The variant against float32 in the same state, on the first ``n`` sentences: the
        float32 variant of that state (the runner asks only when float32 is timed too)."""
        from .accuracy import compare_layers

        state, _ = split_variant(cmd["variant"])
        some = sentences[: cmd["n"]]
        exact = embedders[state]  # variant(state, "float32") is the state's own name
        return compare_layers(exact.embed_batch(some), embedders[cmd["variant"]].embed_batch(some))

    handlers = {
        "accuracy": accuracy,
        "parity": parity,
        "run": run,
        "reset": reset,
        "batch": batch,
        "paths": paths,
        "gemm": gemm,
    }
    common.serve(send, handlers)


if __name__ == "__main__":
    main(json.loads(sys.argv[1]))
