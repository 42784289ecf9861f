"""``spacy-elmo.ElmoListener.v1``: a downstream component's view of the ``elmo`` component.

The ``elmo`` component computes the biLM layers once per batch (in ``predict`` and
``update``) and hands them to every listener with :meth:`ElmoListenerNode.receive`; each
listener then applies its own trainable :mod:`ScalarMix <.scalar_mix>`. No gradient flows
back into a frozen biLM; when the ``elmo`` component trains its biLM (``trainable_layers``),
it hands a callback with the layers, and the listener's backward pass sends its mix's
gradient there (every listener's is summed, see :mod:`.finetune`). When nothing was received
for a batch (e.g. ``nlp.pipe`` with other batch
sizes per component), the listener computes the layers itself: from ``doc._.elmo_layers`` if
stored, else through the linked ``elmo`` component's biLM. A listener linked to no ``elmo``
component is an error (E211); one that should run a biLM of its own says so in config with a
``layers`` section instead.
"""

import warnings
from typing import Any, Callable, Iterable, List, Optional, Tuple

from spacy.tokens import Doc
from thinc.api import Model, chain

from ..errors import ElmoInputError, Errors, Warnings
from .types import LayersOutT, TrainableLayers, VectorsOutT

#: Where a listener sends the gradient of the layers it received (a trained biLM).
GradientSink = Callable[[LayersOutT], Any]


class ElmoListenerNode(Model):
    """Receives the layers of a batch from the upstream ``elmo`` component."""

    name = "elmo-listener"

    def __init__(self, upstream_name: str, width: Optional[int] = None) -> None:
        Model.__init__(
            self,
            name=self.name,
            forward=_listener_forward,
            init=_listener_init,
            attrs={"upstream": upstream_name, "width": width},
        )
        self.upstream_name = upstream_name
        self._batch_id: Optional[int] = None
        self._outputs: Optional[LayersOutT] = None
        self._sink: Optional[GradientSink] = None
        # Set by the elmo component when it links its listeners; not serialized.
        self.upstream_layers: Optional[Model] = None
        self._warned = False

    @property
    def width(self) -> Optional[int]:
        """The output width (2P) the downstream model was built for, if it said."""
        return self.attrs["width"]

    def check_width(self, found: int, where: str = "") -> None:
        """E212 unless ``found`` is the width this listener was built for."""
        if self.width is not None and found != self.width:
            raise ElmoInputError(Errors.E212.format(where=where, width=self.width, found=found))

    @staticmethod
    def get_batch_id(docs: Iterable[Doc]) -> int:
        """Identify a batch by its tokens (as spaCy's Tok2VecListener does)."""
        return sum(sum(token.orth for token in doc) for doc in docs) + 1_000_003 * sum(
            len(doc) + 1 for doc in docs
        )

    def receive(
        self, batch_id: int, outputs: LayersOutT, sink: Optional[GradientSink] = None
    ) -> None:
        """The layers of the batch ``batch_id`` and, from a biLM being trained, where their
        gradient goes."""
        self._batch_id = batch_id
        self._outputs = outputs
        self._sink = sink

    def clear(self) -> None:
        self._batch_id = None
        self._outputs = None
        self._sink = None

    def compute(self, docs: List[Doc], is_train: bool = False) -> LayersOutT:
        """Layers for docs that no upstream component annotated in this batch."""
        if _have_stored_layers(docs):
            return [doc._.elmo_layers for doc in docs]
        if self.upstream_layers is None:
            raise ElmoInputError(Errors.E211.format(upstream=self.upstream_name))
        if is_train and not self._warned:
            warnings.warn(Warnings.W003.format(upstream=self.upstream_name))
            self._warned = True
        return self.upstream_layers.predict(docs)


def _have_stored_layers(docs: List[Doc]) -> bool:
    return bool(docs) and all(
        Doc.has_extension("elmo_layers") and doc._.elmo_layers is not None for doc in docs
    )


def _listener_init(
    model: ElmoListenerNode, X: Optional[List[Doc]] = None, Y: Optional[object] = None
) -> None:
    # Fail at initialisation, before the downstream model is built on a width it will not
    # get: a listener needs its upstream component (or layers stored on the docs).
    if model.upstream_layers is None and not (X is not None and _have_stored_layers(X)):
        raise ElmoInputError(Errors.E211.format(upstream=model.upstream_name))


def _listener_forward(
    model: ElmoListenerNode, docs: List[Doc], is_train: bool
) -> Tuple[LayersOutT, Callable]:
    outputs, sink = None, None
    if model._outputs is not None and model._batch_id == model.get_batch_id(docs):
        outputs, sink = model._outputs, model._sink
        model.clear()  # free the layers as soon as this batch is consumed
    if outputs is None:
        outputs = model.compute(docs, is_train)
    if outputs:
        model.check_width(outputs[0].shape[-1])
    if sink is not None and is_train and not isinstance(outputs, TrainableLayers):
        outputs = TrainableLayers(outputs)  # the mix then sends gradients back

    def backprop(d_outputs: LayersOutT) -> List[Doc]:
        if sink is not None and is_train and d_outputs:
            sink(d_outputs)  # the elmo component sums them and trains its biLM once
        return []

    return outputs, backprop


def build_elmo_listener_v1(
    *,
    mix: Model[LayersOutT, VectorsOutT],
    upstream: str = "*",
    width: Optional[int] = None,
    layers: Optional[Model[List[Doc], LayersOutT]] = None,
) -> Model[List[Doc], VectorsOutT]:
    """ELMo vectors for a downstream component: the ``elmo`` component's layers, mixed by
    this component's own ``mix`` (``spacy-elmo.ScalarMix.v1``).

    mix (Model): The task-specific ``spacy-elmo.ScalarMix.v1``.
    upstream (str): Name of the ``elmo`` component to listen to; "*" for any.
    width (Optional[int]): Output width ``2P`` of the biLM, needed only when this model is
        the whole tok2vec of a parser or tagger (they read ``nO`` when built). 1024 for the
        original ELMo; a width the biLM does not have is an error (E212).
    layers (Optional[Model]): A ``spacy-elmo.ElmoLayers.v1`` to run instead of listening:
        a biLM of this component's own (``nlp.replace_listeners`` puts one here; with no
        files it is the embedded default model).
    RETURNS (Model[List[Doc], List[Floats2d]]): *Shape:* ``(n_tokens, 2P)`` per doc.
    """
    source: Model[List[Doc], LayersOutT] = (
        ElmoListenerNode(upstream, width) if layers is None else layers
    )
    model: Model[List[Doc], VectorsOutT] = chain(source, mix)
    model.set_ref("mix", mix)
    if layers is None:
        model.set_ref("listener", source)
    if width is not None:
        model.set_dim("nO", width)
    return model
