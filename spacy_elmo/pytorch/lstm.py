"""Stacked forward and backward LSTMs with projection and clipping (elmo-format.md §7-8).

Both directions run in the same time loop as batched matrix products over a leading
direction axis of size 2. The backward direction is handed its rows already reversed in
time, so every direction runs "forwards" here. The input GEMM of a layer does not depend on
the recurrence and runs once over all timesteps before the loop.
"""
from typing import List, NamedTuple, Optional, Tuple

import torch
from torch import Tensor, nn

from ..errors import ElmoInputError, Errors
from .config import LSTMConfig


class LSTMState(NamedTuple):
    """Recurrent state of every layer and direction (index 0 forward, 1 backward).

    h: *Shape:* ``(n_layers, 2, batch_size, P)``.
    c: *Shape:* ``(n_layers, 2, batch_size, D)``.
    """

    h: Tensor
    c: Tensor

    @property
    def batch_size(self) -> int:
        return self.h.shape[2]

    def index_rows(self, index: Tensor) -> "LSTMState":
        return LSTMState(self.h.index_select(2, index), self.c.index_select(2, index))

    def detach(self) -> "LSTMState":
        return LSTMState(self.h.detach(), self.c.detach())


class ElmoLstm(nn.Module):
    """``n_layers`` LSTM layers with projection per direction (Peters et al., 2018).

    Parameters keep the file's layout and TF gate order (i, j, f, o) so that loading and
    saving are exact copies; the forget-gate bias of +1, which TF adds at run time and never
    stores, is added at run time here too.
    """

    def __init__(self, *, config: LSTMConfig, device: Optional[torch.device] = None):
        """
        :param config: The LSTM architecture.
        :param device: Device to create the parameters on.
        """
        super().__init__()
        self.config = config
        L, P, D = config.n_layers, config.projection_dim, config.dim

        def params(*shape: int) -> nn.ParameterList:
            return nn.ParameterList(
                [nn.Parameter(torch.empty(*shape, device=device)) for _ in range(L)]
            )

        # W_0 rows [0, P) and [P, 2P): (2, P, 4D) per layer, [in, out].
        self.input_weight = params(2, P, 4 * D)
        self.recurrent_weight = params(2, P, 4 * D)
        self.bias = params(2, 4 * D)
        self.proj_weight = params(2, D, P)  # W_P_0, no bias
        forget = torch.zeros(4 * D, device=device)
        forget[2 * D : 3 * D] = 1.0
        self.register_buffer("forget_bias", forget, persistent=False)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        P, D = self.config.projection_dim, self.config.dim
        with torch.no_grad():
            for l in range(self.config.n_layers):
                for w in (self.input_weight[l], self.recurrent_weight[l]):
                    nn.init.uniform_(w, -(1.0 / P) ** 0.5, (1.0 / P) ** 0.5)
                self.bias[l].zero_()
                nn.init.uniform_(self.proj_weight[l], -(1.0 / D) ** 0.5, (1.0 / D) ** 0.5)

    def zero_state(self, batch_size: int) -> LSTMState:
        L, P, D = self.config.n_layers, self.config.projection_dim, self.config.dim
        w = self.proj_weight[0]
        return LSTMState(w.new_zeros(L, 2, batch_size, P), w.new_zeros(L, 2, batch_size, D))

    def forward(
        self, inputs: Tensor, lengths: Tensor, state: Optional[LSTMState] = None
    ) -> Tuple[Tensor, LSTMState]:
        """Run both directions of every layer.

        :param inputs: Direction-major inputs; the backward rows reversed in time within
            their length. Positions past a row's length must be zero.
            *Shape:* ``(2, batch_size, T, P)``.
        :param lengths: Row lengths, sorted in descending order. *Shape:* ``(batch_size,)``.
        :param state: Initial state (``None`` for zeros).
        :returns: The outputs of every layer, residual connections included, zero past each
            row's length. *Shape:* ``(n_layers, 2, batch_size, T, P)``. And the final state of
            every row: the state after its last valid step.
        """
        _, B, T, P = inputs.shape
        cfg = self.config
        if state is None:
            state = self.zero_state(B)
        elif state.h.shape != (cfg.n_layers, 2, B, P) or state.c.shape != (
            cfg.n_layers,
            2,
            B,
            cfg.dim,
        ):
            raise ElmoInputError(
                Errors.E111.format(
                    found=(tuple(state.h.shape), tuple(state.c.shape)),
                    expected=((cfg.n_layers, 2, B, P), (cfg.n_layers, 2, B, cfg.dim)),
                )
            )
        # Number of rows still running at each timestep (rows are sorted by length).
        lengths_list = lengths.tolist()
        n_active = [sum(1 for n in lengths_list if n > t) for t in range(T)]
        x = inputs.transpose(1, 2)  # (2, T, B, P): time-major keeps a step's rows contiguous
        outputs: List[Tensor] = []
        final_h: List[Tensor] = []
        final_c: List[Tensor] = []
        for l in range(cfg.n_layers):
            h_seq, h_l, c_l = self._layer(l, x, n_active, state.h[l], state.c[l])
            if l > 0 and cfg.use_skip_connections:
                h_seq = h_seq + x
            outputs.append(h_seq)
            final_h.append(h_l)
            final_c.append(c_l)
            x = h_seq
        out = torch.stack(outputs).transpose(2, 3)  # (L, 2, B, T, P)
        return out, LSTMState(torch.stack(final_h), torch.stack(final_c))

    def _layer(
        self, l: int, x: Tensor, n_active: List[int], h: Tensor, c: Tensor
    ) -> Tuple[Tensor, Tensor, Tensor]:
        """One layer, both directions. ``x``: (2, T, B, P); ``h``: (2, B, P); ``c``: (2, B, D)."""
        _, T, B, P = x.shape
        D = self.config.dim
        cell_clip, proj_clip = self.config.cell_clip, self.config.proj_clip
        W_h, W_p = self.recurrent_weight[l], self.proj_weight[l]
        bias = (self.bias[l] + self.forget_bias).unsqueeze(1)  # (2, 1, 4D)
        # The input GEMM does not depend on the recurrence: run it for a block of timesteps
        # at once (blocks bound the memory of the (2, T, B, 4D) pre-activations).
        block = max(1, (1 << 22) // max(1, 2 * B * 4 * D))
        xw = x.new_empty(0)
        steps: List[Tensor] = []
        for t in range(T):
            if t % block == 0:
                tb = min(block, T - t)
                xw = torch.baddbmm(bias, x[:, t : t + tb].reshape(2, tb * B, P), self.input_weight[l])
                xw = xw.view(2, tb, B, 4 * D)
            n = n_active[t]
            if n == 0:
                steps.append(x.new_zeros(2, B, P))
                continue
            z = torch.baddbmm(xw[:, t % block, :n], h[:, :n], W_h)  # (2, n, 4D), TF order i j f o
            i, j, f, o = z.chunk(4, dim=2)
            c_new = torch.sigmoid(f) * c[:, :n] + torch.sigmoid(i) * torch.tanh(j)
            if cell_clip:
                c_new = c_new.clamp(-cell_clip, cell_clip)
            h_new = torch.bmm(torch.sigmoid(o) * torch.tanh(c_new), W_p)  # (2, n, P)
            if proj_clip:
                h_new = h_new.clamp(-proj_clip, proj_clip)
            if n < B:
                # Finished rows keep their last state and output zeros from here on.
                steps.append(torch.cat([h_new, x.new_zeros(2, B - n, P)], dim=1))
                h = torch.cat([h_new, h[:, n:]], dim=1)
                c = torch.cat([c_new, c[:, n:]], dim=1)
            else:
                steps.append(h_new)
                h, c = h_new, c_new
        if not steps:
            return x.new_zeros(2, 0, B, P), h, c
        return torch.stack(steps, dim=1), h, c  # (2, T, B, P)
