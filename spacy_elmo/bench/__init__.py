"""The benchmark: tokens/s, GFLOP/s and peak RSS of spacy-elmo against AllenNLP.

Plain functions; ``python -m spacy_elmo bench`` is a thin shim over :func:`run_benchmark`.
"""

from .runner import default_reference_python, format_table, run_benchmark
from .sentences import make_sentences, sentence_stats
from .weights import make_weights

__all__ = [
    "default_reference_python",
    "format_table",
    "make_sentences",
    "make_weights",
    "run_benchmark",
    "sentence_stats",
]
