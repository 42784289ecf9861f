"""Load biLMs by name or location: the model catalogue, downloads, the shared cache.

``resolve_bilm(name="original")`` or ``resolve_bilm(options_file=URL, weight_file=URL)``
gives local files; see docs/models.md. ``requests``, ``filelock`` and ``huggingface_hub``
(the ``hub`` extra) are imported only when something must be fetched.
"""

from .cache import cache_dir, offline_flag
from .catalogue import CATALOGUE, DEFAULT_NAME, ModelEntry, Source, get_entry, known_names
from .fetch import FetchPolicy, fetch_url
from .locations import Location, is_remote, parse_location
from .resolve import (
    BiLMFiles,
    cached_file,
    cached_source,
    fetch_model,
    looks_like_name,
    resolve_bilm,
    resolve_file,
)

__all__ = [
    "CATALOGUE",
    "DEFAULT_NAME",
    "BiLMFiles",
    "FetchPolicy",
    "Location",
    "ModelEntry",
    "Source",
    "cache_dir",
    "cached_file",
    "cached_source",
    "fetch_model",
    "fetch_url",
    "get_entry",
    "is_remote",
    "known_names",
    "looks_like_name",
    "offline_flag",
    "parse_location",
    "resolve_bilm",
    "resolve_file",
]
