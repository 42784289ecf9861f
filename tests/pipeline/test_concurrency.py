"""The spaCy pipeline under threads and under forked worker processes."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading

import numpy as np

TEXTS = [
    f"Sentence {i} mentions {w} and {w[::-1]}{i % 7} near the bank ."
    for i, w in enumerate(["rivers", "Zürich", "qxv", "cats", "forms", "blue", "tok"] * 10)
]


def _sequential_in_subprocess(tmp_path, tiny_paths, state: str):
    script = textwrap.dedent("""
        import json, sys
        import numpy as np, spacy, torch
        torch.set_num_threads(1)
        options, weights, state, inp, out = sys.argv[1:]
        nlp = spacy.blank("en")
        cfg = {"options_file": options, "weight_file": weights, "state": state}
        nlp.add_pipe("elmo", config=cfg)
        np.savez(out, *[nlp(t)._.elmo for t in json.load(open(inp))])
        """)
    inp, out = tmp_path / "texts.json", tmp_path / "ref.npz"
    inp.write_text(json.dumps(TEXTS), encoding="utf8")
    args = [*tiny_paths, state, str(inp), str(out)]
    subprocess.run([sys.executable, "-c", script, *args], check=True, timeout=300)
    with np.load(out) as data:
        return [data[f"arr_{i}"] for i in range(len(TEXTS))]


def test_threads_calling_one_nlp(tmp_path, make_nlp, tiny_paths):
    """Two pipelines on the same files share one biLM; "zero" keeps it apart from the warm
    one the test session holds, so its word cache starts cold."""
    reference = _sequential_in_subprocess(tmp_path, tiny_paths, "zero")
    nlps = [make_nlp(state="zero"), make_nlp(state="zero")]
    results = [None] * len(TEXTS)
    errors = []
    barrier = threading.Barrier(4)

    def work(k: int) -> None:
        try:
            barrier.wait()
            for i in range(k, len(TEXTS), 4):
                results[i] = nlps[k % 2](TEXTS[i])._.elmo
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    for got, ref in zip(results, reference):
        np.testing.assert_allclose(got, ref, atol=1e-5)


_FORK_SCRIPT = """
import multiprocessing, sys
import numpy as np, spacy, torch
options, weights = sys.argv[1:]
torch.set_num_threads(2)
torch.mm(torch.rand(512, 512), torch.rand(512, 512))  # start the parent's 2-thread pool
nlp = spacy.blank("en")
nlp.add_pipe("elmo", config={"options_file": options, "weight_file": weights})
texts = [f"Text number {i} , about {'cats' if i % 2 else 'dogs'} ." for i in range(8)]
ref = [nlp(t)._.elmo for t in texts]
assert multiprocessing.get_start_method() == "fork"
docs = list(nlp.pipe(texts, n_process=2, batch_size=2))
for doc, r in zip(docs, ref):
    np.testing.assert_allclose(doc._.elmo, r, atol=1e-5)
assert torch.get_num_threads() == 2  # the parent keeps its threads
print("forked workers ok")
"""


def test_n_process_fork_with_a_multithreaded_parent(tiny_paths):
    """Workers forked from a parent whose torch pool runs 2 threads used to hang forever;
    the timeout turns a regression into a failure."""
    proc = subprocess.Popen(
        [sys.executable, "-c", _FORK_SCRIPT, *tiny_paths],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group: hung workers are killed with it
    )
    try:
        stdout, stderr = proc.communicate(timeout=180)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise AssertionError("nlp.pipe(n_process=2) under fork hung (killed after 180 s)")
    assert proc.returncode == 0, stderr[-3000:]
    assert "forked workers ok" in stdout


def test_threads_reaching_fresh_pipelines_load_one_bilm(tmp_path, tiny_paths):
    """Threads that first touch two fresh pipelines at once share one loaded biLM instead of
    each loading and warming up its own."""
    from pathlib import Path

    import spacy

    from spacy_elmo.models.layers import get_bilm

    options = tmp_path / "options.json"  # same model, new bytes: nothing has loaded it yet
    options.write_text(Path(tiny_paths[0]).read_text(encoding="utf8") + "\n\n", encoding="utf8")
    model = {"options_file": str(options), "weight_file": tiny_paths[1]}
    shims = []
    for _ in range(2):
        nlp = spacy.blank("en")
        nlp.add_pipe("elmo", config={"model": model})
        shims.append(get_bilm(nlp.get_pipe("elmo").model))
    loaded = [None] * 4
    barrier = threading.Barrier(4)

    def work(k: int) -> None:
        barrier.wait()
        loaded[k] = shims[k % 2].embedder

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(e is not None for e in loaded)
    assert len({id(e) for e in loaded}) == 1
