"""``spacy-elmo.ElmoLayers.v1``: docs -> all biLM layers per token, through the biLM.

It owns every setting of the biLM (:class:`~spacy_elmo.settings.BiLMSettings`), inside the
``elmo`` component (``[components.elmo.model]``) and on its own (a listener's ``layers``).

By default the biLM is frozen: it never receives gradients (``ElmoEmbedder`` runs without
autograd) and the backward pass of this model returns nothing. Once the model has run in
training mode, results are cached per doc (see :mod:`.cache`), for training and evaluation
alike, unless ``state="stateful"``, where a doc's vectors depend on earlier batches.
Inference alone never fills the cache.

With ``trainable_layers`` (docs/fine-tuning.md) a training pass records the graph of the
trained layers and returns :class:`~.types.TrainableLayers`; its backward pass sends the
gradients through the biLM (they accumulate in the parameters' ``.grad``) and the shim's
``finish_update`` applies them (:mod:`.finetune`). The layer cache is not used then.
"""

import inspect
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, cast

import numpy as np
import torch
from spacy.tokens import Doc
from thinc.api import Model, get_current_ops

from ..errors import ElmoInputError, Errors
from ..pytorch.scalar_mix import mix_layers
from ..settings import BiLMSettings, from_kwargs, keyword_parameters
from .cache import doc_key
from .owner import BiLMOwner
from .sequences import Segment, batch_segments, doc_segments
from .shim import ElmoShim
from .types import LayersOutT, TrainableLayers

ARCHITECTURE = "spacy-elmo.ElmoLayers.v1"


def build_elmo_layers_v1(**settings: Any) -> Model[List[Doc], LayersOutT]:
    """All layers of a frozen ELMo biLM for every token of every doc.

    Its keyword arguments are the fields of :class:`~spacy_elmo.settings.BiLMSettings`,
    with their defaults (spaCy reads them from this function's signature):

    options_file / weight_file (Optional[str]): the biLM's options.json and weights.hdf5;
        both None (default) for the embedded default model.
    state (str): Initial LSTM state: "warm" (default), "zero" or "stateful".
    device (str): "auto" (default: spaCy's device), "cpu", "cuda", "cuda:N" or "mps".
    precision (str): "float32" (default, exact) or "bfloat16" (faster, ~0.3% off).
    batch_size / max_batch_tokens (int): Most sequences / padded tokens per biLM call.
        Defaults 64 and 4096.
    window / overlap / max_sentence_length (int): How docs are cut into biLM sequences.
        Defaults 64, 16 and 256.
    cache_size (int): Tokens of layers kept in the training-time LRU cache; 0 disables it.
        Default 200,000.
    RETURNS (Model[List[Doc], List[Floats3d]]): *Shape:* ``(L + 1, n_tokens, 2P)`` per doc.
    """
    return elmo_layers(from_kwargs(BiLMSettings, settings))


# spaCy's config validation and `init fill-config` read the settings from here.
setattr(
    build_elmo_layers_v1,
    "__signature__",
    inspect.Signature(
        keyword_parameters(BiLMSettings), return_annotation=Model[List[Doc], LayersOutT]
    ),
)


def elmo_layers(settings: BiLMSettings) -> Model[List[Doc], LayersOutT]:
    """The ``ElmoLayers`` model for validated settings."""
    ops = get_current_ops()  # spaCy's device when the model is built (see .device)
    return Model("elmo-layers", forward, shims=[ElmoShim(BiLMOwner(settings, ops))], ops=ops)


def layer_settings(model: Model) -> BiLMSettings:
    """The settings of an ``ElmoLayers`` model."""
    return get_bilm(model).settings


def configure_elmo_layers(model: Model, settings: BiLMSettings) -> None:
    """Give an ``ElmoLayers`` model new settings (the component's shorthand merged in)."""
    get_bilm(model).configure(settings)


def get_bilm(model: Model) -> BiLMOwner:
    """The biLM of a ``spacy-elmo.ElmoLayers`` model: its settings, files, layer cache and
    runtime (:class:`~.owner.BiLMOwner`)."""
    return get_shim(model).owner


def get_shim(model: Model) -> ElmoShim:
    """The :class:`ElmoShim` of a ``spacy-elmo.ElmoLayers`` model."""
    shim = model.shims[0] if model.shims else None
    if not isinstance(shim, ElmoShim):
        raise ElmoInputError(Errors.E205.format(name=model.name))
    return shim


def forward(model: Model, docs: List[Doc], is_train: bool) -> Tuple[LayersOutT, Callable]:
    if is_train and get_bilm(model).settings.trains:
        return train_forward(model, docs)
    if is_train:
        # Training revisits the same docs every epoch (and evaluates on the same dev docs):
        # from now on keep layers. Plain inference never fills the cache.
        get_bilm(model).cache_active = True
    # Without a mix every array is (L + 1, n_tokens, 2P): numpy arrays typed as thinc's.
    outputs = cast(LayersOutT, compute_layers(model, docs))

    def backprop(d_outputs: LayersOutT) -> List[Doc]:
        return []  # the biLM is frozen

    return outputs, backprop


def compute_layers(
    model: Model,
    docs: Sequence[Doc],
    *,
    mix: Optional[np.ndarray] = None,
    gamma: float = 1.0,
) -> List[np.ndarray]:
    """Layers of each doc. *Shape:* ``(L + 1, n_tokens, 2P)``, zeros at whitespace tokens.

    :param mix: Fixed normalised layer weights. *Shape:* ``(L + 1,)``. When given, each
        biLM batch is mixed (with ``gamma``) as soon as it is computed and only the mixed
        vectors are kept, *Shape:* ``(n_tokens, 2P)`` per doc, so a long doc never holds all
        its layers; the cache is not used then.
    """
    bilm = get_bilm(model)
    settings = bilm.settings
    embedder = bilm.embedder
    stateful = settings.state == "stateful"
    use_cache = (
        mix is None
        and bilm.cache_active
        and not stateful
        and not settings.trains  # trained layers change with every update
        and bilm.cache.max_tokens > 0
    )
    keys = [doc_key(doc) if use_cache else None for doc in docs]
    hits = [None if key is None else bilm.cache.get(key) for key in keys]
    outputs, batches = _plan(bilm, docs, hits, mixed=mix is not None)
    mix_t = None if mix is None else torch.from_numpy(np.asarray(mix, dtype=np.float32))
    for batch in batches:
        layers_t, _ = embedder.embed_batch_torch(_batch_tokens(docs, batch))
        layers_t = layers_t.float()  # (K, B, T, D)
        if mix_t is not None:
            layers_t = mix_layers(layers_t, mix_t.to(layers_t.device), gamma)[None]  # (1, B, T, D)
        _scatter(outputs, batch, layers_t.to("cpu").numpy(), mixed=mix is not None)
    if use_cache:
        for i, key in enumerate(keys):
            if key is not None and outputs[i].flags.writeable:
                outputs[i] = bilm.cache.put(key, outputs[i])
    return outputs


def train_forward(model: Model, docs: List[Doc]) -> Tuple[LayersOutT, Callable]:
    """The layers of a biLM being trained, with the graph of its trained parameters, and the
    backward pass that sends the layers' gradients through it (into ``.grad``)."""
    bilm = get_bilm(model)
    embedder, dropout = bilm.embedder, bilm.settings.dropout
    outputs, batches = _plan(bilm, docs, [None] * len(docs), mixed=False)
    tensors: List[torch.Tensor] = []
    for batch in batches:
        layers_t, _ = embedder.embed_batch_torch(_batch_tokens(docs, batch), grad=True)
        if dropout:
            layers_t = torch.nn.functional.dropout(layers_t, p=dropout, training=True)
        tensors.append(layers_t)  # (K, B, T, D)
        _scatter(outputs, batch, layers_t.detach().float().to("cpu").numpy(), mixed=False)

    def backprop(d_outputs: LayersOutT) -> List[Doc]:
        pairs = [
            (t, _gather(model, d_outputs, batch, t))
            for batch, t in zip(batches, tensors)
            if t.requires_grad
        ]
        tensors.clear()  # the graph is used once
        if pairs:
            torch.autograd.backward([t for t, _ in pairs], [g for _, g in pairs])
        return []

    return cast(LayersOutT, TrainableLayers(cast(LayersOutT, outputs))), backprop


def _plan(
    bilm: BiLMOwner,
    docs: Sequence[Doc],
    hits: Sequence[Optional[np.ndarray]],
    *,
    mixed: bool,
) -> Tuple[List[np.ndarray], List[List[Segment]]]:
    """Outputs for every doc: its layer-cache hit, else zeros to fill; and the biLM batches
    of the docs without a hit.
    *Shape:* ``(L + 1, n_tokens, 2P)`` per doc, or ``(n_tokens, 2P)`` when ``mixed``."""
    settings, embedder = bilm.settings, bilm.embedder
    K, D = embedder.n_layers, embedder.output_dim
    outputs: List[np.ndarray] = []
    segments: List[Segment] = []
    for i, doc in enumerate(docs):
        shape = (len(doc), D) if mixed else (K, len(doc), D)
        hit = hits[i]
        if hit is not None:  # from the layer cache: nothing to compute
            outputs.append(hit)
            continue
        outputs.append(np.zeros(shape, dtype=np.float32))
        segments.extend(
            doc_segments(
                doc,
                i,
                window=settings.window,
                overlap=settings.overlap,
                max_sentence_length=settings.max_sentence_length,
            )
        )
    batches = batch_segments(
        segments,
        batch_size=settings.batch_size,
        max_batch_tokens=settings.max_batch_tokens,
        sort=settings.state != "stateful",
    )
    return outputs, list(batches)  # a training pass reads them again in its backward pass


def _batch_tokens(docs: Sequence[Doc], batch: List[Segment]) -> List[List[str]]:
    return [[docs[s.doc_index][p].text for p in s.positions] for s in batch]


def _scatter(
    outputs: List[np.ndarray], batch: List[Segment], layers: np.ndarray, *, mixed: bool
) -> None:
    """Copy each segment's kept rows of a batch's ``layers`` (*Shape:* ``(K, B, T, D)``)
    to its doc's output."""
    for b, seg in enumerate(batch):
        out = outputs[seg.doc_index]
        keep = list(seg.positions[seg.keep_start : seg.keep_end])
        rows = layers[:, b, seg.keep_start : seg.keep_end]
        if mixed:
            out[keep] = rows[0]
        else:
            out[:, keep] = rows


def _gather(
    model: Model, d_outputs: LayersOutT, batch: List[Segment], layers: torch.Tensor
) -> torch.Tensor:
    """The inverse of :func:`_scatter` for gradients: each doc's gradient at the positions
    of the batch's layers. *Shape:* ``(K, B, T, D)``, zero at padding and context."""
    grad = torch.zeros_like(layers)
    docs: Dict[int, torch.Tensor] = {}  # each doc's gradient converted once, not per segment
    for b, seg in enumerate(batch):
        d = docs.get(seg.doc_index)
        if d is None:
            d = torch.as_tensor(model.ops.to_numpy(d_outputs[seg.doc_index]), device=grad.device)
            docs[seg.doc_index] = d  # (K, n_tokens, D)
        keep = list(seg.positions[seg.keep_start : seg.keep_end])
        grad[:, b, seg.keep_start : seg.keep_end] = d[:, keep]
    return grad
