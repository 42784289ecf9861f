"""``spacy-elmo.BiLMFiles.v1``: give the ``elmo`` component its biLM files at initialize.

The loader attaches the files to the model (``nlp.initialize()`` then loads the biLM, so a
missing or damaged file is reported there, not at the first doc), as spacy-curated-
transformers attaches its encoders' weights with its model loaders.

For training configs that should not record local paths in the component config::

    [initialize.components.elmo.bilm_loader]
    @model_loaders = "spacy-elmo.BiLMFiles.v1"
    options_file = "assets/options.json"
    weight_file = "assets/weights.hdf5"

Either file may be an ``http(s)://`` URL or ``hf://OWNER/REPO[@REVISION]/PATH``: it is
fetched into the download cache at initialize (docs/models.md). The files are copied into the
pipeline by ``nlp.to_disk`` like any others, so ``spacy.load`` never needs the network.
"""

from typing import Callable

from thinc.api import Model, registry

from ..hub import resolve_bilm
from ..models.layers import get_bilm
from ..models.source import BiLMSource

# spacy-curated-transformers creates the same registry; entry points: thinc_model_loaders.
if not hasattr(registry, "model_loaders"):
    registry.create("model_loaders", entry_points=True)


def make_bilm_files_loader_v1(*, options_file: str, weight_file: str) -> Callable[[Model], Model]:
    """options_file (str): options.json of the biLM. weight_file (str): weights.hdf5.
    Each a local path, an http(s) URL or an hf:// location."""

    def load(model: Model) -> Model:
        files = resolve_bilm(options_file=options_file, weight_file=weight_file)
        get_bilm(model).attach(BiLMSource.from_paths(files.options, files.weights))
        return model

    return load
