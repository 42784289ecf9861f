"""``BiLMOwner``: what an ``ElmoLayers`` model holds of its frozen biLM.

The settings (which biLM, how it runs), the biLM's files (:class:`~.source.BiLMSource`,
resolved from the settings once, or attached by a ``bilm_loader``, ``from_disk`` or
``from_bytes``), the training-time layer cache and the loaded runtime. The runtime comes from
:func:`spacy_elmo.shared.shared_embedder`, so pipelines with the same files share it, unless
the settings train the biLM (``trainable_layers``): training changes the weights, so such a
model loads its own copy, and once updated it saves the fine-tuned weights (:mod:`.finetune`).
It is loaded by :meth:`BiLMOwner.load` (the ``elmo`` component's ``initialize``,
``from_disk`` and ``from_bytes``), else on first use (a pipeline never initialised).
"""

import copy
from typing import Dict, List, Optional, Tuple

from thinc.api import Ops, Optimizer

from ..embedder import ElmoEmbedder
from ..memory import check_fits, device_memory, host_memory
from ..settings import BiLMSettings
from ..shared import SharedKey, shared_embedder
from .cache import LayerCache
from .device import device_for
from .finetune import apply_update, unfreeze, weights_bytes
from .source import OPTIONS_NAME, BiLMSource


class BiLMOwner:
    """Settings, files, layer cache and runtime of one ``ElmoLayers`` model."""

    def __init__(
        self, settings: BiLMSettings, ops: Ops, *, source: Optional[BiLMSource] = None
    ) -> None:
        self.settings = settings
        self.ops = ops
        #: Files attached explicitly (loader, from_disk, from_bytes); None: the settings'.
        self.attached: Optional[BiLMSource] = source
        self._resolved: Optional[BiLMSource] = None
        self._embedder: Optional[ElmoEmbedder] = None
        self.cache = LayerCache(settings.cache_size)
        #: Set once the model runs in training mode; inference alone does not cache.
        self.cache_active = False
        #: The settings and runtime whose sizes were last checked (E115).
        self._sizes_checked: Optional[Tuple[BiLMSettings, ElmoEmbedder]] = None
        #: Names of the biLM parameters being trained (``trainable_layers``), once loaded.
        self.trained: List[str] = []
        #: Whether an update changed the weights since they were loaded: then they are
        #: saved from memory rather than copied from the files.
        self.tuned = False

    # --- files and settings -----------------------------------------------------------------
    @property
    def source(self) -> BiLMSource:
        """The attached files, else those the settings name (resolved once)."""
        if self.attached is not None:
            return self.attached
        if self._resolved is None:
            self._resolved = BiLMSource.from_settings(self.settings)
        return self._resolved

    def attach(self, source: BiLMSource) -> None:
        """Use these files instead of those the settings name; drops a loaded runtime."""
        self.attached = source
        self._unload()

    def configure(self, settings: BiLMSettings) -> None:
        """Use these settings; a loaded runtime is kept if the files, state, device and
        precision it depends on are the same."""
        old, self.settings = self.settings, settings
        if _files_of(old) != _files_of(settings):
            self._resolved = None
            self._unload()
        if _run_key(old) != _run_key(settings):
            self._unload()
        self.cache.max_tokens = settings.cache_size
        self.cache.clear()

    def _unload(self) -> None:
        self._embedder = None
        self.cache.clear()
        self.trained, self.tuned = [], False

    # --- the runtime --------------------------------------------------------------------------
    @property
    def device(self) -> str:
        """The torch device the biLM runs on (see :mod:`.device`)."""
        return device_for(self.settings.device, self.ops)

    @property
    def loaded(self) -> bool:
        return self._embedder is not None

    def load(self) -> ElmoEmbedder:
        """Load now (if not loaded): a missing or damaged file fails here, with its coded
        error, rather than at the first doc."""
        return self.embedder

    @property
    def embedder(self) -> ElmoEmbedder:
        """The runtime, loaded on first access; E115 for settings too large for memory."""
        embedder = self._embedder
        if embedder is None:
            embedder = self._embedder = self._shared()
        checked = self._sizes_checked
        if checked is None or checked[0] is not self.settings or checked[1] is not embedder:
            check_setting_sizes(self.settings, embedder)
            self._sizes_checked = (self.settings, embedder)
        return embedder

    def _shared(self) -> ElmoEmbedder:
        source, settings, device = self.source, self.settings, self.device
        state, precision = settings.state, settings.precision
        source.check()  # coded errors for missing files before they are hashed
        if settings.trains:  # its own copy: training changes the weights
            embedder = source.load(state=state, device=device, precision=precision)
            self.trained = unfreeze(
                embedder.bilm, settings.trainable_layers, precision=settings.precision
            )
            self.tuned = False
            return embedder
        key = SharedKey(
            digest=source.digest if state != "stateful" else "",
            state=state,
            device=device,
            precision=precision,
        )
        return shared_embedder(
            key, lambda: source.load(state=state, device=device, precision=precision)
        )

    def to_device(self, ops: Ops) -> None:
        """Follow ``model.to_gpu(N)`` / ``model.to_cpu()`` when ``device = "auto"`` (the
        biLM is moved when next used)."""
        moved = (ops.name, ops.device_id) != (self.ops.name, self.ops.device_id)
        if self.settings.device == "auto" and moved:
            if self.tuned:  # loaded again from the fine-tuned weights, not the original files
                self.attach(self.saved_source())
            else:
                self._embedder = None
        self.ops = ops

    def copy(self) -> "BiLMOwner":
        """A copy with its own empty cache; the frozen runtime is shared, except a stateful
        one, which carries its own state, and a trained one, which has its own weights."""
        new = copy.copy(self)
        new.cache = LayerCache(self.settings.cache_size)
        new.cache_active = False
        new.trained = list(self.trained)
        if self.settings.state == "stateful" or self.settings.trains:
            new._embedder = copy.deepcopy(self._embedder)
        return new

    # --- training (trainable_layers) ----------------------------------------------------------
    def finish_update(self, optimizer: Optimizer, *, key_id: int) -> None:
        """Apply the trained parameters' gradients with ``optimizer`` at the settings'
        ``learning_rate_scale``; the runtime then follows the new weights."""
        embedder = self._embedder
        if embedder is None or not self.trained:
            return
        scale = self.settings.learning_rate_scale
        if apply_update(embedder.bilm, self.trained, optimizer, key_id=key_id, lr_scale=scale):
            self.tuned = True
            embedder.weights_changed()

    def file_bytes(self) -> Dict[str, bytes]:
        """The biLM's two files, as :meth:`saved_source` has them."""
        return self.saved_source().file_bytes()

    def saved_source(self) -> BiLMSource:
        """The files that hold this biLM: the source, or, once the weights were fine-tuned,
        the source's options.json and the weights as they are now (bytes)."""
        if not self.tuned or self._embedder is None:
            return self.source
        paths = self.source.paths
        options = self.source.options if paths is None else paths[OPTIONS_NAME].read_bytes()
        assert isinstance(options, bytes)
        return BiLMSource(options=options, weights=weights_bytes(self._embedder.bilm))


def check_setting_sizes(settings: BiLMSettings, embedder: ElmoEmbedder) -> None:
    """E115 for a size-like setting that could never fit in memory, now that the biLM's
    widths are known. Every token of the layer cache, and of a biLM call, is
    ``(L + 1) * 2P`` float32 values: cached layers live on the host, a call's layers on the
    biLM's device and then on the host."""
    n_layers, width = embedder.n_layers, embedder.output_dim
    host = ("cpu", host_memory())
    places = [host]
    if embedder.device.type != "cpu":
        places.append((str(embedder.device), device_memory(embedder.device)))
    default = BiLMSettings()
    sizes = [
        ("cache_size", settings.cache_size, default.cache_size, [host]),
        ("max_batch_tokens", settings.max_batch_tokens, default.max_batch_tokens, places),
        ("max_sentence_length", settings.max_sentence_length, default.max_sentence_length, places),
        (
            "window + 2 * overlap",
            settings.window + 2 * settings.overlap,
            default.window + 2 * default.overlap,
            places,
        ),
    ]
    for name, value, default_value, where in sizes:
        for device, memory in where:
            check_fits(
                name,
                value,
                item_bytes=4 * n_layers * width,
                what=f"{n_layers} layers x {width} float32 values per token",
                device=device,
                memory=memory,
                advice=f" in [components.elmo.model] (default {default_value:,})",
            )


def _files_of(settings: BiLMSettings) -> Tuple[Optional[str], ...]:
    return settings.name, settings.options_file, settings.weight_file


def _run_key(settings: BiLMSettings) -> Tuple[object, ...]:
    return settings.state, settings.device, settings.precision, settings.trainable_layers
