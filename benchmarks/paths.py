"""The user paths on the benchmark's sentences, timed inside our worker: the embedder alone
(``embed_sentences``, its own length-sorted batches), ``nlp.pipe`` with the ``elmo``
component (spaCy ``batch_size=1``: the component composes its own biLM batches) and
``embed_corpus`` (the ``embed`` command's engine, to an HDF5 file).

For ``nlp.pipe`` the time spent inside the biLM calls is measured too, so the glue (doc
handling, scatter of the layers, the mix, spaCy) is reported as a share of the whole.
"""

import tempfile
import time
from pathlib import Path
from typing import Dict, List


def time_paths(
    *,
    options: str,
    weights: str,
    state: str,
    precision: str,
    device: str,
    sentences: List[List[str]],
) -> Dict[str, float]:
    """Seconds of each path over ``sentences`` (one pass, after a warm-up of each)."""
    import spacy
    from spacy.tokens import Doc

    from spacy_elmo.corpus import EmbedSettings, embed_corpus

    model = dict(options_file=options, weight_file=weights, state=state, precision=precision)
    nlp = spacy.blank("en")
    nlp.add_pipe("elmo", config={"model": dict(model, device=device)})
    embedder = getattr(nlp.get_pipe("elmo"), "embedder")  # the component's ElmoEmbedder
    inside: List[float] = []
    real = embedder.embed_batch_torch

    def counted(batch, **kwargs):
        t0 = time.perf_counter()
        out = real(batch, **kwargs)
        inside.append(time.perf_counter() - t0)
        return out

    embedder.embed_batch_torch = counted  # the same biLM call, timed
    docs = lambda: (Doc(nlp.vocab, words=words) for words in sentences)  # noqa: E731
    list(nlp.pipe(docs(), batch_size=1))  # warm-up (oneDNN / fbgemm kernels per shape)
    inside.clear()
    embedder.clear_cache()  # every path starts with a cold word cache, like a new file
    t0 = time.perf_counter()
    list(nlp.pipe(docs(), batch_size=1))
    pipe_seconds = time.perf_counter() - t0
    pipe_bilm = sum(inside)

    del embedder.embed_batch_torch  # untimed again; the same biLM serves the other paths
    alone = embedder  # the component's embedder, used directly: no second copy in memory
    list(alone.embed_sentences(sentences[:64]))
    alone.clear_cache()
    t0 = time.perf_counter()
    list(alone.embed_sentences(sentences))
    embedder_seconds = time.perf_counter() - t0
    with tempfile.TemporaryDirectory() as tmp:
        text = Path(tmp) / "in.txt"
        text.write_text("\n".join(" ".join(s) for s in sentences) + "\n", encoding="utf8")
        quiet = EmbedSettings(progress=False, output_format="all")
        alone.clear_cache()
        t0 = time.perf_counter()
        embed_corpus(text, Path(tmp) / "out.h5", load=lambda: alone, settings=quiet)
        embed_seconds = time.perf_counter() - t0
    return dict(
        embedder=embedder_seconds,
        pipe=pipe_seconds,
        pipe_bilm=pipe_bilm,
        pipe_bilm_calls=len(inside),
        embed=embed_seconds,
    )
