"""spacy-elmo: ELMo (Peters et al., 2018) for spaCy v3, exact to the original files.

The public names load on first use (PEP 562): ``import spacy_elmo.settings`` or
``import spacy_elmo.errors`` must not pay for torch, which only the runtime needs.
"""

from importlib import import_module
from typing import TYPE_CHECKING, Any, Dict, List

if TYPE_CHECKING:  # what the lazy names are, for type checkers and the import graph
    from .embedder import ElmoEmbedder
    from .pytorch.char_ids import batch_to_ids
    from .util import default_model_paths

__version__ = "0.1.0"
__all__ = ["ElmoEmbedder", "batch_to_ids", "default_model_paths", "__version__"]

#: Public name -> the module (relative to this package) that defines it.
_LAZY: Dict[str, str] = {
    "ElmoEmbedder": ".embedder",
    "batch_to_ids": ".pytorch.char_ids",
    "default_model_paths": ".util",
}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(_LAZY[name], __name__), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> List[str]:
    return sorted(set(globals()) | set(_LAZY))
