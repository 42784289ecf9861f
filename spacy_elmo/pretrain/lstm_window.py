"""A training-speed path through :class:`~spacy_elmo.pytorch.lstm.ElmoLstm`'s parameters for
full windows (every row has ``U`` steps), as in truncated BPTT.

Same function as ``ElmoLstm.forward`` with equal lengths (tested to 1e-6). The difference is
in the backward pass: the per-step input pre-activations are taken with one ``unbind``
instead of an index per step, whose backward would zero-fill and accumulate a full
``(2, U, B, 4D)`` gradient at every step (O(U^2) memory traffic; a quarter of the step time
in the profile).
"""

from typing import List, Optional, Tuple

import torch
from torch import Tensor

from ..pytorch.lstm import ElmoLstm, LSTMState, lstm_step, stack_layers


def lstm_window(
    lstm: ElmoLstm, inputs: Tensor, state: Optional[LSTMState] = None
) -> Tuple[Tensor, LSTMState]:
    """Both directions of every layer over full-length rows.

    :param inputs: Direction-major, backward rows already reversed. *Shape:* ``(2, B, U, P)``.
    :param state: Initial state (``None``: zeros).
    :returns: Outputs of every layer, residuals included. *Shape:* ``(L, 2, B, U, P)``.
        And the state after the last step.
    """
    _, B, U, P = inputs.shape
    cfg = lstm.config
    D = cfg.dim
    if state is None:
        state = lstm.zero_state(B)
    if not lstm.needs_autograd(inputs, state):
        # Nothing to backpropagate (held-out evaluation): ElmoLstm's in-place loop.
        return lstm(inputs, torch.full((B,), U, dtype=torch.long), state)

    def layer(l: int, x: Tensor, h: Tensor, c: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
        bias = (lstm.bias[l] + lstm.forget_bias).unsqueeze(1)  # (2, 1, 4D)
        xw = torch.baddbmm(bias, x.reshape(2, U * B, P), lstm.input_weight[l])
        W_h, W_p = lstm.recurrent_weight[l], lstm.proj_weight[l]
        steps: List[Tensor] = []
        for xw_t in xw.view(2, U, B, 4 * D).unbind(1):  # (2, B, 4D)
            h, c = lstm_step(xw_t, h, c, W_h, W_p, cell_clip=cfg.cell_clip, proj_clip=cfg.proj_clip)
            steps.append(h)
        return torch.stack(steps, dim=1), h, c  # (2, U, B, P)

    x = inputs.transpose(1, 2)  # (2, U, B, P)
    return stack_layers(x, state, layer, use_skip_connections=cfg.use_skip_connections)
