"""Peak RSS and tokens/s of each precision at full size, one fresh process per precision.

``python -m spacy_elmo.bench.precision [--batches 2] [--cache-dir bench-out]``: each
process loads ``ElmoEmbedder(precision=P)`` (lean for bfloat16 and int8) on the bench's
random ``original`` weights, embeds batches of 32 and reports its ``ru_maxrss``.
"""

import argparse
import json
import resource
import subprocess
import sys
import time

from ..runtime_settings import PRECISIONS
from .sentences import make_sentences
from .weights import make_weights


def one(precision: str, cache_dir: str, batches: int) -> dict:
    """Runs in the child: load, embed ``batches`` batches of 32, report."""
    import torch

    from ..embedder import ElmoEmbedder

    torch.set_num_threads(2)
    options, weights = make_weights("original", f"{cache_dir}/weights")
    sentences = make_sentences(32 * batches)
    # CPU memory is what this measures: never "auto" onto a GPU.
    emb = ElmoEmbedder(options, weights, state="zero", device="cpu", precision=precision)
    t0 = time.perf_counter()
    for i in range(0, len(sentences), 32):
        emb.embed_batch(sentences[i : i + 32])
    seconds = time.perf_counter() - t0
    n = sum(len(s) for s in sentences)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    return dict(precision=precision, tokens_per_s=n / seconds, peak_rss_mb=rss)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--batches", type=int, default=2)
    parser.add_argument("--cache-dir", default="bench-out")
    parser.add_argument("--child", choices=PRECISIONS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(one(args.child, args.cache_dir, args.batches)))
        return
    make_weights("original", f"{args.cache_dir}/weights")  # once, before the children
    for precision in PRECISIONS:
        argv = [sys.executable, "-m", "spacy_elmo.bench.precision", "--child", precision]
        argv += ["--batches", str(args.batches), "--cache-dir", args.cache_dir]
        out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
        row = json.loads(out.strip().splitlines()[-1])
        print(
            f"{precision:10s} {row['tokens_per_s']:8.1f} tokens/s  peak RSS {row['peak_rss_mb']:6.0f} MB"
        )


if __name__ == "__main__":
    main()
