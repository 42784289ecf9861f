"""I/O types of the thinc models in :mod:`spacy_elmo.models`."""

from typing import List

from thinc.types import Floats2d, Floats3d

#: Doc -> all biLM layers, float32 *Shape:* ``(L + 1, n_tokens, 2P)``.
LayersOutT = List[Floats3d]
#: Doc -> one vector per token, float32 *Shape:* ``(n_tokens, width)``.
VectorsOutT = List[Floats2d]


class TrainableLayers(List[Floats3d]):
    """The layers of a batch from a biLM being fine-tuned, in training: a plain list of
    ``(L + 1, n_tokens, 2P)`` arrays that also tells the mix downstream to send gradients
    back (a frozen biLM's layers are a plain list, and the mix computes none for them)."""
