# One torch thread, one warm tiny biLM and the pipeline factory for this package's tests.
from ..spacy_fixtures import keep_tiny_loaded, make_nlp, one_torch_thread, tiny_paths  # noqa: F401
