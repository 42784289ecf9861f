"""Benchmark worker for this package, run in its own process by :mod:`.runner`.

``python -m spacy_elmo.bench.worker_ours ARGS_JSON``; the protocol (one JSON object per
line on stdin/stdout) is described in :mod:`.runner`.
"""

import json
import os
import sys
import time


def main(args: dict) -> None:
    proto = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # anything else printed goes to stderr, never into the protocol

    def send(**msg) -> None:
        proto.write(json.dumps(msg) + "\n")

    import numpy as np
    import torch

    torch.set_num_threads(args["threads"])
    from spacy_elmo.bench.runner import split_variant
    from spacy_elmo.embedder import ElmoEmbedder

    with open(args["sentences"], encoding="utf8") as f:
        sentences = json.load(f)
    bs = args["batch_size"]
    batches = [sentences[i : i + bs] for i in range(0, len(sentences), bs)]
    t0 = time.perf_counter()
    # One embedder per variant ("zero", "warm+bfloat16", ...), all sharing one biLM.
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
    load_seconds = time.perf_counter() - t0
    for emb in embedders.values():  # warm-up: one batch, then forget the cached words
        emb.embed_batch(batches[0])
        emb.clear_cache()
    send(
        event="ready",
        load_seconds=load_seconds,
        torch=torch.__version__,
        threads=torch.get_num_threads(),
        device=str(first.device),
    )
    for line in sys.stdin:
        cmd = json.loads(line)
        if cmd["cmd"] == "parity":  # zero state, a fresh char-CNN cache
            _, precision = split_variant(cmd["variant"])
            zero = ElmoEmbedder.from_bilm(first.bilm, state="zero", precision=precision)
            layers, mask = zero.embed_batch_torch(sentences[: cmd["n"]])
            np.save(cmd["path"], layers.cpu().numpy())
            send(event="done")
        elif cmd["cmd"] == "run":
            emb = embedders[cmd["variant"]]
            emb.clear_cache()  # every timed pass starts cold, like a new file
            if emb.device.type == "cuda":
                torch.cuda.synchronize()
            t0 = time.perf_counter()
            for batch in batches:
                emb.embed_batch(batch)  # per-sentence numpy arrays, as AllenNLP's embedder
            seconds = time.perf_counter() - t0
            send(event="done", seconds=seconds)
        elif cmd["cmd"] == "reset":
            embedders[cmd["variant"]].clear_cache()  # a new pass starts cold, like a new file
            send(event="done")
        elif cmd["cmd"] == "batch":
            emb = embedders[cmd["variant"]]
            if emb.device.type == "cuda":
                torch.cuda.synchronize()
            t0 = time.perf_counter()
            emb.embed_batch(batches[cmd["k"]])
            send(event="done", seconds=time.perf_counter() - t0)
        elif cmd["cmd"] == "quit":
            break
    send(event="bye")


if __name__ == "__main__":
    main(json.loads(sys.argv[1]))
