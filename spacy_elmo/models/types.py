"""I/O types of the thinc models in :mod:`spacy_elmo.models`."""

from typing import List

from thinc.types import Floats2d, Floats3d

#: Doc -> all biLM layers, float32 *Shape:* ``(L + 1, n_tokens, 2P)``.
LayersOutT = List[Floats3d]
#: Doc -> one vector per token, float32 *Shape:* ``(n_tokens, width)``.
VectorsOutT = List[Floats2d]
