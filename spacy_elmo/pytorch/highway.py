"""Highway layers (Srivastava et al., 2015) in the bilm-tf form (docs/format.md §7)."""

from typing import Optional

import torch
from torch import Tensor, nn


class Highway(nn.Module):
    """``n_layers`` highway layers of width ``F``.

    For each layer: ``carry = σ(x·W_carry + b_carry)``, ``t = relu(x·W_transform + b_transform)``,
    ``y = carry ⊙ t + (1 − carry) ⊙ x``. The non-linearity is always ReLU, whatever the char-CNN
    activation is. Both projections run as one GEMM over a fused ``[W_transform | W_carry]``
    weight, stored ``[in, out]`` as in the file, so loading and saving are exact copies.
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
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for w, b in zip(self.weight, self.bias):
            nn.init.normal_(w, std=(1.0 / self.width) ** 0.5)
            with torch.no_grad():
                b.zero_()
                # Start close to the identity: carry gate mostly closed (bilm-tf inits -2).
                b[self.width :].fill_(-2.0)

    def forward(self, x: Tensor) -> Tensor:
        """
        :param x: *Shape:* ``(N, F)``.
        :returns: *Shape:* ``(N, F)``.
        """
        F = self.width
        for w, b in zip(self.weight, self.bias):
            z = torch.addmm(b, x, w)  # (N, 2F)
            carry = torch.sigmoid(z[:, F:])
            transform = torch.relu(z[:, :F])
            x = carry * transform + (1.0 - carry) * x
        return x
