"""Training configs with ELMo for every listed component, built on spaCy's own generator.

``spacy init config`` writes a pipeline whose components listen to one shared ``tok2vec``.
:func:`init_elmo_config` takes that config (same language, components and optimisation goal)
and rewrites it the way ``configs/ner_elmo.cfg`` is written (Peters et al., 2018, sec. 3.3):
the ``tok2vec`` component is replaced by ``elmo``, and each component gets
``spacy-elmo.ElmoTok2Vec.v1``: its own ``ElmoListener`` + ``ScalarMix``, concatenated with
spaCy's ``MultiHashEmbed`` features, then spaCy's encoder, with the embed and encode
settings that spaCy chose. The ``elmo`` block itself is never written here: spaCy fills it
from the factory's default config, so it is always the factory's current one.
"""

import copy
import os
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Union

from spacy import util
from spacy.cli.init_config import init_config
from thinc.api import Config

from ..errors import ElmoInputError, Errors

# Components whose model takes a tok2vec (List[Doc] -> List[Floats2d]) at ``model.tok2vec``,
# tested to train with the rewritten config.
SUPPORTED = ("tagger", "morphologizer", "parser", "ner", "textcat", "textcat_multilabel")
OPTIMIZE = ("efficiency", "accuracy")
TEXTCATS = ("textcat", "textcat_multilabel")
ELMO = "elmo"
# The mix's dropout, as in the shipped NER and textcat configs.
MIX_DROPOUT = 0.2


def init_elmo_config(
    *,
    pipeline: Sequence[str],
    lang: str = "en",
    optimize: str = "efficiency",
    gpu: bool = False,
    options_file: Optional[str] = None,
    weight_file: Optional[str] = None,
) -> Config:
    """A complete, filled training config where ``elmo`` feeds every component of
    ``pipeline``.

    pipeline (Sequence[str]): Trainable components, as for ``spacy init config -p``, from
        :data:`SUPPORTED` ("tok2vec" is dropped: ``elmo`` takes its place).
    lang (str): Language code, as for ``spacy init config --lang``.
    optimize (str): "efficiency" (default) or "accuracy": spaCy's choice of the
        context-independent features and encoder (accuracy: wider, deeper, static vectors).
    gpu (bool): Train on a GPU: the biLM on "cuda:0" and spaCy's GPU allocator and batch
        size. The architecture stays spaCy's CPU one (its GPU one is a transformer, which
        ELMo replaces).
    options_file / weight_file (Optional[str]): biLM files for ``[components.elmo]``; None
        (default) for the embedded default biLM. The mixes get one weight per biLM layer.
    RETURNS (Config): The config, with ``${...}`` references kept.
    """
    components = _check_pipeline(pipeline)
    if optimize not in OPTIMIZE:
        raise ElmoInputError(Errors.E253.format(value=optimize, options=", ".join(OPTIMIZE)))
    config = init_config(lang=lang, pipeline=components, optimize=optimize, gpu=False)
    tok2vec = _spacy_tok2vec(config, lang=lang, optimize=optimize)
    n_layers = _n_layers(options_file)
    config["components"].pop("tok2vec", None)
    for name in components:
        _use_elmo(config["components"][name], name, tok2vec=tok2vec, n_layers=n_layers)
    config["nlp"]["pipeline"] = [ELMO] + components
    elmo: Dict[str, Any] = {"factory": ELMO}
    if options_file is not None or weight_file is not None:
        elmo.update(options_file=options_file, weight_file=weight_file)
    if gpu:
        elmo["device"] = "cuda:0"
        config["system"]["gpu_allocator"] = "pytorch"
        config["nlp"]["batch_size"] = 128
    config["components"][ELMO] = elmo
    # spaCy fills the elmo block (and anything else left out) from the factory defaults.
    return util.load_model_from_config(config, auto_fill=True, validate=True).config


def _check_pipeline(pipeline: Sequence[str]) -> List[str]:
    components = [name for name in pipeline if name not in ("tok2vec", ELMO)]
    if not components:
        raise ElmoInputError(Errors.E252.format(supported=", ".join(SUPPORTED)))
    unsupported = [name for name in components if name not in SUPPORTED]
    if unsupported:
        raise ElmoInputError(Errors.E251.format(names=unsupported, supported=", ".join(SUPPORTED)))
    if len(set(components)) != len(components):
        raise ElmoInputError(Errors.E254.format(pipeline=list(pipeline)))
    return components


def _spacy_tok2vec(config: Config, *, lang: str, optimize: str) -> Dict[str, Any]:
    """spaCy's embed and encode settings for this language and goal (interpolated).

    A pipeline of BOW text classifiers has no tok2vec in spaCy's config; the settings then
    come from spaCy's config for a tagger, the same generator's choice for token features.
    """
    if "tok2vec" not in config["components"]:
        config_with = init_config(lang=lang, pipeline=["tagger"], optimize=optimize, gpu=False)
        return _spacy_tok2vec(config_with, lang=lang, optimize=optimize)
    model = config.interpolate()["components"]["tok2vec"]["model"]
    return {"embed": dict(model["embed"]), "encode": dict(model["encode"])}


def _n_layers(options_file: Optional[str]) -> int:
    """Output layers of the biLM (L + 1): 3 for the default and the published models."""
    if options_file is None:
        return 3
    from ..weights.options import load_options

    return load_options(options_file).lstm.n_layers + 1


def _use_elmo(
    component: Dict[str, Any], name: str, *, tok2vec: Dict[str, Any], n_layers: int
) -> None:
    """Replace the component's tok2vec (a listener) with its own ELMo tok2vec."""
    model = component["model"]
    if name in TEXTCATS and "tok2vec" not in model:
        # spaCy's efficiency textcat is bag-of-words only: keep it as the linear part of an
        # ensemble, as configs/textcat_elmo.cfg does.
        linear = copy.deepcopy(dict(model))
        linear.pop("nO", None)
        model = {"@architectures": "spacy.TextCatEnsemble.v2", "nO": None, "linear_model": linear}
        component["model"] = model
    model["tok2vec"] = _elmo_tok2vec(tok2vec, n_layers=n_layers, layer_norm=name in TEXTCATS)


def _elmo_tok2vec(tok2vec: Dict[str, Any], *, n_layers: int, layer_norm: bool) -> Dict[str, Any]:
    encode = copy.deepcopy(tok2vec["encode"])
    embed = copy.deepcopy(tok2vec["embed"])
    width = encode["width"]
    embed["width"] = width
    mix = {
        "@architectures": "spacy-elmo.ScalarMix.v1",
        "n_layers": n_layers,
        # Normalised layers for text classifiers: chosen on a tuning split of SST-5 train
        # (docs/spacy.md); made no difference for NER.
        "layer_norm": layer_norm,
        "dropout": MIX_DROPOUT,
    }
    return {
        "@architectures": "spacy-elmo.ElmoTok2Vec.v1",
        "width": width,
        "maxout_pieces": encode.get("maxout_pieces", 3),
        "elmo": {"@architectures": "spacy-elmo.ElmoListener.v1", "upstream": ELMO, "mix": mix},
        "embed": embed,
        "encode": encode,
    }


def write_config(config: Config, path: Union[str, Path], *, force: bool = False) -> None:
    """Write ``config`` to ``path`` atomically (a temporary file, then ``os.replace``)."""
    path = Path(path)
    if path.exists() and not force:
        raise ElmoInputError(Errors.E255.format(path=path))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(config.to_str(interpolate=False), encoding="utf8")
    os.replace(tmp, path)
