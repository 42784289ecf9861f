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

from ..pytorch.lstm import ElmoLstm, LSTMState


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
    x = inputs.transpose(1, 2)  # (2, U, B, P)
    outputs: List[Tensor] = []
    final_h: List[Tensor] = []
    final_c: List[Tensor] = []
    for l in range(cfg.n_layers):
        h, c = state.h[l], state.c[l]
        bias = (lstm.bias[l] + lstm.forget_bias).unsqueeze(1)  # (2, 1, 4D)
        xw = torch.baddbmm(bias, x.reshape(2, U * B, P), lstm.input_weight[l])
        W_h, W_p = lstm.recurrent_weight[l], lstm.proj_weight[l]
        steps: List[Tensor] = []
        for xw_t in xw.view(2, U, B, 4 * D).unbind(1):  # (2, B, 4D)
            z = torch.baddbmm(xw_t, h, W_h)  # TF gate order i j f o
            i, j, f, o = z.chunk(4, dim=2)
            c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(j)
            if cfg.cell_clip:
                c = c.clamp(-cfg.cell_clip, cfg.cell_clip)
            h = torch.bmm(torch.sigmoid(o) * torch.tanh(c), W_p)  # (2, B, P)
            if cfg.proj_clip:
                h = h.clamp(-cfg.proj_clip, cfg.proj_clip)
            steps.append(h)
        h_seq = torch.stack(steps, dim=1)  # (2, U, B, P)
        if l > 0 and cfg.use_skip_connections:
            h_seq = h_seq + x
        outputs.append(h_seq)
        final_h.append(h)
        final_c.append(c)
        x = h_seq
    out = torch.stack(outputs).transpose(2, 3)  # (L, 2, B, U, P)
    return out, LSTMState(torch.stack(final_h), torch.stack(final_c))
