"""Training the biLM inside ``spacy train``: which parameters, their update, their files.

``BiLMSettings.trainable_layers`` picks the parameters ("top" / N: the top N LSTM layers;
"all": the char CNN and every LSTM layer). They are updated by the training's own thinc
optimizer with ``lr_scale=learning_rate_scale`` (discriminative learning rates, Howard and
Ruder, 2018): the same Adam moments, schedule, gradient clipping and weight decay as the rest
of the pipeline, keyed per parameter like thinc's own PyTorch shim, so no second optimizer
and no second learning-rate schedule can drift from the training config.

Every listener's gradient is summed (:class:`GradientSum`) and sent through the biLM once per
batch. Fine-tuned weights are written as a bilm-tf weights.hdf5
(:func:`spacy_elmo.weights.save_weights`); a biLM that was never updated keeps its files.
"""

import tempfile
from pathlib import Path
from typing import Callable, Dict, List, Optional, Union, cast

import torch
from thinc.api import Optimizer, torch2xp, xp2torch
from thinc.types import FloatsXd
from torch import nn

from ..errors import ElmoInputError, Errors
from ..pytorch.bilm import ELMoBiLM
from ..weights import save_weights
from .types import LayersOutT

#: The LSTM's parameter lists, one entry per layer (``ElmoLstm``).
_LSTM_LISTS = ("input_weight", "recurrent_weight", "bias", "proj_weight")


def n_trained_lstm_layers(trainable_layers: Union[str, int], n_layers: int) -> int:
    """How many top LSTM layers ``trainable_layers`` trains (E219 for more than the biLM
    has)."""
    if trainable_layers == "all":
        return n_layers
    if trainable_layers == "top":
        return 1
    if trainable_layers == "none":
        return 0
    assert isinstance(trainable_layers, int)
    if trainable_layers > n_layers:
        raise ElmoInputError(Errors.E219.format(value=trainable_layers, n_layers=n_layers))
    return trainable_layers


def trained_parameters(
    bilm: ELMoBiLM, trainable_layers: Union[str, int]
) -> Dict[str, nn.Parameter]:
    """The parameters ``trainable_layers`` trains, by their ``named_parameters`` name."""
    L = bilm.config.lstm.n_layers
    top = n_trained_lstm_layers(trainable_layers, L)
    names = {f"lstm.{kind}.{l}" for kind in _LSTM_LISTS for l in range(L - top, L)}
    below = trainable_layers == "all"
    return {
        name: p
        for name, p in bilm.named_parameters()
        if name in names or (below and not name.startswith("lstm."))
    }


def unfreeze(bilm: ELMoBiLM, trainable_layers: Union[str, int], *, precision: str) -> List[str]:
    """Let the chosen parameters (only them) require grad; their names. E227 for a lean
    biLM (no float32 weights to train)."""
    if getattr(bilm.lstm, "lean_dtype", None) is not None:
        raise ElmoInputError(Errors.E227.format(value=trainable_layers, precision=precision))
    chosen = trained_parameters(bilm, trainable_layers)
    for name, p in bilm.named_parameters():
        p.requires_grad_(name in chosen)
    return sorted(chosen)


def apply_update(
    bilm: ELMoBiLM, names: List[str], optimizer: Optimizer, *, key_id: int, lr_scale: float
) -> bool:
    """One optimizer step on the named parameters that have a gradient; whether any did.

    Weights are changed in place under ``no_grad`` (not through ``.data``), so their version
    counters move and the inference loop's cached products are remade."""
    params = dict(bilm.named_parameters())
    changed = False
    for name in names:
        p = params[name]
        if p.grad is None:
            continue
        # A copy of the weights: thinc's optimizers update them in place, and p.copy_ below
        # must move p's version counter. The gradient is dropped right after: no copy.
        weights = cast(FloatsXd, torch2xp(p.detach().clone()))
        grad = cast(FloatsXd, torch2xp(p.grad.detach()))
        new, _ = optimizer((key_id, f"bilm.{name}"), weights, grad, lr_scale=lr_scale)
        with torch.no_grad():
            p.copy_(xp2torch(new, device=p.device))
        p.grad = None
        changed = True
    return changed


class GradientSum:
    """One batch of a trained biLM: every listener's gradient of its layers, summed and sent
    through the biLM once, and the optimizer step that follows.

    spaCy calls the ``elmo`` component's ``finish_update`` either after every component's
    update (``spacy train``) or right after the component's own update, before any listener
    has sent its gradient (``nlp.update(..., sgd=optimizer)``). So the step waits for the
    gradients: it runs when ``finish`` comes after a listener's gradient, or when the last
    expected listener sends its gradient after ``finish``, or, for listeners that never
    send one (their component excluded from the update), at :meth:`close`.
    """

    def __init__(
        self,
        backprop: Callable[[LayersOutT], object],
        *,
        expected: int,
        step: Callable[[Optimizer], None],
    ) -> None:
        self._backprop: Optional[Callable[[LayersOutT], object]] = backprop
        self._sum: Optional[LayersOutT] = None
        self.expected, self.received = expected, 0
        self._step = step
        self._optimizer: Optional[Optimizer] = None  # a finish that waits for gradients

    def add(self, d_layers: LayersOutT) -> None:
        """Add one listener's gradient. *Shape:* ``(L + 1, n_tokens, 2P)`` per doc."""
        self.received += 1
        if d_layers:
            if self._sum is None:
                self._sum = [d.copy() for d in d_layers]  # numpy or cupy, as the ops
            else:
                for total, d in zip(self._sum, d_layers):
                    total += d
        if self.received >= self.expected and self._optimizer is not None:
            self.close()

    def finish(self, optimizer: Optimizer) -> None:
        """The component's ``finish_update``: step now, or once the gradients are in."""
        if self.received == 0 and self.expected > 0:
            self._optimizer = optimizer
            return
        self.flush()
        self._step(optimizer)

    def close(self) -> None:
        """Send what arrived through the biLM and take a step that was waiting for it."""
        self.flush()
        optimizer, self._optimizer = self._optimizer, None
        if optimizer is not None:
            self._step(optimizer)

    def flush(self) -> None:
        """Backpropagate the sum (once; later calls do nothing)."""
        backprop, self._backprop = self._backprop, None
        if backprop is not None and self._sum is not None:
            backprop(self._sum)
        self._sum = None


def weights_bytes(bilm: ELMoBiLM) -> bytes:
    """``bilm``'s weights as the bytes of a bilm-tf weights.hdf5."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "weights.hdf5"
        save_weights(bilm, path)
        return path.read_bytes()
