"""Benchmark worker for AllenNLP 2.10.1, run as a script with the *reference* Python.

It imports nothing from spacy_elmo (the reference environment does not have it) and
mirrors AllenNLP 0.9's ``ElmoEmbedder.embed_batch`` (a bare, stateful ``_ElmoBiLm`` under
``torch.no_grad()``, per-sentence numpy results). Protocol: see :mod:`spacy_elmo.bench.runner`.
"""

import json
import os
import sys
import time


def main(args: dict) -> None:
    proto = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)

    def send(**msg) -> None:
        proto.write(json.dumps(msg) + "\n")

    import numpy as np
    import torch

    torch.set_num_threads(args["threads"])
    import allennlp
    from allennlp.modules.elmo import _ElmoBiLm, batch_to_ids
    from allennlp.nn.util import remove_sentence_boundaries

    with open(args["sentences"], encoding="utf8") as f:
        sentences = json.load(f)
    bs = args["batch_size"]
    batches = [sentences[i : i + bs] for i in range(0, len(sentences), bs)]
    t0 = time.perf_counter()
    bilm = _ElmoBiLm(args["options"], args["weights"])
    bilm.eval()
    load_seconds = time.perf_counter() - t0

    @torch.no_grad()
    def embed_batch(batch):
        # allennlp 0.9 ElmoEmbedder.batch_to_embeddings + embed_batch
        out = bilm(batch_to_ids(batch))
        pieces = [remove_sentence_boundaries(a, out["mask"]) for a in out["activations"]]
        activations = torch.cat([p[0].unsqueeze(1) for p in pieces], dim=1)  # (B, L+1, T, 2P)
        return activations, [activations[i, :, : len(s)].cpu().numpy() for i, s in enumerate(batch)]

    # Parity batch first, on fresh (zero) states; then forget the states.
    parity_n = args.get("parity_n", 0)
    parity = embed_batch(sentences[:parity_n])[0] if parity_n else None
    bilm._elmo_lstm.reset_states()
    embed_batch(batches[0])  # warm-up
    send(
        event="ready",
        load_seconds=load_seconds,
        torch=torch.__version__,
        allennlp=allennlp.__version__,
        threads=torch.get_num_threads(),
        device="cpu",
    )
    for line in sys.stdin:
        cmd = json.loads(line)
        if cmd["cmd"] == "parity":
            if parity is None:
                raise RuntimeError(
                    "the runner asked for parity arrays, but this worker was started with "
                    "parity_n=0 (no parity sentences were embedded)"
                )
            np.save(cmd["path"], parity.transpose(0, 1).numpy())  # (L+1, B, T, 2P)
            send(event="done")
        elif cmd["cmd"] == "run":
            t0 = time.perf_counter()
            for batch in batches:
                embed_batch(batch)
            send(event="done", seconds=time.perf_counter() - t0)
        elif cmd["cmd"] == "reset":
            send(event="done")  # stateful, as AllenNLP's ElmoEmbedder: states carry on
        elif cmd["cmd"] == "batch":
            t0 = time.perf_counter()
            embed_batch(batches[cmd["k"]])
            send(event="done", seconds=time.perf_counter() - t0)
        elif cmd["cmd"] == "quit":
            break
    send(event="bye")


if __name__ == "__main__":
    main(json.loads(sys.argv[1]))
