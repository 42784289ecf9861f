"""What corpus embedding needs from an embedder, as a protocol.

``spacy_elmo.ElmoEmbedder`` satisfies it; naming the protocol here rather than importing
the class keeps the corpus layer below the runtime, so ``ElmoEmbedder.embed_file`` can
hand its work down to :func:`spacy_elmo.corpus.embed_corpus` without an import cycle.
"""

from typing import List, Optional, Protocol, Sequence

import numpy as np
import torch

from ..pytorch.bilm import ELMoBiLM
from ..pytorch.lstm import LSTMState


class CorpusEmbedder(Protocol):
    """An embedder as ``embed_corpus`` uses it (see :class:`spacy_elmo.ElmoEmbedder`)."""

    bilm: ELMoBiLM
    state: str  # "warm", "zero" or "stateful"
    precision: str

    @property
    def device(self) -> torch.device: ...

    @property
    def carried_state(self) -> Optional[LSTMState]:
        """The states ``state="stateful"`` carries between batches, by row."""
        ...

    @carried_state.setter
    def carried_state(self, state: Optional[LSTMState]) -> None: ...

    def clear_cache(self) -> None: ...

    def embed_batch(self, batch: Sequence[Sequence[str]]) -> List[np.ndarray]:
        """*Shape* of each result: ``(L + 1, n_tokens, 2P)``."""
        ...
