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
    from spacy_elmo.embedder import ElmoEmbedder

    with open(args["sentences"], encoding="utf8") as f:
        sentences = json.load(f)
    bs = args["batch_size"]
    batches = [sentences[i : i + bs] for i in range(0, len(sentences), bs)]
    t0 = time.perf_counter()
    states = args["states"]
    first = ElmoEmbedder(args["options"], args["weights"], state=states[0], device=args["device"])
    embedders = {states[0]: first}
    for state in states[1:]:
        embedders[state] = ElmoEmbedder.from_bilm(first.bilm, state=state)
    load_seconds = time.perf_counter() - t0
    zero = embedders.get("zero") or ElmoEmbedder.from_bilm(first.bilm, state="zero")
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
        if cmd["cmd"] == "parity":
            layers, mask = zero.embed_batch_torch(sentences[: cmd["n"]])
            zero.clear_cache()
            np.save(cmd["path"], layers.cpu().numpy())
            send(event="done")
        elif cmd["cmd"] == "run":
            emb = embedders[cmd["state"]]
            emb.clear_cache()  # every timed pass starts cold, like a new file
            if emb.device.type == "cuda":
                torch.cuda.synchronize()
            t0 = time.perf_counter()
            for batch in batches:
                emb.embed_batch(batch)  # per-sentence numpy arrays, as AllenNLP's embedder
            seconds = time.perf_counter() - t0
            send(event="done", seconds=seconds)
        elif cmd["cmd"] == "reset":
            embedders[cmd["state"]].clear_cache()  # a new pass starts cold, like a new file
            send(event="done")
        elif cmd["cmd"] == "batch":
            emb = embedders[cmd["state"]]
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
