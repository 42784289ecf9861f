"""The ``elmo`` component: frozen ELMo biLM layers for every token, shared with listeners.

It sets ``doc._.elmo`` (a fixed mix of the layers, ``(n_tokens, 2P)``) and, with
``store_layers``, ``doc._.elmo_layers`` (``(L + 1, n_tokens, 2P)``). Downstream components
that use ``spacy-elmo.ElmoListener.v1`` receive all layers of each batch from this
component's ``predict``/``update`` and learn their own mix. By default the biLM itself is
frozen, so ``update`` only computes (or fetches from the cache) and shares the layers; with
``trainable_layers`` in the model section, ``update`` also hands the listeners a place to send
their gradients, which are summed and sent through the biLM once per batch, and
``finish_update`` updates its trained layers (docs/fine-tuning.md).
"""

import inspect
import weakref
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, Iterator, List, Optional, Tuple

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
from ..hub.catalogue import warn_if_other_language
from ..models.finetune import GradientSum
from ..models.layers import (
    ARCHITECTURE,
    compute_layers,
    configure_elmo_layers,
    get_bilm,
    get_shim,
    layer_settings,
)
from ..models.listener import ElmoListenerNode
from ..models.shim import read_serialized, real_folder, replace_file_bytes
from ..models.source import OPTIONS_NAME, WEIGHTS_NAME, BiLMSource
from ..models.types import LayersOutT
from ..pytorch.scalar_mix import fixed_mix, softmax_weights
from ..settings import (
    BiLMSettings,
    ComponentSettings,
    as_dict,
    from_kwargs,
    keyword_parameters,
    split_settings,
)
from . import loader  # noqa: F401 - creates the model_loaders registry
from .extensions import install_extensions, set_vector_hooks

DEFAULT_MODEL_CONFIG = {"@architectures": ARCHITECTURE}


def make_elmo(nlp: Language, name: str, model: Model, **settings: Any) -> "Elmo":
    """Build the ``elmo`` component (see :class:`Elmo`).

    ``settings`` are the component's own (:class:`~spacy_elmo.settings.ComponentSettings`)
    and, as a shorthand, any biLM setting (:class:`~spacy_elmo.settings.BiLMSettings`):
    ``[components.elmo] options_file = ...`` is merged into the model section, where it
    belongs; a model value that differs from both the shorthand and its default is E207.
    """
    own, shorthand = split_settings(settings, ComponentSettings, BiLMSettings)
    configure_elmo_layers(model, layer_settings(model).with_shorthand(shorthand))
    # W013: a model of another language than the pipeline's
    warn_if_other_language(layer_settings(model).name, nlp.lang or "")
    return Elmo(nlp.vocab, model, name=name, settings=from_kwargs(ComponentSettings, own))


# spaCy reads the settings from the signature: the component's own with their defaults, then
# the biLM shorthand, every one None ("not given").
setattr(
    make_elmo,
    "__signature__",
    inspect.Signature(
        [
            *list(inspect.signature(make_elmo).parameters.values())[:3],
            *keyword_parameters(ComponentSettings),
            # "name" is spaCy's component name here: a model name goes in the model section
            *keyword_parameters(BiLMSettings, shorthand=True, skip=("name",)),
        ],
        return_annotation="Elmo",
    ),
)
Language.factory(
    "elmo",
    assigns=["doc._.elmo", "doc._.elmo_layers"],
    default_config={"model": DEFAULT_MODEL_CONFIG, **as_dict(ComponentSettings())},
)(make_elmo)


class Elmo(TrainablePipe):
    """ELMo (Peters et al., 2018) vectors from a frozen biLM.

    The biLM and how it runs are set in its model (``spacy-elmo.ElmoLayers.v1``, see
    :class:`~spacy_elmo.settings.BiLMSettings`); this component's own settings
    (:class:`~spacy_elmo.settings.ComponentSettings`) say what it writes to docs:
    ``doc._.elmo`` (a fixed mix of the layers: ``scalar_mix``, ``gamma``, ``layer_norm``),
    ``doc._.elmo_layers`` (``store_layers``) and vector hooks (``set_vectors``).
    """

    def __init__(
        self,
        vocab,
        model: Model,
        *,
        name: str = "elmo",
        settings: ComponentSettings = ComponentSettings(),
    ) -> None:
        get_shim(model)  # E205 unless the model is an ElmoLayers
        self.vocab = vocab
        self.model = model
        self.name = name
        self.settings = settings
        self.listener_map: Dict[str, List[Model]] = {}
        self.cfg: Dict[str, Any] = as_dict(settings)
        self._weights: Optional[np.ndarray] = None
        # A trained biLM: the listeners' gradients of the last batch, not yet sent through it.
        self._pending: Optional[GradientSum] = None
        # spaCy's replace_listeners reads these; the weakref keeps model copies from
        # deep-copying this component.
        self.model.attrs["replace_listener"] = replace_listener
        self.model.attrs["replace_listener_cfg"] = _ReplaceListenerCfg(weakref.ref(self))
        install_extensions()

    def __setstate__(self, state: Any) -> None:
        # TrainablePipe is a Cython class: its generated unpickler hands us its own state.
        self.__setstate_cython__(state)
        self.model.attrs["replace_listener_cfg"] = _ReplaceListenerCfg(weakref.ref(self))

    # --- the biLM ------------------------------------------------------------------------
    @property
    def embedder(self):
        """The :class:`~spacy_elmo.ElmoEmbedder` (loaded at ``initialize``, ``from_disk``
        and ``from_bytes``; in a pipeline never initialised, on first use)."""
        return get_bilm(self.model).embedder

    @property
    def layer_weights(self) -> np.ndarray:
        """Normalised weights of the fixed mix. *Shape:* ``(L + 1,)``."""
        if self._weights is None:
            n = self.embedder.n_layers
            mix = self.settings.scalar_mix
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
        """Config of a ``spacy-elmo.ElmoLayers.v1`` with this component's biLM settings."""
        bilm = get_bilm(self.model)
        files = None if bilm.attached is None else bilm.attached.paths
        layers_cfg: Dict[str, Any] = {**DEFAULT_MODEL_CONFIG, **as_dict(bilm.settings)}
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
            return compute_layers(
                self.model, docs, mix=self.layer_weights, gamma=self.settings.gamma
            )
        layers = self.model.predict(docs)
        self._share(docs, layers)
        return layers

    def pipe(self, stream: Iterable[Doc], *, batch_size: Optional[int] = None) -> Iterator[Doc]:
        """Annotate ``stream``, yielding docs in their order.

        spaCy's ``batch_size`` sets how many docs it hands each component at once; the biLM
        runs fastest on full batches of similar lengths whatever that is. So docs are
        buffered up to :func:`pipe_window` (from the model's ``batch_size`` /
        ``max_batch_tokens``) and the biLM runs on length-sorted batches across them
        (``compute_layers``): the same vectors (within 1e-5) for any ``batch_size``, with
        few biLM calls even for ``nlp.pipe(texts, batch_size=1)``. Listeners receive the
        layers of spaCy's own batches (they match batches by their docs) and
        ``state="stateful"`` carries its state from batch to batch, so both keep spaCy's
        batches.
        """
        if self.listeners or layer_settings(self.model).state == "stateful":
            # spaCy's own default batch size unless spaCy passed one
            yield from super().pipe(
                stream, **({} if batch_size is None else {"batch_size": batch_size})
            )
            return
        max_tokens, max_docs = pipe_window(layer_settings(self.model))
        buffer: List[Doc] = []
        tokens = 0
        for doc in stream:
            buffer.append(doc)
            tokens += len(doc)
            if tokens >= max_tokens or len(buffer) >= max_docs:
                yield from self._annotate(buffer)
                buffer, tokens = [], 0
        if buffer:
            yield from self._annotate(buffer)

    def _annotate(self, docs: List[Doc]) -> List[Doc]:
        """``predict`` + ``set_annotations`` on one window of docs, through spaCy's error
        handler like :meth:`TrainablePipe.pipe`."""
        try:
            self.set_annotations(docs, self.predict(docs))
        except Exception as e:  # noqa: BLE001 - handed to spaCy's error handler
            self.get_error_handler()(self.name, self, docs, e)
        return docs

    @property
    def _vectors_only(self) -> bool:
        s = self.settings
        return not (s.store_layers or s.layer_norm or self.listeners)

    def _share(self, docs: List[Doc], layers: LayersOutT, sink: Optional[Callable] = None) -> None:
        if self.listeners:
            batch_id = ElmoListenerNode.get_batch_id(docs)
            for listener in self.listeners:
                if not isinstance(listener, ElmoListenerNode):
                    raise ElmoInputError(Errors.E206.format(name=listener.name))
                listener.receive(batch_id, layers, sink)

    def set_annotations(self, docs: Iterable[Doc], layers: List[np.ndarray]) -> None:
        weights = self.layer_weights
        for doc, doc_layers in zip(docs, layers):
            if doc_layers.ndim == 2:  # already mixed by predict
                doc._.elmo = doc_layers
                if self.settings.set_vectors:
                    set_vector_hooks(doc)
                continue
            mask = np.array([not t.is_space for t in doc], dtype=bool)
            doc._.elmo = fixed_mix(
                doc_layers,
                weights,
                gamma=self.settings.gamma,
                layer_norm=self.settings.layer_norm,
                mask=mask,
            )
            if self.settings.store_layers:
                doc._.elmo_layers = doc_layers
            if self.settings.set_vectors:
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
        listeners. A frozen biLM has nothing to update; a trained one (``trainable_layers``)
        collects the listeners' gradients and sends them through the biLM once per batch
        (:class:`~spacy_elmo.models.finetune.GradientSum`)."""
        if losses is None:
            losses = {}
        losses.setdefault(self.name, 0.0)
        docs = [eg.predicted for eg in examples]
        self._flush_gradients()  # the last batch's, if a listener never sent its gradient
        layers, backprop = self.model.begin_update(docs)  # training mode: turns the cache on
        if layer_settings(self.model).trains:
            self._pending = GradientSum(
                backprop, expected=len(self.listeners), step=self.model.finish_update
            )
            self._share(docs, layers, self._pending.add)
        else:
            self._share(docs, layers)
        return losses

    def _flush_gradients(self) -> None:
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.close()

    def get_loss(self, examples, scores):  # pragma: no cover - no loss of its own
        return 0.0, None

    def finish_update(self, sgd) -> None:
        """Update a trained biLM's layers with the listeners' gradients (at the model
        section's ``learning_rate_scale``); nothing for a frozen biLM."""
        if self._pending is not None:
            self._pending.finish(sgd)
        else:
            self.model.finish_update(sgd)

    def initialize(
        self,
        get_examples: Callable[[], Iterable[Example]],
        *,
        nlp: Optional[Language] = None,
        bilm_loader: Optional[Callable[[Model], Model]] = None,
    ) -> None:
        """Load the biLM, check every ELMo listener of the pipeline and link those of later
        components, so that their models see real layers (and widths) while they are
        initialized.

        bilm_loader (Optional[Callable]): e.g. ``spacy-elmo.BiLMFiles.v1``, to set the biLM
            files here instead of in the model section (not both: E214).
        """
        if bilm_loader is not None:
            settings = layer_settings(self.model)
            if settings.options_file is not None:
                raise ElmoInputError(
                    Errors.E214.format(
                        name=self.name,
                        options_file=settings.options_file,
                        weight_file=settings.weight_file,
                    )
                )
            bilm_loader(self.model)  # attaches the files
            self._weights = None
        get_bilm(self.model).load()  # now: a missing or bad file fails here, not on use
        self.layer_weights  # noqa: B018 - validate scalar_mix
        if nlp is not None:
            check_listener_wiring(nlp)
            names = nlp.pipe_names
            if self.name in names:
                for other in names[names.index(self.name) + 1 :]:
                    self.find_listeners(nlp.get_pipe(other))
            for component, listener in self._linked_nodes():
                listener.check_width(self.embedder.output_dim, f" in component {component!r}")

    def _linked_nodes(self) -> Iterator[Tuple[str, ElmoListenerNode]]:
        for component, listeners in self.listener_map.items():
            for listener in listeners:
                if isinstance(listener, ElmoListenerNode):
                    yield component, listener

    # --- serialization -------------------------------------------------------------------
    def to_disk(self, path, *, exclude: Iterable[str] = tuple()) -> None:
        """Write cfg and the biLM files (options.json, weights.hdf5, byte for byte), each
        through a temporary file: links (at ``path`` or inside it) are replaced, never
        written through, and a write cut short leaves the old file."""
        serialize = {
            "cfg": lambda p: replace_file_bytes(Path(p), _json_bytes(self.cfg)),
            "model": lambda p: get_shim(self.model).write_files(Path(p)),
        }
        util_to_disk(real_folder(Path(path)), serialize, exclude)

    def from_disk(self, path, *, exclude: Iterable[str] = tuple()) -> "Elmo":
        def load_model(p: Path) -> None:
            bilm = get_bilm(self.model)
            bilm.attach(BiLMSource.from_paths(Path(p) / OPTIONS_NAME, Path(p) / WEIGHTS_NAME))
            self._weights = None
            bilm.load()  # now: the directory may go away later

        util_from_disk(path, {"model": load_model}, exclude)
        return self

    def to_bytes(self, *, exclude: Iterable[str] = tuple()) -> bytes:
        files = get_shim(self.model).file_bytes()  # the fine-tuned weights, if trained
        return srsly.msgpack_dumps({"cfg": self.cfg, "files": files})

    def from_bytes(self, bytes_data: bytes, *, exclude: Iterable[str] = tuple()) -> "Elmo":
        expected = {"cfg": dict, "files": dict}
        msg = read_serialized(bytes_data, what="the elmo component", expected=expected)
        bilm = get_bilm(self.model)
        bilm.attach(BiLMSource.from_bytes(msg["files"]))  # E213 / E215 before anything else
        self._weights = None
        bilm.load()  # now, in memory: damaged files fail here (E216), not on use
        return self


# Docs gathered before the biLM runs in ``Elmo.pipe``: this many full biLM batches (the
# embedder's own sorting window, ``embed_sentences``, is 8). Enough for batches of similar
# lengths; the window's outputs (its docs' vectors, every layer) stay a few times one batch's.
PIPE_WINDOW_BATCHES = 4


def pipe_window(settings: BiLMSettings) -> Tuple[int, int]:
    """The most tokens and docs ``Elmo.pipe`` buffers before running the biLM: a few biLM
    batches' worth, from the model's ``max_batch_tokens`` and ``batch_size``."""
    return (
        PIPE_WINDOW_BATCHES * settings.max_batch_tokens,
        PIPE_WINDOW_BATCHES * settings.batch_size,
    )


def _json_bytes(data: Any) -> bytes:
    """``data`` as srsly.write_json writes it."""
    return (srsly.json_dumps(data, indent=2) + "\n").encode("utf8")


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


def check_listener_wiring(nlp: Language) -> None:
    """E210 for an ELMo listener whose ``upstream`` is not an ``elmo`` component before it."""
    names = nlp.pipe_names
    for position, (component, pipe) in enumerate(nlp.pipeline):
        model = getattr(pipe, "model", None)
        if not isinstance(model, Model):
            continue
        for node in model.walk():
            if not isinstance(node, ElmoListenerNode):
                continue
            problem = _wiring_problem(nlp, node.upstream_name, position)
            if problem is not None:
                components = ", ".join(
                    f"{n} (factory {nlp.get_pipe_meta(n).factory!r})" for n in names
                )
                raise ElmoInputError(
                    Errors.E210.format(
                        component=component,
                        upstream=node.upstream_name,
                        problem=problem,
                        components=components or "no components",
                    )
                )


def _wiring_problem(nlp: Language, upstream: str, position: int) -> Optional[str]:
    names = nlp.pipe_names
    if upstream == "*":
        if any(isinstance(nlp.get_pipe(n), Elmo) for n in names[:position]):
            return None
        return "no 'elmo' component comes before it"
    if upstream not in names:
        if upstream in nlp.disabled:
            return f"{upstream!r} is disabled (or frozen while the pipeline is initialised)"
        return "there is no component of that name"
    if not isinstance(nlp.get_pipe(upstream), Elmo):
        return f"{upstream!r} is made by the factory {nlp.get_pipe_meta(upstream).factory!r}"
    if names.index(upstream) > position:
        return f"{upstream!r} comes after it in [nlp] pipeline"
    return None
