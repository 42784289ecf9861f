"""The benchmarks of spacy-elmo, run from a source checkout (``python -m benchmarks``, or
``python -m spacy_elmo bench``): they are not part of the installed package.

Plain functions; ``python -m benchmarks`` is a thin typer shim over :func:`run_benchmark`.
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
