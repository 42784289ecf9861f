"""What both benchmark workers share: the line protocol, the fixed batches and the command
loop. Standard library only and nothing from spacy_elmo: ``worker_allennlp.py`` imports it
as a plain module beside itself in AllenNLP's venv, where spacy_elmo is not installed.

Protocol (see :mod:`benchmarks.runner`): the worker answers ``{"event": "ready", ...}`` once
loaded, then one JSON reply per JSON command line on stdin, and ``{"event": "bye"}`` at the
end.
"""

import json
import os
import sys
import time
from typing import Any, Callable, List, Mapping, Optional, TextIO, Tuple

Send = Callable[..., None]
Handler = Callable[[dict], Mapping[str, Any]]


def open_protocol() -> Send:
    """The function that writes one reply line. Whatever else the worker (torch, AllenNLP)
    prints goes to stderr, never into the protocol."""
    proto = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)

    def send(**msg: Any) -> None:
        proto.write(json.dumps(msg) + "\n")

    return send


def read_batches(path: str, batch_size: int) -> Tuple[List[List[str]], List[List[List[str]]]]:
    """The benchmark's sentences (a JSON list of token lists) and their batches, in file
    order."""
    with open(path, encoding="utf8") as f:
        sentences = json.load(f)
    return sentences, [sentences[i : i + batch_size] for i in range(0, len(sentences), batch_size)]


def timed(work: Callable[[], Any], sync: Optional[Callable[[], None]] = None) -> float:
    """Seconds ``work`` takes; ``sync`` (e.g. ``torch.cuda.synchronize``) before and after,
    so a GPU's queued work is counted where it belongs."""
    if sync is not None:
        sync()
    t0 = time.perf_counter()
    work()
    if sync is not None:
        sync()
    return time.perf_counter() - t0


def serve(send: Send, handlers: Mapping[str, Handler], stdin: Optional[TextIO] = None) -> None:
    """Answer commands until ``quit`` (or the end of stdin): ``handlers[cmd["cmd"]](cmd)``
    returns the reply's fields besides ``event="done"``."""
    for line in stdin or sys.stdin:
        cmd = json.loads(line)
        if cmd["cmd"] == "quit":
            break
        if cmd["cmd"] not in handlers:
            raise RuntimeError(f"unknown benchmark command {cmd['cmd']!r}: {sorted(handlers)}")
        send(event="done", **handlers[cmd["cmd"]](cmd))
    send(event="bye", peak_rss_mb=own_peak_rss_mb())


def own_peak_rss_mb() -> Optional[float]:
    """This process's peak RSS since its ``exec`` (``VmHWM``), or None where /proc has none.

    Not ``ru_maxrss``: Linux carries the high-water mark of the forking parent's memory into
    the child's ``ru_maxrss`` at ``exec``, so every worker would report at least the parent's
    peak (the runner holds the full-size weights it wrote)."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0  # kB
    except OSError:
        return None
    return None
