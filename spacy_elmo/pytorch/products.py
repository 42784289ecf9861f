"""The three matrix products of one biLSTM layer (input, recurrent, projection), in one
precision, for the inference loop of :class:`~spacy_elmo.pytorch.lstm.ElmoLstm`.

Each precision hides how its weights are stored behind the same three calls, so the loop
is written once:

- float32: batched products over the direction axis with the parameters themselves (the
  calls of the autograd loop, so the two loops agree bitwise);
- bfloat16: per direction, oneDNN linear products on weights reordered once into oneDNN's
  blocked layout (``torch.ops.mkldnn._reorder_linear_weight``, the op ``torch.compile``
  uses for CPU linears): 1.5-2x faster than ``bmm`` on the same bfloat16 weights at the
  recurrent step's shape, because the weight is not re-packed at every call. Where oneDNN
  cannot run bfloat16 (not a CPU, or a CPU without it) the products fall back to ``bmm`` on
  plain bfloat16 copies;
- int8: :mod:`spacy_elmo.pytorch.quantize`.

Which of these a precision uses is chosen in :mod:`spacy_elmo.pytorch.packing`, the one
module that sees both this one and :mod:`~spacy_elmo.pytorch.quantize` (so neither imports
the other).

Products in bfloat16 or int8 are added into float32 buffers: biases, gates, cell state,
clipping and outputs stay float32.

The packed products (oneDNN bfloat16, int8) are also :class:`SteppedProducts`: their weights
are derived copies anyway, so their gate columns are stored in the order i, f, o, j (one
``sigmoid_`` over the three contiguous sigmoid gates per step), and the loop hands them the
recurrent state and ``o * tanh(c)`` already in the dtype their GEMMs read (no conversion per
product). The float32 parameters and their products keep the file's order i, j, f, o.
"""

from typing import Any, Callable, List, Optional, Protocol, Sequence, Tuple

import torch
from torch import Tensor


class LayerProducts(Protocol):
    """The products of one layer, both directions (index 0 forward, 1 backward)."""

    def input(self, x: Tensor, out: Tensor) -> None:
        """``out = x @ W_x + bias``. ``x``: *Shape:* ``(2, R, P)`` float32;
        ``out``: *Shape:* ``(2, R, 4D)`` float32, written in place."""

    def recurrent(self, h: Any, z: Tensor) -> None:
        """``z += h @ W_h``. ``h``: *Shape:* ``(2, n, P)`` (or, for :class:`SteppedProducts`,
        a sequence of the two directions' ``(n, P)``); ``z``: *Shape:* ``(2, n, 4D)``."""

    def project(self, m: Tensor, out: Tensor) -> None:
        """``out = m @ W_p``. ``m``: *Shape:* ``(2, n, D)``; ``out``: *Shape:* ``(2, n, P)``."""


class SteppedProducts(LayerProducts, Protocol):
    """Products whose gates are in the order i, f, o, j and whose step reads the state in
    its GEMM's dtype (:meth:`ElmoLstm._layer_inference` checks ``stepped``)."""

    stepped: bool  # True
    state_dtype: torch.dtype  # dtype of ``h`` handed to :meth:`recurrent`
    m_dtype: torch.dtype  # dtype of ``m`` handed to :meth:`project_step`

    def project_step(
        self, m: Tensor, out: Tensor, proj_clip: Optional[float]
    ) -> Optional[List[Tensor]]:
        """``out = clip(m @ W_p)`` in float32 (*Shape:* ``(2, n, P)``, each direction
        contiguous). Returns the same per direction in ``state_dtype`` when that is not
        float32 (the next step's ``h``: its first rows), else None (``out`` is)."""


def ifoj_columns(weight: Tensor) -> List[Tensor]:
    """The four gate blocks of ``weight``'s last axis (TF order i, j, f, o), as views in the
    order i, f, o, j: the sigmoid gates then form one contiguous slice."""
    i, j, f, o = weight.chunk(4, dim=-1)
    return [i, f, o, j]


def transposed(weight: Tensor, dtype: torch.dtype, *, gates: bool = False) -> Tensor:
    """``weight`` (*Shape:* ``(K, N)``, ``[in, out]``) as ``(N, K)`` in ``dtype``, contiguous
    (as linear wants); ``gates``: its columns reordered from i, j, f, o to i, f, o, j.
    Block by block into one tensor: ``t().to()`` keeps the transposed strides and
    ``contiguous()`` would copy again, and loading converts 16 MB matrices one after another."""
    w = torch.empty(weight.shape[1], weight.shape[0], dtype=dtype, device=weight.device)
    row = 0
    for block in ifoj_columns(weight.detach()) if gates else [weight.detach()]:
        w[row : row + block.shape[1]].copy_(block.t())
        row += block.shape[1]
    return w


def ifoj(weight: Tensor) -> Tensor:
    """``weight`` (gates on its last axis) with its gate blocks reordered to i, f, o, j."""
    return torch.cat(ifoj_columns(weight), dim=-1)


class BatchedProducts:
    """``bmm`` over the direction axis with weights in ``W_x``'s dtype: float32 (the
    parameters themselves, exact) or plain lower-precision copies (the portable fallback)."""

    def __init__(self, W_x: Tensor, W_h: Tensor, W_p: Tensor, bias: Tensor):
        """``W_x``, ``W_h``: *Shape:* ``(2, P, 4D)``; ``W_p``: *Shape:* ``(2, D, P)``;
        ``bias`` (float32, forget bias included): *Shape:* ``(2, 4D)``."""
        self.W_x, self.W_h, self.W_p = W_x, W_h, W_p
        self.bias = bias.unsqueeze(1)  # (2, 1, 4D)
        self.exact = W_x.dtype == bias.dtype

    def input(self, x: Tensor, out: Tensor) -> None:
        if self.exact:
            torch.baddbmm(self.bias, x, self.W_x, out=out)
        else:
            torch.add(torch.bmm(x.to(self.W_x.dtype), self.W_x), self.bias, out=out)

    def recurrent(self, h: Tensor, z: Tensor) -> None:
        if self.exact:
            z.baddbmm_(h, self.W_h)
        else:
            z.add_(torch.bmm(h.to(self.W_h.dtype), self.W_h))

    def project(self, m: Tensor, out: Tensor) -> None:
        if self.exact:
            torch.bmm(m, self.W_p, out=out)
        else:
            out.copy_(torch.bmm(m.to(self.W_p.dtype), self.W_p))


def onednn_bf16_available(device: torch.device) -> bool:
    """Whether oneDNN can run bfloat16 linears on ``device`` (CPUs with bfloat16 support)."""
    if device.type != "cpu" or not torch.backends.mkldnn.is_available():
        return False
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):  # an op this torch build lacks
        return False


def packed_bf16(weight: Tensor, *, gates: bool = False) -> Tensor:
    """``weight`` (*Shape:* ``(K, N)``, ``[in, out]``) in bfloat16, reordered for oneDNN's
    linear (an opaque tensor); ``gates``: its columns reordered from i, j, f, o to i, f, o, j.
    The batch-size hint (32) did not change the speed for 1 to 64 rows when measured."""
    w = transposed(weight, torch.bfloat16, gates=gates)  # no float32 temporary
    return torch.ops.mkldnn._reorder_linear_weight(w, 32)


def linear_bf16(x: Tensor, packed: Tensor) -> Tensor:
    """``x @ W`` in bfloat16 with a weight from :func:`packed_bf16`. *(n, K) -> (n, N)*
    (no copy when ``x`` is already contiguous bfloat16)."""
    return torch.ops.mkldnn._linear_pointwise(
        x.to(torch.bfloat16).contiguous(), packed, None, "none", [], ""
    )


# One direction's weights as a precision stores them: (W_x, W_h, W_p, bias).
Direction = Tuple[Any, Any, Any, Tensor]


class PackedBf16Products:
    """Per direction, oneDNN bfloat16 linears on weights reordered once; gates (columns of
    ``W_x``, ``W_h`` and the bias) in the order i, f, o, j. The recurrent state and ``m``
    arrive in bfloat16 (:class:`SteppedProducts`)."""

    stepped = True
    state_dtype = torch.bfloat16
    m_dtype = torch.bfloat16

    def __init__(self, directions: Sequence[Direction]):
        """:param directions: From :meth:`pack`, forward then backward."""
        self.W_x, self.W_h, self.W_p, bias = (list(t) for t in zip(*directions))
        self.bias = torch.stack(bias)  # (2, 4D) float32, i f o j

    @staticmethod
    def pack(W_x: Tensor, W_h: Tensor, W_p: Tensor, bias: Tensor) -> Direction:
        """One direction: ``W_x``, ``W_h`` *Shape:* ``(P, 4D)``; ``W_p`` *Shape:*
        ``(D, P)``; ``bias`` (forget bias included) *Shape:* ``(4D,)``; gates i, j, f, o."""
        packed = packed_bf16(W_x, gates=True), packed_bf16(W_h, gates=True), packed_bf16(W_p)
        return (*packed, ifoj(bias.detach().to(torch.float32)))

    def input(self, x: Tensor, out: Tensor) -> None:
        for d in range(2):
            torch.add(linear_bf16(x[d], self.W_x[d]), self.bias[d], out=out[d])

    def recurrent(self, h: Any, z: Tensor) -> None:
        for d in range(2):
            z[d].add_(linear_bf16(h[d], self.W_h[d]))

    def project(self, m: Tensor, out: Tensor) -> None:
        for d in range(2):
            out[d].copy_(linear_bf16(m[d], self.W_p[d]))

    def project_step(
        self, m: Tensor, out: Tensor, proj_clip: Optional[float]
    ) -> Optional[List[Tensor]]:
        ys = []
        for d in range(2):
            y = linear_bf16(m[d], self.W_p[d])  # bfloat16 out of oneDNN: the next step's h
            if proj_clip:
                y.clamp_(-proj_clip, proj_clip)
            out[d].copy_(y)
            ys.append(y)
        return ys


def _copies(dtype: torch.dtype) -> Callable[..., Direction]:
    def pack(W_x: Tensor, W_h: Tensor, W_p: Tensor, bias: Tensor) -> Direction:
        return W_x.detach().to(dtype), W_h.detach().to(dtype), W_p.detach().to(dtype), bias

    return pack


def _batched(directions: Sequence[Direction]) -> BatchedProducts:
    W_x, W_h, W_p, bias = (torch.stack(list(t)) for t in zip(*directions))
    return BatchedProducts(W_x, W_h, W_p, bias)
