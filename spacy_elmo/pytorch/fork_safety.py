"""Fork safety: a child process made with ``fork`` runs torch with one thread.

torch's CPU thread pool (OpenMP) is not fork-safe: once the parent has run an op with more
than one thread, a forked child that runs a parallel op waits forever for pool threads that
were not copied into it. ``nlp.pipe(texts, n_process=2)`` forks by default on Linux, so its
workers hung. Setting one thread in the child, before it runs any op, makes every op run
on the calling thread and never touch the inherited pool. Worker processes get their
parallelism from being several processes.

A child that needs more threads should be started with the ``spawn`` (or ``forkserver``)
start method, which starts a fresh interpreter with a fresh pool.
"""

import os

import torch

_registered = False


def _one_thread_in_child() -> None:
    # Runs in the child right after fork(), before it returns to Python code.
    torch.set_num_threads(1)


def register_fork_handler() -> None:
    """Make every child forked from now on run torch with one thread (idempotent)."""
    global _registered
    if _registered or not hasattr(os, "register_at_fork"):  # Windows has no fork
        return
    os.register_at_fork(after_in_child=_one_thread_in_child)
    _registered = True


__all__ = ["register_fork_handler"]
