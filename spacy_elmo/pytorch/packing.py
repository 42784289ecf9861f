"""Which products a precision uses: the packer of each dtype for the biLSTM's layers
(:func:`layer_products`) and single reduced-precision matrices (:class:`ReducedLinear`, the
lean char CNN's highway layers). It chooses between :mod:`~spacy_elmo.pytorch.products`
(float32, bfloat16) and :mod:`~spacy_elmo.pytorch.quantize` (int8), which import neither
this module nor each other's dispatch.
"""

from typing import Any, Callable, Sequence, Tuple

import torch
from torch import Tensor

from .products import (
    BatchedProducts,
    Direction,
    LayerProducts,
    PackedBf16Products,
    _batched,
    _copies,
    linear_bf16,
    onednn_bf16_available,
    packed_bf16,
)
from .quantize import Int8Products, linear, pack


def packer(
    dtype: torch.dtype, device: torch.device
) -> Tuple[Callable[..., Direction], Callable[[Sequence[Direction]], LayerProducts]]:
    """How ``dtype`` (float32, bfloat16 or int8) stores one direction's weights on
    ``device``, and how it makes a layer's products from its two directions: bfloat16 reorders
    for oneDNN where oneDNN runs bfloat16 there, else keeps plain copies for ``bmm``."""
    if dtype == torch.int8:
        return Int8Products.pack, Int8Products
    if dtype == torch.bfloat16 and onednn_bf16_available(device):
        return PackedBf16Products.pack, PackedBf16Products
    return _copies(dtype), _batched


def layer_products(
    dtype: torch.dtype, W_x: Tensor, W_h: Tensor, W_p: Tensor, bias: Tensor
) -> LayerProducts:
    """The products of one layer in ``dtype``. ``W_x``, ``W_h``: *Shape:* ``(2, P, 4D)``;
    ``W_p``: *Shape:* ``(2, D, P)``; ``bias`` (forget bias included): *Shape:* ``(2, 4D)``."""
    if dtype == W_x.dtype:  # the parameters themselves: exact, nothing copied
        return BatchedProducts(W_x, W_h, W_p, bias)
    pack, make = packer(dtype, W_x.device)
    with torch.no_grad():
        return make([pack(W_x[d], W_h[d], W_p[d], bias[d]) for d in range(2)])


class ReducedLinear:
    """``x @ W + b`` of one matrix held only in a reduced precision: the highway layers of a
    lean char CNN. float32 in, float32 out; only the product is rounded (bfloat16: oneDNN
    packed where it runs, else a plain copy; int8: fbgemm per channel, bias fused)."""

    def __init__(self, weight: Tensor, bias: Tensor, dtype: torch.dtype):
        """``weight`` ``[in, out]``: *Shape:* ``(K, N)``; ``bias``: *Shape:* ``(N,)``."""
        self.dtype = dtype
        self.bias = bias.detach().to(torch.float32).clone()
        self.onednn = dtype == torch.bfloat16 and onednn_bf16_available(weight.device)
        if dtype == torch.int8:
            self.weight: Any = pack(weight, self.bias)
        elif self.onednn:
            self.weight = packed_bf16(weight)
        else:
            self.weight = weight.detach().to(dtype).clone()

    def __call__(self, x: Tensor) -> Tensor:
        """*Shapes:* ``(n, K) -> (n, N)``, float32."""
        if self.dtype == torch.int8:
            return linear(x, self.weight, reduce_range=False)
        if self.onednn:
            return torch.add(linear_bf16(x, self.weight), self.bias)  # promoted to float32
        return torch.add(torch.mm(x.to(self.dtype), self.weight), self.bias)
