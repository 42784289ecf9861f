"""spacy-elmo: ELMo (Peters et al., 2018) for spaCy v3, exact to the original files."""

from .embedder import ElmoEmbedder
from .pytorch.char_ids import batch_to_ids
from .util import default_model_paths

__version__ = "0.1.0"
__all__ = ["ElmoEmbedder", "batch_to_ids", "default_model_paths", "__version__"]
