"""``spacy-elmo.ElmoLayers.v2``: docs -> all biLM layers per token, through the frozen biLM.
(v2 adds ``precision``; v1 is v2 in float32.)

The biLM never receives gradients (``ElmoEmbedder`` runs under ``torch.no_grad``); the
backward pass of this model returns nothing. Once the model has run in training mode, results
are cached per doc (see :mod:`.cache`), for training and evaluation alike, unless
``state="stateful"``, where a doc's vectors depend on earlier batches. Inference alone never
fills the cache.
"""

from typing import Callable, List, Optional, Sequence, Tuple, TypedDict, cast

import numpy as np
from spacy.tokens import Doc
from thinc.api import Model

from ..errors import ElmoInputError, Errors
from .cache import doc_key
from .sequences import Segment, batch_segments, doc_segments
from .shim import ElmoShim
from .types import LayersOutT


class LayerSettings(TypedDict):
    """The settings of an ``ElmoLayers`` model (its ``attrs``), shared with the ``elmo``
    component's config."""

    state: str
    device: str
    window: int
    overlap: int
    max_sentence_length: int
    batch_size: int
    max_batch_tokens: int
    cache_size: int
    precision: str


DEFAULTS: LayerSettings = {
    "state": "warm",
    "device": "cpu",
    "window": 64,
    "overlap": 16,
    "max_sentence_length": 256,
    "batch_size": 64,
    "max_batch_tokens": 4096,
    "cache_size": 200_000,
    "precision": "float32",
}


def build_elmo_layers_v2(
    *,
    options_file: Optional[str] = None,
    weight_file: Optional[str] = None,
    state: Optional[str] = None,
    device: Optional[str] = None,
    window: Optional[int] = None,
    overlap: Optional[int] = None,
    max_sentence_length: Optional[int] = None,
    batch_size: Optional[int] = None,
    max_batch_tokens: Optional[int] = None,
    cache_size: Optional[int] = None,
    precision: Optional[str] = None,
) -> Model[List[Doc], LayersOutT]:
    """All layers of a frozen ELMo biLM for every token of every doc.

    Inside the ``elmo`` component every setting is taken from the component's config, so the
    model section there is just ``@architectures = "spacy-elmo.ElmoLayers.v2"``. Given in
    full, it is a standalone biLM, e.g. a listener replaced by ``nlp.replace_listeners``.

    options_file (Optional[str]): options.json of the biLM; None with ``weight_file`` None
        for the embedded default model.
    weight_file (Optional[str]): weights.hdf5 of the biLM.
    state (str): Initial LSTM state: "warm" (default), "zero" or "stateful".
    device (str): Torch device of the biLM, e.g. "cpu" (default) or "cuda:0".
    window (int): Tokens kept per window for docs without sentence boundaries. Default 64.
    overlap (int): Context tokens run on either side of a window and dropped. Default 16.
    max_sentence_length (int): Longer sentences are cut into windows. Default 256.
    batch_size (int): Most biLM sequences per forward pass. Default 64.
    max_batch_tokens (int): Most padded tokens per forward pass. Default 4096.
    cache_size (int): Tokens of layers kept in the LRU cache (memory: tokens * (L+1) * 2P *
        4 bytes); 0 disables it. Default 200,000.
    precision (str): "float32" (default, exact) or "bfloat16": the biLSTM's matrix products
        in bfloat16, faster on CPUs with bfloat16 GEMMs, vectors ~0.3% off.
    RETURNS (Model[List[Doc], List[Floats3d]]): *Shape:* ``(L + 1, n_tokens, 2P)`` per doc.
    """
    attrs: LayerSettings = {
        "state": DEFAULTS["state"] if state is None else state,
        "device": DEFAULTS["device"] if device is None else device,
        "window": DEFAULTS["window"] if window is None else window,
        "overlap": DEFAULTS["overlap"] if overlap is None else overlap,
        "max_sentence_length": (
            DEFAULTS["max_sentence_length"] if max_sentence_length is None else max_sentence_length
        ),
        "batch_size": DEFAULTS["batch_size"] if batch_size is None else batch_size,
        "max_batch_tokens": (
            DEFAULTS["max_batch_tokens"] if max_batch_tokens is None else max_batch_tokens
        ),
        "cache_size": DEFAULTS["cache_size"] if cache_size is None else cache_size,
        "precision": DEFAULTS["precision"] if precision is None else precision,
    }
    shim = ElmoShim(
        options_file=options_file,
        weight_file=weight_file,
        state=attrs["state"],
        device=attrs["device"],
        cache_size=attrs["cache_size"],
        precision=attrs["precision"],
    )
    return Model("elmo-layers", forward, shims=[shim], attrs=dict(attrs))


def build_elmo_layers_v1(
    *,
    options_file: Optional[str] = None,
    weight_file: Optional[str] = None,
    state: Optional[str] = None,
    device: Optional[str] = None,
    window: Optional[int] = None,
    overlap: Optional[int] = None,
    max_sentence_length: Optional[int] = None,
    batch_size: Optional[int] = None,
    max_batch_tokens: Optional[int] = None,
    cache_size: Optional[int] = None,
) -> Model[List[Doc], LayersOutT]:
    """``spacy-elmo.ElmoLayers.v2`` without ``precision`` (float32); kept for old configs."""
    return build_elmo_layers_v2(
        options_file=options_file,
        weight_file=weight_file,
        state=state,
        device=device,
        window=window,
        overlap=overlap,
        max_sentence_length=max_sentence_length,
        batch_size=batch_size,
        max_batch_tokens=max_batch_tokens,
        cache_size=cache_size,
    )


def configure_elmo_layers(
    model: Model,
    *,
    options_file: Optional[str],
    weight_file: Optional[str],
    **settings,
) -> None:
    """Set the biLM files and settings of an ``ElmoLayers`` model (used by the component)."""
    model.attrs.update(settings)
    shim = get_shim(model)
    shim.set_files(options_file, weight_file)
    shim.configure(
        state=model.attrs["state"],
        device=model.attrs["device"],
        cache_size=model.attrs["cache_size"],
        precision=model.attrs["precision"],
    )


def get_shim(model: Model) -> ElmoShim:
    """The :class:`ElmoShim` of a ``spacy-elmo.ElmoLayers`` model."""
    shim = model.shims[0] if model.shims else None
    if not isinstance(shim, ElmoShim):
        raise ElmoInputError(Errors.E205.format(name=model.name))
    return shim


def forward(model: Model, docs: List[Doc], is_train: bool) -> Tuple[LayersOutT, Callable]:
    if is_train:
        # Training revisits the same docs every epoch (and evaluates on the same dev docs):
        # from now on keep layers. Plain inference never fills the cache.
        get_shim(model).cache_active = True
    # Without a mix every array is (L + 1, n_tokens, 2P): numpy arrays typed as thinc's.
    outputs = cast(LayersOutT, compute_layers(model, docs))

    def backprop(d_outputs: LayersOutT) -> List[Doc]:
        return []  # the biLM is frozen

    return outputs, backprop


def compute_layers(
    model: Model, docs: Sequence[Doc], *, mix: Optional[np.ndarray] = None
) -> List[np.ndarray]:
    """Layers of each doc. *Shape:* ``(L + 1, n_tokens, 2P)``, zeros at whitespace tokens.

    :param mix: Fixed layer weights (gamma included). *Shape:* ``(L + 1,)``. When given, each
        biLM batch is mixed as soon as it is computed and only the mixed vectors are kept,
        *Shape:* ``(n_tokens, 2P)`` per doc, so a long doc never holds all its layers; the
        cache is not used then.
    """
    shim = get_shim(model)
    attrs = model.attrs
    embedder = shim.embedder
    stateful = attrs["state"] == "stateful"
    use_cache = mix is None and shim.cache_active and not stateful and shim.cache.max_tokens > 0
    K, D = embedder.n_layers, embedder.output_dim
    outputs: List[np.ndarray] = []
    keys: List[Optional[bytes]] = []
    segments: List[Segment] = []
    for i, doc in enumerate(docs):
        key = doc_key(doc) if use_cache else None
        keys.append(key)
        if key is not None:
            hit = shim.cache.get(key)
            if hit is not None:
                outputs.append(hit)
                continue
        shape = (len(doc), D) if mix is not None else (K, len(doc), D)
        outputs.append(np.zeros(shape, dtype=np.float32))
        segments.extend(
            doc_segments(
                doc,
                i,
                window=attrs["window"],
                overlap=attrs["overlap"],
                max_sentence_length=attrs["max_sentence_length"],
            )
        )
    batches = batch_segments(
        segments,
        batch_size=attrs["batch_size"],
        max_batch_tokens=attrs["max_batch_tokens"],
        sort=not stateful,
    )
    for batch in batches:
        tokens = [[docs[s.doc_index][p].text for p in s.positions] for s in batch]
        layers_t, _ = embedder.embed_batch_torch(tokens)
        layers = layers_t.to("cpu").float().numpy()  # (K, B, T, D)
        if mix is not None:
            layers = np.tensordot(mix, layers, axes=1)[None]  # (1, B, T, D)
        for b, seg in enumerate(batch):
            out = outputs[seg.doc_index]
            keep = list(seg.positions[seg.keep_start : seg.keep_end])
            rows = layers[:, b, seg.keep_start : seg.keep_end]
            if mix is not None:
                out[keep] = rows[0]
            else:
                out[:, keep] = rows
    if use_cache:
        for i, key in enumerate(keys):
            if key is not None and outputs[i].flags.writeable:
                outputs[i] = shim.cache.put(key, outputs[i])
    return outputs
