"""biLM pretraining in pure torch (Peters et al., 2018): corpus -> streams -> biLM + shared
adaptive softmax -> options.json + weights.hdf5.

``from spacy_elmo.pretrain import pretrain, load_config``; CLI: ``python -m spacy_elmo pretrain``.
"""

from .config import PretrainConfig, config_from_dict, load_config, with_overrides
from .export import export_checkpoint, load_checkpoint_model, load_exported
from .loop import pretrain

__all__ = [
    "PretrainConfig",
    "config_from_dict",
    "load_config",
    "with_overrides",
    "pretrain",
    "export_checkpoint",
    "load_checkpoint_model",
    "load_exported",
]
