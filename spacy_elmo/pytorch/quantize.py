"""int8 products of the biLSTM (``precision="int8"``): weights quantized per output
channel, activations per call (dynamic quantization), through fbgemm's quantized linear.

fbgemm (``torch.ops.quantized.linear_prepack`` / ``linear_dynamic``) is the int8 GEMM that
torch's dynamic quantization uses on x86 CPUs: the float32 input is quantized to uint8 with
one scale per call from its own range, multiplied with the int8 weight (VNNI instructions
where the CPU has them), and the int32 result is scaled back to float32, bias added. Only
the matrix products are int8; gates, cell state, clipping and outputs stay float32, so the
error stays that of rounding each product's inputs to 8 bits.
"""

import warnings
from contextlib import contextmanager
from typing import Any, Iterator, Optional, Sequence

import torch
from torch import Tensor

from ..errors import ElmoInputError, Errors
from .products import (
    Direction,
    ifoj,
    linear_bf16,
    onednn_bf16_available,
    packed_bf16,
    transposed,
)

ENGINE = "fbgemm"


def int8_problem(device: torch.device) -> Optional[str]:
    """Why int8 products cannot run on ``device`` here, or None."""
    if device.type != "cpu":
        return f"the biLM is on {device}, and fbgemm's int8 products run on CPUs only"
    if ENGINE not in torch.backends.quantized.supported_engines:
        return f"this torch build has no {ENGINE} engine ({torch.__version__})"
    return None


@contextmanager
def _engine(name: str) -> Iterator[None]:
    """Pack under ``name``'s engine; the packed weights keep their backend afterwards,
    whatever the process-wide engine is."""
    previous = torch.backends.quantized.engine
    torch.backends.quantized.engine = name
    try:
        yield
    finally:
        torch.backends.quantized.engine = previous


def quantize_per_channel(weight: Tensor, *, gates: bool = False) -> Tensor:
    """Symmetric int8 quantization, one scale per output channel.

    :param weight: ``[in, out]`` as stored in the biLM. *Shape:* ``(K, N)``.
    :param gates: Reorder the output channels from i, j, f, o to i, f, o, j.
    :returns: A quantized ``(N, K)`` tensor (``[out, in]``, as linear expects).
    """
    w = transposed(weight, torch.float32, gates=gates)  # (N, K): one float32 temporary
    # An all-zero channel keeps a positive scale: its values stay exactly zero.
    scale = (w.abs().amax(dim=1) / 127.0).clamp_min(1e-12).to(torch.float64)
    zero = torch.zeros(w.shape[0], dtype=torch.long)
    with warnings.catch_warnings():
        # torch 2.13 marks quantized tensors deprecated; fbgemm's prepack still takes one,
        # and the test suite runs this path, so a future torch that drops it fails loudly.
        warnings.filterwarnings(
            "ignore", message=".*quantized tensor creation", category=UserWarning
        )
        return torch.quantize_per_channel(w, scale, zero, 0, torch.qint8)


def pack(weight: Tensor, bias: Optional[Tensor] = None, *, gates: bool = False) -> object:
    """fbgemm's packed form of ``weight`` (``[in, out]``, *Shape:* ``(K, N)``) and an
    optional float32 ``bias`` (*Shape:* ``(N,)``); ``gates``: both reordered from i, j, f, o
    to i, f, o, j."""
    problem = int8_problem(weight.device)
    if problem is not None:
        raise ElmoInputError(Errors.E122.format(problem=problem))
    b = None if bias is None else bias.detach().to(torch.float32)
    b = None if b is None else (ifoj(b) if gates else b.contiguous())
    with _engine(ENGINE):
        return torch.ops.quantized.linear_prepack(quantize_per_channel(weight, gates=gates), b)


def linear(x: Tensor, packed: object, *, reduce_range: bool) -> Tensor:
    """``x @ W (+ bias)`` with int8 products. *Shapes:* ``(n, K) -> (n, N)``, float32."""
    return torch.ops.quantized.linear_dynamic(x.contiguous(), packed, reduce_range)


class Int8Products:
    """The products of one layer (see :class:`~spacy_elmo.pytorch.products.SteppedProducts`),
    per direction: input (bias and forget bias fused) and recurrent in int8, gates in the
    order i, f, o, j; the projection in bfloat16 where oneDNN runs it (else int8). Measured
    on the embedded default model, an int8 projection doubled the error (median 1.8e-2 ->
    3.0e-2 relative per token) for no measurable speed: its input ``o * tanh(c)`` spans
    [-1, 1] with most values near 0, which one 8-bit scale per call resolves poorly, and it
    is the smallest of the three products.

    fbgemm quantizes a float32 input itself, so the recurrent state stays float32: the loop
    hands it the previous step's output rows (contiguous per direction), no copy.

    Activations use all 8 bits (``reduce_range=False``): CPUs with VNNI accumulate in int32
    and do not saturate. Without VNNI fbgemm's 16-bit intermediate sums may saturate, and
    int8 is slow there anyway (the embedder warns, W005).
    """

    reduce_range = False
    stepped = True
    state_dtype = torch.float32

    def __init__(self, directions: Sequence[Direction]):
        """:param directions: From :meth:`pack`, forward then backward."""
        self.W_x, self.W_h, self.W_p = (list(t) for t in list(zip(*directions))[:3])
        self.m_dtype = torch.bfloat16 if isinstance(self.W_p[0], Tensor) else torch.float32

    @staticmethod
    def pack(W_x: Tensor, W_h: Tensor, W_p: Tensor, bias: Tensor) -> Direction:
        """One direction: ``W_x``, ``W_h`` *Shape:* ``(P, 4D)``; ``W_p`` *Shape:*
        ``(D, P)``; ``bias`` (forget bias included) *Shape:* ``(4D,)``, fused into W_x;
        gates i, j, f, o."""
        if onednn_bf16_available(W_p.device):
            W_p_packed: object = packed_bf16(W_p)
        else:
            W_p_packed = pack(W_p)
        return pack(W_x, bias, gates=True), pack(W_h, gates=True), W_p_packed, bias

    def input(self, x: Tensor, out: Tensor) -> None:
        for d in range(2):
            out[d].copy_(linear(x[d], self.W_x[d], reduce_range=self.reduce_range))

    def recurrent(self, h: Any, z: Tensor) -> None:
        for d in range(2):
            z[d].add_(linear(h[d], self.W_h[d], reduce_range=self.reduce_range))

    def project(self, m: Tensor, out: Tensor) -> None:
        self.project_step(m, out, None)

    def project_step(self, m: Tensor, out: Tensor, proj_clip: Optional[float]) -> None:
        for d in range(2):
            W_p = self.W_p[d]
            if isinstance(W_p, Tensor):  # bfloat16, oneDNN layout
                y = linear_bf16(m[d], W_p)
            else:
                y = linear(m[d], W_p, reduce_range=self.reduce_range)
            if proj_clip:
                y.clamp_(-proj_clip, proj_clip)
            out[d].copy_(y)
