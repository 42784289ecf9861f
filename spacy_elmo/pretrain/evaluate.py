"""Held-out perplexity of the forward and backward LMs."""

import math
from typing import Dict, Optional

import numpy as np
import torch

from .batching import eval_windows
from .model import BiLMLanguageModel
from .text import EncodedText
from .vocab import BOS_ID, EOS_ID, Vocab


def lm_targets(targets: np.ndarray, type_to_out: torch.Tensor) -> torch.Tensor:
    """Softmax ids of a window's target types; ``-1`` where nothing is predicted: ``<S>``
    after ``</S>`` (forward) and ``</S>`` after ``<S>`` (backward) are given by the stream,
    never needed at inference, and would flatter the perplexity.

    :param targets: Type ids. *Shape:* ``(2, B, U)``.
    :param type_to_out: Softmax id of every type. *Shape:* ``(n_types,)``.
    :returns: *Shape:* ``(2, B, U)``, int64.
    """
    t = torch.from_numpy(np.ascontiguousarray(targets, dtype=np.int64))
    out = type_to_out[t]
    out[0][t[0] == BOS_ID] = -1
    out[1][t[1] == EOS_ID] = -1
    return out


@torch.no_grad()
def evaluate_text(
    model: BiLMLanguageModel,
    text: EncodedText,
    vocab: Vocab,
    *,
    batch_size: int = 64,
    unroll_steps: int = 20,
    max_tokens: Optional[int] = None,
    device: Optional[torch.device] = None,
) -> Dict[str, float]:
    """Perplexity over ``text`` read as continuous streams (states carried between windows,
    as in training), in file order.

    :returns: ``forward``/``backward`` perplexities, their geometric mean ``average``
        (``exp`` of the mean NLL of both directions) and ``n_tokens`` per direction.
    """
    was_training = model.training
    model.eval()
    device = device or next(model.parameters()).device
    type_to_out = torch.from_numpy(vocab.lookup(text.types))
    char_table = text.char_table().to(device)
    nll = torch.zeros(2, dtype=torch.float64)
    n = torch.zeros(2, dtype=torch.float64)
    state = None
    for window in eval_windows(
        text, n_rows=batch_size, unroll_steps=unroll_steps, max_tokens=max_tokens
    ):
        inputs = torch.from_numpy(np.ascontiguousarray(window.inputs, dtype=np.int64)).to(device)
        targets = lm_targets(window.targets, type_to_out).to(device)
        out = model(inputs, targets, char_table, state)
        state = out.state
        nll += out.nll.double().cpu()
        n += out.n_targets.double().cpu()
    model.train(was_training)
    if n.min() == 0:
        return {
            "forward": float("nan"),
            "backward": float("nan"),
            "average": float("nan"),
            "n_tokens": 0,
        }
    per = nll / n
    return {
        "forward": math.exp(per[0]),
        "backward": math.exp(per[1]),
        "average": math.exp(per.mean()),
        "n_tokens": int(n[0]),
    }
