"""A GEMM peak for the GFLOP/s column: the recurrent product ``h @ W_h`` of one LSTM step
(``(rows, P) @ (P, 4D)``, ``rows`` = the benchmark's batch) timed alone, through the same
kernels the model uses for each precision: float32 ``torch.mm`` (sgemm), bfloat16 through
oneDNN's packed linear (:mod:`spacy_elmo.pytorch.products`), int8 through fbgemm's
``linear_dynamic`` (:mod:`spacy_elmo.pytorch.quantize`). The model's nominal GFLOP/s over
this is how much of what the machine's GEMM does at that shape the whole model reaches.
"""

import time
from typing import Callable

import torch


def _product(precision: str, x: torch.Tensor, w: torch.Tensor) -> Callable[[], object]:
    from spacy_elmo.pytorch import products, quantize

    if precision == "int8":
        packed = quantize.pack(w)
        return lambda: quantize.linear(x, packed, reduce_range=False)
    if precision == "bfloat16":
        if products.onednn_bf16_available(x.device):
            packed_bf16 = products.packed_bf16(w)
            xb = x.to(torch.bfloat16)
            return lambda: products.linear_bf16(xb, packed_bf16)
        xb, wb = x.to(torch.bfloat16), w.to(torch.bfloat16)
        return lambda: torch.mm(xb, wb)
    return lambda: torch.mm(x, w)


def gemm_gflops(
    precision: str, *, rows: int, k: int, n: int, device: str = "cpu", seconds: float = 0.3
) -> float:
    """GFLOP/s of ``(rows, k) @ (k, n)`` in ``precision``: the best of repeated timings of
    at least ``seconds`` / 3 each (a GEMM peak, so the fastest repeat, not the median)."""
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(rows, k, generator=gen).to(device)
    w = (torch.randn(k, n, generator=gen) / k**0.5).to(device)
    run = _product(precision, x, w)
    sync = torch.cuda.synchronize if x.device.type == "cuda" else (lambda: None)
    for _ in range(3):  # kernels made for this shape
        run()
    best = float("inf")
    for _ in range(3):
        sync()
        t0, calls = time.perf_counter(), 0
        while time.perf_counter() - t0 < seconds / 3:
            run()
            calls += 1
        sync()
        best = min(best, (time.perf_counter() - t0) / calls)
    return 2.0 * rows * k * n / best / 1e9
