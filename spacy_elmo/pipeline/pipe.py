"""The ``elmo`` component: frozen ELMo biLM layers for every token, shared with listeners.

It sets ``doc._.elmo`` (a fixed mix of the layers, ``(n_tokens, 2P)``) and, with
``store_layers``, ``doc._.elmo_layers`` (``(L + 1, n_tokens, 2P)``). Downstream components
that use ``spacy-elmo.ElmoListener.v1`` receive all layers of each batch from this
component's ``predict``/``update`` and learn their own mix; the biLM itself is never trained,
so ``update`` only computes (or fetches from the cache) and shares the layers.
"""

import weakref
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence

import numpy as np
import srsly
from spacy.language import Language
from spacy.pipeline import TrainablePipe
from spacy.tokens import Doc
from spacy.training import Example
from spacy.util import from_disk as util_from_disk
from spacy.util import to_disk as util_to_disk
from thinc.api import Model

from ..errors import ElmoInputError, Errors
from ..models.layers import DEFAULTS, compute_layers, configure_elmo_layers, get_shim
from ..models.listener import ElmoListenerNode
from ..models.shim import OPTIONS_NAME, WEIGHTS_NAME
from ..models.types import LayersOutT
from ..pytorch.lstm import precision_dtype
from ..pytorch.state import check_state_mode
from . import loader  # noqa: F401 - creates the model_loaders registry
from .extensions import install_extensions, set_vector_hooks
from .fixed_mix import fixed_mix, softmax_weights

DEFAULT_MODEL_CONFIG = {"@architectures": "spacy-elmo.ElmoLayers.v2"}


@Language.factory(
    "elmo",
    assigns=["doc._.elmo", "doc._.elmo_layers"],
    default_config={
        "model": DEFAULT_MODEL_CONFIG,
        "options_file": None,
        "weight_file": None,
        "state": "warm",
        "device": "cpu",
        "scalar_mix": None,
        "gamma": 1.0,
        "layer_norm": False,
        "store_layers": False,
        "set_vectors": False,
        "batch_size": DEFAULTS["batch_size"],
        "max_batch_tokens": DEFAULTS["max_batch_tokens"],
        "window": DEFAULTS["window"],
        "overlap": DEFAULTS["overlap"],
        "max_sentence_length": DEFAULTS["max_sentence_length"],
        "cache_size": DEFAULTS["cache_size"],
        "precision": DEFAULTS["precision"],
    },
)
def make_elmo(
    nlp: Language,
    name: str,
    model: Model,
    options_file: Optional[str],
    weight_file: Optional[str],
    state: str,
    device: str,
    scalar_mix: Optional[List[float]],
    gamma: float,
    layer_norm: bool,
    store_layers: bool,
    set_vectors: bool,
    batch_size: int,
    max_batch_tokens: int,
    window: int,
    overlap: int,
    max_sentence_length: int,
    cache_size: int,
    precision: str,
) -> "Elmo":
    """Build the ``elmo`` component (see :class:`Elmo`)."""
    return Elmo(
        nlp.vocab,
        model,
        name=name,
        options_file=options_file,
        weight_file=weight_file,
        state=state,
        device=device,
        scalar_mix=scalar_mix,
        gamma=gamma,
        layer_norm=layer_norm,
        store_layers=store_layers,
        set_vectors=set_vectors,
        batch_size=batch_size,
        max_batch_tokens=max_batch_tokens,
        window=window,
        overlap=overlap,
        max_sentence_length=max_sentence_length,
        cache_size=cache_size,
        precision=precision,
    )


class Elmo(TrainablePipe):
    """ELMo (Peters et al., 2018) vectors from a frozen biLM.

    Settings (all keyword-only; see ``docs/spacy.md``):

    options_file / weight_file (Optional[str]): the original options.json and weights.hdf5;
        both None (default) for the embedded default model. They are copied into the
        pipeline by ``nlp.to_disk``.
    state (str): "warm" (default), "zero" or "stateful" initial LSTM state.
    scalar_mix (Optional[List[float]]): pre-softmax layer weights of ``doc._.elmo``; None
        for an even average. gamma (float), layer_norm (bool): AllenNLP's semantics.
    store_layers (bool): also keep every layer in ``doc._.elmo_layers``.
    set_vectors (bool): make ``.vector``/``.similarity`` use ``doc._.elmo``.
    batch_size / max_batch_tokens (int): most sequences / padded tokens per biLM call.
    window / overlap / max_sentence_length (int): how docs are cut into biLM sequences.
    cache_size (int): tokens of layers kept in the LRU cache; 0 disables it.
    precision (str): "float32" (default, exact) or "bfloat16" (the biLSTM's matrix products
        in bfloat16: faster on CPUs with bfloat16 GEMMs, ~0.3% off).
    """

    def __init__(
        self,
        vocab,
        model: Model,
        *,
        name: str = "elmo",
        options_file: Optional[str] = None,
        weight_file: Optional[str] = None,
        state: str = "warm",
        device: str = "cpu",
        scalar_mix: Optional[List[float]] = None,
        gamma: float = 1.0,
        layer_norm: bool = False,
        store_layers: bool = False,
        set_vectors: bool = False,
        batch_size: int = DEFAULTS["batch_size"],
        max_batch_tokens: int = DEFAULTS["max_batch_tokens"],
        window: int = DEFAULTS["window"],
        overlap: int = DEFAULTS["overlap"],
        max_sentence_length: int = DEFAULTS["max_sentence_length"],
        cache_size: int = DEFAULTS["cache_size"],
        precision: str = DEFAULTS["precision"],
    ) -> None:
        check_state_mode(state)
        precision_dtype(precision)
        _check_int("batch_size", batch_size, 1)
        _check_int("max_batch_tokens", max_batch_tokens, 1)
        _check_int("window", window, 1)
        _check_int("overlap", overlap, 0)
        _check_int("max_sentence_length", max_sentence_length, 1)
        _check_int("cache_size", cache_size, 0)
        if (options_file is None) != (weight_file is None):
            raise ElmoInputError(
                Errors.E201.format(options_file=options_file, weight_file=weight_file)
            )
        self.vocab = vocab
        self.model = model
        self.name = name
        self.listener_map: Dict[str, List[Model]] = {}
        self.cfg: Dict[str, Any] = {
            "state": state,
            "device": device,
            "scalar_mix": None if scalar_mix is None else list(scalar_mix),
            "gamma": float(gamma),
            "layer_norm": bool(layer_norm),
            "store_layers": bool(store_layers),
            "set_vectors": bool(set_vectors),
            "batch_size": batch_size,
            "max_batch_tokens": max_batch_tokens,
            "window": window,
            "overlap": overlap,
            "max_sentence_length": max_sentence_length,
            "cache_size": cache_size,
            "precision": precision,
        }
        self._configure(options_file, weight_file)
        # spaCy's replace_listeners reads these; the weakref keeps model copies from
        # deep-copying this component.
        self.model.attrs["replace_listener"] = replace_listener
        self.model.attrs["replace_listener_cfg"] = _ReplaceListenerCfg(weakref.ref(self))
        install_extensions()

    def __setstate__(self, state: Any) -> None:
        # TrainablePipe is a Cython class: its generated unpickler hands us its own state.
        self.__setstate_cython__(state)
        self.model.attrs["replace_listener_cfg"] = _ReplaceListenerCfg(weakref.ref(self))

    def _configure(self, options_file, weight_file) -> None:
        settings = {k: self.cfg[k] for k in DEFAULTS}
        configure_elmo_layers(
            self.model, options_file=options_file, weight_file=weight_file, **settings
        )
        self._weights: Optional[np.ndarray] = None

    # --- the biLM ------------------------------------------------------------------------
    @property
    def embedder(self):
        """The :class:`~spacy_elmo.ElmoEmbedder` (loaded on first use)."""
        return get_shim(self.model).embedder

    @property
    def layer_weights(self) -> np.ndarray:
        """Normalised weights of the fixed mix. *Shape:* ``(L + 1,)``."""
        if self._weights is None:
            n = self.embedder.n_layers
            mix = self.cfg["scalar_mix"]
            if mix is not None and len(mix) != n:
                raise ElmoInputError(Errors.E202.format(found=len(mix), n_layers=n))
            self._weights = softmax_weights(mix, n)
        return self._weights

    # --- listeners -----------------------------------------------------------------------
    @property
    def listeners(self) -> List[Model]:
        return [m for c in self.listening_components for m in self.listener_map[c]]

    @property
    def listening_components(self) -> List[str]:
        return list(self.listener_map.keys())

    def add_listener(self, listener: Model, component_name: str) -> None:
        self.listener_map.setdefault(component_name, [])
        if listener not in self.listener_map[component_name]:
            self.listener_map[component_name].append(listener)
        if isinstance(listener, ElmoListenerNode):
            listener.upstream_layers = self.model

    def remove_listener(self, listener: Model, component_name: str) -> bool:
        if listener in self.listener_map.get(component_name, []):
            self.listener_map[component_name].remove(listener)
            if not self.listener_map[component_name]:
                del self.listener_map[component_name]
            if isinstance(listener, ElmoListenerNode):
                listener.upstream_layers = None
            return True
        return False

    def find_listeners(self, component) -> None:
        """Register the ``ElmoListenerNode`` layers of ``component`` whose upstream is this
        component's name or "*"."""
        model = getattr(component, "model", None)
        if not isinstance(model, Model):
            return
        for node in model.walk():
            if isinstance(node, ElmoListenerNode) and node.upstream_name in ("*", self.name):
                self.add_listener(node, component.name)

    def standalone_layers_config(self) -> Dict[str, Any]:
        """Config of a ``spacy-elmo.ElmoLayers.v2`` with this component's settings."""
        files = get_shim(self.model).files
        layers_cfg: Dict[str, Any] = dict(DEFAULT_MODEL_CONFIG)
        layers_cfg.update({k: self.cfg[k] for k in DEFAULTS})
        if files is not None:
            layers_cfg["options_file"] = str(files[OPTIONS_NAME])
            layers_cfg["weight_file"] = str(files[WEIGHTS_NAME])
        return layers_cfg

    # --- processing ----------------------------------------------------------------------
    def predict(self, docs: Iterable[Doc]) -> List[np.ndarray]:
        """All layers of every doc, *Shape:* ``(L + 1, n_tokens, 2P)``; or, when neither
        listeners, ``store_layers`` nor ``layer_norm`` need them, the mixed vectors,
        *Shape:* ``(n_tokens, 2P)``."""
        docs = list(docs)
        if self._vectors_only:
            # Nobody needs the layers: mix each biLM batch at once, so long docs never hold
            # all their layers. *Shape:* ``(n_tokens, 2P)`` per doc.
            mix = self.layer_weights * np.float32(self.cfg["gamma"])
            return compute_layers(self.model, docs, mix=mix)
        layers = self.model.predict(docs)
        self._share(docs, layers)
        return layers

    @property
    def _vectors_only(self) -> bool:
        cfg = self.cfg
        return not (cfg["store_layers"] or cfg["layer_norm"] or self.listeners)

    def _share(self, docs: List[Doc], layers: LayersOutT) -> None:
        if self.listeners:
            batch_id = ElmoListenerNode.get_batch_id(docs)
            for listener in self.listeners:
                if not isinstance(listener, ElmoListenerNode):
                    raise ElmoInputError(Errors.E206.format(name=listener.name))
                listener.receive(batch_id, layers)

    def set_annotations(self, docs: Iterable[Doc], layers: List[np.ndarray]) -> None:
        weights = self.layer_weights
        for doc, doc_layers in zip(docs, layers):
            if doc_layers.ndim == 2:  # already mixed by predict
                doc._.elmo = doc_layers
                if self.cfg["set_vectors"]:
                    set_vector_hooks(doc)
                continue
            mask = np.array([not t.is_space for t in doc], dtype=bool)
            doc._.elmo = fixed_mix(
                doc_layers,
                weights,
                gamma=self.cfg["gamma"],
                layer_norm=self.cfg["layer_norm"],
                mask=mask,
            )
            if self.cfg["store_layers"]:
                doc._.elmo_layers = doc_layers
            if self.cfg["set_vectors"]:
                set_vector_hooks(doc)

    def update(
        self,
        examples: Iterable[Example],
        *,
        drop: float = 0.0,
        sgd: Optional[Callable] = None,
        losses: Optional[Dict[str, float]] = None,
    ) -> Dict[str, float]:
        """Compute the layers of the batch (cached across epochs) and hand them to the
        listeners. The biLM is frozen: there is nothing to update here."""
        if losses is None:
            losses = {}
        losses.setdefault(self.name, 0.0)
        docs = [eg.predicted for eg in examples]
        layers, _ = self.model.begin_update(docs)  # training mode: turns the cache on
        self._share(docs, layers)
        return losses

    def get_loss(self, examples, scores):  # pragma: no cover - frozen, no loss
        return 0.0, None

    def finish_update(self, sgd) -> None:
        return None

    def initialize(
        self,
        get_examples: Callable[[], Iterable[Example]],
        *,
        nlp: Optional[Language] = None,
        bilm_loader: Optional[Callable[[Model], Model]] = None,
    ) -> None:
        """Load the biLM and link the listeners of later components, so that their models
        see real layers (and widths) while they are initialized.

        bilm_loader (Optional[Callable]): e.g. ``spacy-elmo.BiLMFiles.v1``, to set the biLM
            files here instead of in the component config.
        """
        if bilm_loader is not None:
            bilm_loader(self.model)
            self._weights = None
        self.embedder  # noqa: B018 - load now, fail early on bad files
        self.layer_weights  # noqa: B018 - validate scalar_mix
        if nlp is not None:
            names = nlp.pipe_names
            if self.name in names:
                for other in names[names.index(self.name) + 1 :]:
                    self.find_listeners(nlp.get_pipe(other))

    # --- serialization -------------------------------------------------------------------
    def to_disk(self, path, *, exclude: Iterable[str] = tuple()) -> None:
        """Write cfg and the biLM files (options.json, weights.hdf5, byte for byte)."""
        serialize = {
            "cfg": lambda p: srsly.write_json(p, self.cfg),
            "model": lambda p: get_shim(self.model).write_files(Path(p)),
        }
        util_to_disk(path, serialize, exclude)

    def from_disk(self, path, *, exclude: Iterable[str] = tuple()) -> "Elmo":
        def load_model(p: Path) -> None:
            get_shim(self.model).set_files(Path(p) / OPTIONS_NAME, Path(p) / WEIGHTS_NAME)
            self._weights = None
            self.embedder  # noqa: B018 - load now: the directory may go away later

        util_from_disk(path, {"model": load_model}, exclude)
        return self

    def to_bytes(self, *, exclude: Iterable[str] = tuple()) -> bytes:
        return srsly.msgpack_dumps({"cfg": self.cfg, "files": get_shim(self.model).file_bytes()})

    def from_bytes(self, bytes_data: bytes, *, exclude: Iterable[str] = tuple()) -> "Elmo":
        msg = srsly.msgpack_loads(bytes_data)
        shim = get_shim(self.model)
        shim.set_files(None, None)
        shim.files = None
        shim.blobs = dict(msg["files"])
        self._weights = None
        return self


def replace_listener(model: Model, listener: Model, component: Elmo) -> Model:
    """For ``nlp.replace_listeners``: the listener node becomes ``model``, a copy of the
    component's ``ElmoLayers`` (its biLM files travel in the downstream model's bytes)."""
    return model


class _ReplaceListenerCfg:
    """For ``nlp.replace_listeners``: the downstream tok2vec config with ``layers`` set in
    every ``ElmoListener.v1`` section."""

    def __init__(self, component_ref: Optional["weakref.ref[Elmo]"]) -> None:
        self.component_ref = component_ref

    def __reduce__(self):
        # A weakref cannot be pickled (nlp.pipe(n_process=...) under "spawn" pickles the
        # pipeline); the unpickled component links itself again in __setstate__.
        return (_ReplaceListenerCfg, (None,))

    def __call__(
        self, elmo_model_cfg: Dict[str, Any], listener_cfg: Dict[str, Any]
    ) -> Dict[str, Any]:
        component = None if self.component_ref is None else self.component_ref()
        assert component is not None, "the elmo component was garbage collected"
        return _replace_in_cfg(dict(listener_cfg), component.standalone_layers_config())


def _replace_in_cfg(cfg: Dict[str, Any], layers_cfg: Dict[str, Any]) -> Dict[str, Any]:
    """Copy of ``cfg`` where every ``ElmoListener.v1`` section gets ``layers``."""
    out: Dict[str, Any] = {}
    for key, value in cfg.items():
        out[key] = _replace_in_cfg(dict(value), layers_cfg) if isinstance(value, dict) else value
    if out.get("@architectures") == "spacy-elmo.ElmoListener.v1":
        out["layers"] = dict(layers_cfg)
    return out


def _check_int(name: str, value: Any, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ElmoInputError(
            Errors.E110.format(name=name, value=value, expected=f"an int >= {minimum}")
        )
