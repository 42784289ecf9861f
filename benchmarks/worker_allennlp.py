"""Benchmark worker for AllenNLP 2.10.1, run as a script with the *reference* Python.

It imports nothing from spacy_elmo (the reference environment does not have it) and
mirrors AllenNLP 0.9's ``ElmoEmbedder.embed_batch`` (a bare, stateful ``_ElmoBiLm`` under
``torch.no_grad()``, per-sentence numpy results). Protocol: see :mod:`benchmarks.runner`.
"""

import json
import sys
import time

try:
    from . import worker_common as common
except ImportError:  # run as a script by the reference Python: its folder is on sys.path
    import worker_common as common  # type: ignore[no-redef]


def main(args: dict) -> None:
    send = common.open_protocol()
    import numpy as np
    import torch

    torch.set_num_threads(args["threads"])
    import allennlp
    from allennlp.modules.elmo import _ElmoBiLm, batch_to_ids
    from allennlp.nn.util import remove_sentence_boundaries

    sentences, batches = common.read_batches(args["sentences"], args["batch_size"])
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

    def save_parity(cmd: dict) -> dict:
        if parity is None:
            raise RuntimeError(
                "the runner asked for parity arrays, but this worker was started with "
                "parity_n=0 (no parity sentences were embedded)"
            )
        np.save(cmd["path"], parity.transpose(0, 1).numpy())  # (L+1, B, T, 2P)
        return {}

    def run(cmd: dict) -> dict:
        return {"seconds": common.timed(lambda: [embed_batch(b) for b in batches])}

    common.serve(
        send,
        {
            "parity": save_parity,
            "run": run,
            "reset": lambda cmd: {},  # stateful, as AllenNLP's ElmoEmbedder: states carry on
            "batch": lambda cmd: {"seconds": common.timed(lambda: embed_batch(batches[cmd["k"]]))},
        },
    )


if __name__ == "__main__":
    main(json.loads(sys.argv[1]))
