"""Corpus converters: CoNLL (IOB1/IOB2) NER and TSV text classification -> spaCy docs."""

from .convert import convert_file, read_conll, read_tsv

__all__ = ["convert_file", "read_conll", "read_tsv"]
