"""thinc models: the frozen biLM layers, the task-specific mix, listeners, tok2vec."""

from .layers import build_elmo_layers_v1, configure_elmo_layers
from .listener import ElmoListenerNode, build_elmo_listener_v1
from .scalar_mix import build_scalar_mix_v1
from .tok2vec import build_elmo_tok2vec_v1

__all__ = [
    "build_elmo_layers_v1",
    "configure_elmo_layers",
    "build_elmo_listener_v1",
    "build_scalar_mix_v1",
    "build_elmo_tok2vec_v1",
    "ElmoListenerNode",
]
