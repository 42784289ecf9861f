"""``spacy-elmo.ScalarMix.v1``: a trainable, task-specific mix of the biLM layers.

Wraps the pure torch :class:`~spacy_elmo.pytorch.scalar_mix.ScalarMix` (Peters et al., 2018,
eq. 1: ``gamma * sum_k softmax(w)_k * h_k``). Each downstream component builds its own, so
every task learns its own weights and gamma. The input layers of a frozen biLM get no
gradients; those of a biLM being trained (:class:`~.types.TrainableLayers`) get the mix's
gradient, which the listener sends back to the biLM.
"""

from typing import Callable, List, Optional, Tuple

from thinc.api import ArgsKwargs, Model, PyTorchWrapper_v2, torch2xp, xp2torch

from ..pytorch.scalar_mix import ScalarMix
from .types import LayersOutT, TrainableLayers, VectorsOutT


def build_scalar_mix_v1(
    *,
    n_layers: int = 3,
    initial_weights: Optional[List[float]] = None,
    gamma: float = 1.0,
    layer_norm: bool = False,
    layer_dropout: float = 0.0,
    dropout: float = 0.0,
    trainable: bool = True,
) -> Model[LayersOutT, VectorsOutT]:
    """Weighted sum of the ``n_layers`` biLM layers of each token.

    n_layers (int): Layers produced by the biLM (``L + 1``; 3 for the published models).
    initial_weights (Optional[List[float]]): Pre-softmax weights; default zeros (an even
        average).
    gamma (float): Initial scale. Default 1.0.
    layer_norm (bool): Normalise each layer over the batch first. The paper found it
        mostly unneeded; default False.
    layer_dropout (float): Probability of dropping a layer from the mix in training.
    dropout (float): Dropout on the mixed vectors in training; 0.5 was used in the paper
        for NER-sized models, 0.0-0.5 is a reasonable range.
    trainable (bool): Learn the weights and gamma (default True).
    RETURNS (Model[List[Floats3d], List[Floats2d]]): ``(L + 1, n, 2P)`` -> ``(n, 2P)`` per doc.
    """
    module = ScalarMix(
        n_layers=n_layers,
        trainable=trainable,
        initial_weights=initial_weights,
        gamma=gamma,
        layer_norm=layer_norm,
        layer_dropout=layer_dropout,
        dropout=dropout,
    )
    wrapped = PyTorchWrapper_v2(
        module, convert_inputs=_convert_inputs, convert_outputs=_convert_outputs
    )
    return Model(
        "elmo-scalar-mix",
        _forward,
        layers=[wrapped],
        attrs={"n_layers": n_layers, "trainable": trainable},
    )


def _forward(model: Model, X: LayersOutT, is_train: bool) -> Tuple[VectorsOutT, Callable]:
    if not X:
        return [], lambda dY: []
    if not model.attrs["trainable"] and not (is_train and isinstance(X, TrainableLayers)):
        return model.layers[0].predict(X), lambda dY: []
    return model.layers[0](X, is_train)


def _convert_inputs(model: Model, X: LayersOutT, is_train: bool) -> Tuple[ArgsKwargs, Callable]:
    # Tokens of all docs side by side: (K, N, D), no padding. Layer norm then pools over
    # the real tokens of the batch, as AllenNLP's masked version does.
    xp = model.ops.xp
    joined = xp.concatenate([xp.asarray(x) for x in X], axis=1)
    to_layers = is_train and isinstance(X, TrainableLayers)
    tensor = xp2torch(joined, requires_grad=to_layers)

    def convert_dX(d_inputs: ArgsKwargs) -> LayersOutT:
        grad = d_inputs.args[0] if d_inputs.args else None
        if not to_layers or grad is None:
            return []  # a frozen biLM: no gradient to the layers
        d_joined = torch2xp(grad)  # (K, N, D)
        splits = xp.cumsum(xp.asarray([x.shape[1] for x in X]))[:-1].tolist()
        return list(xp.split(d_joined, splits, axis=1))

    return ArgsKwargs(args=(tensor,), kwargs={}), convert_dX


def _convert_outputs(model: Model, inputs_outputs, is_train: bool) -> Tuple[VectorsOutT, Callable]:
    X, Ytorch = inputs_outputs
    lengths = [x.shape[1] for x in X]
    Y = torch2xp(Ytorch)  # (N, D)
    ops = model.ops
    splits = ops.xp.cumsum(ops.xp.asarray(lengths))[:-1].tolist()
    Ys = [ops.asarray2f(y) for y in ops.xp.split(Y, splits)]

    def convert_dY(dYs: VectorsOutT) -> ArgsKwargs:
        dY = ops.xp.concatenate([ops.xp.asarray(d) for d in dYs], axis=0)
        return ArgsKwargs(args=(Ytorch,), kwargs={"grad_tensors": xp2torch(dY)})

    return Ys, convert_dY
