"""Corpus-scale embedding (``python -m spacy_elmo embed``): streaming, resumable, sharded.

``reader`` (lazy lines, stdin, read-ahead windows), ``writer`` (chunk files, AllenNLP's
layout), ``resume`` (the unfinished-run folder and its fingerprint), ``shard`` (torchrun
ranks, devices), ``progress``, ``checks`` (OUTPUT refusals) and ``engine`` (the steps).
"""

from .engine import EmbedSettings, embed_corpus
from .shard import Shard, shard_from_env
from .writer import read_index

__all__ = ["EmbedSettings", "Shard", "embed_corpus", "read_index", "shard_from_env"]
