"""Highway layers (Srivastava et al., 2015) in the bilm-tf form (docs/format.md §7)."""

from functools import partial
from typing import Callable, List, Optional

import torch
from torch import Tensor, nn

from ..errors import ElmoInputError, Errors
from .packing import ReducedLinear


class Highway(nn.Module):
    """``n_layers`` highway layers of width ``F``.

    For each layer: ``carry = σ(x·W_carry + b_carry)``, ``t = relu(x·W_transform + b_transform)``,
    ``y = carry ⊙ t + (1 − carry) ⊙ x``. The non-linearity is always ReLU, whatever the char-CNN
    activation is. Both projections run as one GEMM over a fused ``[W_transform | W_carry]``
    weight, stored ``[in, out]`` as in the file, so loading and saving are exact copies.

    A highway used only for inference at one reduced precision can drop its float32
    weights (:meth:`make_lean`): 67 MB at full size, half of it kept in bfloat16 or a
    quarter in int8. Saving or training it is then a coded error (E123).
    """

    def __init__(self, *, width: int, n_layers: int, device: Optional[torch.device] = None):
        """
        :param width: The feature width ``F``.
        :param n_layers: Number of highway layers (0 for none).
        :param device: Device to create the parameters on.
        """
        super().__init__()
        self.width = width
        # (F, 2F): columns [transform | carry]
        self.weight = nn.ParameterList(
            [nn.Parameter(torch.empty(width, 2 * width, device=device)) for _ in range(n_layers)]
        )
        self.bias = nn.ParameterList(
            [nn.Parameter(torch.empty(2 * width, device=device)) for _ in range(n_layers)]
        )
        # The reduced-precision products of a lean highway, else None: see make_lean.
        self.lean: List[ReducedLinear] = []
        self.lean_dtype: Optional[torch.dtype] = None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for w, b in zip(self.weight, self.bias):
            nn.init.normal_(w, std=(1.0 / self.width) ** 0.5)
            with torch.no_grad():
                b.zero_()
                # Start close to the identity: carry gate mostly closed (bilm-tf inits -2).
                b[self.width :].fill_(-2.0)

    def make_lean(self, dtype: torch.dtype) -> None:
        """Keep each layer's weight only in ``dtype`` (bfloat16 or int8), layer by layer, and
        drop the float32 weights; biases stay float32 (also inside the products)."""
        if self.lean_dtype is not None:
            if dtype != self.lean_dtype:
                raise ElmoInputError(
                    Errors.E121.format(lean=_name(self.lean_dtype), asked=_name(dtype))
                )
            return
        lean: List[ReducedLinear] = []
        for w, b in zip(self.weight, self.bias):
            lean.append(ReducedLinear(w, b, dtype))
            w.data = torch.empty(0, device=w.device)  # free this layer's float32 weight now
        del self._modules["weight"]
        self.lean, self.lean_dtype = lean, dtype

    def __getattr__(self, name: str):
        lean_dtype = self.__dict__.get("lean_dtype")
        if name == "weight" and lean_dtype is not None:
            raise ElmoInputError(Errors.E123.format(precision=_name(lean_dtype)))
        return super().__getattr__(name)

    def forward(self, x: Tensor) -> Tensor:
        """
        :param x: *Shape:* ``(N, F)``.
        :returns: *Shape:* ``(N, F)``.
        """
        F = self.width
        products: List[Callable[[Tensor], Tensor]]
        if self.lean_dtype is not None:
            if torch.is_grad_enabled() and x.requires_grad:
                raise ElmoInputError(Errors.E123.format(precision=_name(self.lean_dtype)))
            products = list(self.lean)
        else:
            products = [partial(torch.addmm, b, mat2=w) for w, b in zip(self.weight, self.bias)]
        for product in products:
            z = product(x)  # (N, 2F)
            carry = torch.sigmoid(z[:, F:])
            transform = torch.relu(z[:, :F])
            x = carry * transform + (1.0 - carry) * x
        return x


def _name(dtype: torch.dtype) -> str:
    return str(dtype).split(".")[-1]
