"""Reading and writing the original bilm-tf / AllenNLP files."""

from .hdf5 import (
    check_weights,
    expected_shapes,
    iter_weights,
    load_bilm,
    load_weights,
    read_weights,
    save_weights,
)
from .memory import MemoryFile
from .options import config_from_dict, config_to_dict, load_options, save_options

__all__ = [
    "check_weights",
    "expected_shapes",
    "iter_weights",
    "load_bilm",
    "load_weights",
    "read_weights",
    "save_weights",
    "MemoryFile",
    "config_from_dict",
    "config_to_dict",
    "load_options",
    "save_options",
]
