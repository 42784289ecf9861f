"""The ``elmo_cleanup`` component: drop stored ELMo arrays at the end of a pipeline."""

from spacy.language import Language
from spacy.tokens import Doc


@Language.factory("elmo_cleanup", default_config={"layers": True, "vectors": False})
def make_elmo_cleanup(nlp: Language, name: str, layers: bool, vectors: bool) -> "ElmoCleanup":
    """Free ``doc._.elmo_layers`` (``layers``) and ``doc._.elmo`` (``vectors``) once the
    downstream components have used them, e.g. before docs are kept or sent between
    processes."""
    return ElmoCleanup(layers=layers, vectors=vectors)


class ElmoCleanup:
    def __init__(self, *, layers: bool = True, vectors: bool = False) -> None:
        self.layers = layers
        self.vectors = vectors

    def __call__(self, doc: Doc) -> Doc:
        if self.layers and Doc.has_extension("elmo_layers"):
            doc._.elmo_layers = None
        if self.vectors and Doc.has_extension("elmo"):
            doc._.elmo = None
        return doc
