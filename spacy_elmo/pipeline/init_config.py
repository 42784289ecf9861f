"""Training configs with ELMo for every listed component, built on spaCy's own generator.

``spacy init config`` writes a pipeline whose components listen to one shared ``tok2vec``.
:func:`init_elmo_config` takes that config (same language, components and optimisation goal)
and rewrites it the way ``configs/ner_elmo.cfg`` is written (Peters et al., 2018, sec. 3.3):
the ``tok2vec`` component is replaced by ``elmo``, and each component gets
``spacy-elmo.ElmoTok2Vec.v1``: its own ``ElmoListener`` + ``ScalarMix``, concatenated with
spaCy's ``MultiHashEmbed`` features, then spaCy's encoder, with the embed and encode
settings that spaCy chose. Of the ``elmo`` block only the biLM's source (and, for a GPU,
its device) is written, in ``[components.elmo.model]``: spaCy fills the rest from the
factory's default config, so it is always the factory's current one.
"""

import copy
import dataclasses
import os
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Union

from spacy import util
from spacy.cli.init_config import init_config
from thinc.api import Config

from ..errors import ElmoInputError, Errors
from ..models.layers import ARCHITECTURE
from ..settings import BiLMSettings

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
    model: Optional[str] = None,
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
    gpu (bool): Train on a GPU: ``[components.elmo.model] device = "cuda:0"``, spaCy's GPU
        allocator and batch size. The architecture stays spaCy's CPU one (its GPU one is a
        transformer, which ELMo replaces).
    model (Optional[str]): A catalogue name (``python -m spacy_elmo models``) for
        ``[components.elmo.model] name``; not with files (E402).
    options_file / weight_file (Optional[str]): The biLM's files for
        ``[components.elmo.model]``, each a path, an http(s) URL or an ``hf://`` location;
        all three None (default) for the embedded default biLM. The mixes get one weight
        per biLM layer: the options of a remote file are fetched (into the cache) to count
        them; the weights are fetched when the pipeline is initialised.
    RETURNS (Config): The config, with ``${...}`` references kept.
    """
    components = _check_pipeline(pipeline)
    if optimize not in OPTIMIZE:
        raise ElmoInputError(Errors.E253.format(value=optimize, options=", ".join(OPTIMIZE)))
    source = BiLMSettings(name=model, options_file=options_file, weight_file=weight_file)
    config = init_config(lang=lang, pipeline=components, optimize=optimize, gpu=False)
    tok2vec = _spacy_tok2vec(config, lang=lang, optimize=optimize)
    n_layers = _n_layers(source)
    config["components"].pop("tok2vec", None)
    for name in components:
        _use_elmo(config["components"][name], name, tok2vec=tok2vec, n_layers=n_layers)
    config["nlp"]["pipeline"] = [ELMO] + components
    config["components"][ELMO] = {"factory": ELMO, "model": _bilm_section(source, gpu=gpu)}
    if gpu:
        config["system"]["gpu_allocator"] = "pytorch"
        config["nlp"]["batch_size"] = 128
    # spaCy fills the elmo block (and anything else left out) from the factory defaults.
    filled = util.load_model_from_config(config, auto_fill=True, validate=True).config
    _drop_unset_shorthand(filled["components"][ELMO])
    return filled


def _drop_unset_shorthand(elmo: Dict[str, Any]) -> None:
    """Remove the factory's flat biLM shorthand (``[components.elmo] device = null`` etc.,
    all "not given"), so each biLM setting appears once in the file: in the model section.
    spaCy fills the same nulls back in when it loads the config."""
    for f in dataclasses.fields(BiLMSettings):
        if f.name in elmo and elmo[f.name] is None:
            del elmo[f.name]


def _bilm_section(source: BiLMSettings, *, gpu: bool) -> Dict[str, Any]:
    """``[components.elmo.model]``: every biLM setting lives in the section of the
    architecture that owns it, never in the component's flat shorthand, so a later edit of
    the model section (as W020 advises for the device) cannot conflict with it (E207)."""
    section: Dict[str, Any] = {"@architectures": ARCHITECTURE}
    for key in ("name", "options_file", "weight_file"):
        if getattr(source, key) is not None:
            section[key] = getattr(source, key)
    if gpu:
        section["device"] = "cuda:0"
    return section


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


def _n_layers(source: BiLMSettings) -> int:
    """Output layers of the biLM (L + 1). A catalogue model's are recorded in the catalogue
    (no download); a file's are read from its options.json, fetched first when remote (a
    location is parsed, never made a ``Path``: that would mangle ``http://``)."""
    from ..hub import DEFAULT_NAME, get_entry, resolve_bilm, resolve_file
    from ..util import default_model_paths
    from ..weights.options import load_options

    if source.name is not None and source.name.strip() != DEFAULT_NAME:
        layers = get_entry(source.name).layers
        if layers is not None:
            return layers + 1
        # A catalogue entry whose public listing states no architecture: read its options.
        options = resolve_bilm(name=source.name).options
    elif source.options_file is None:
        options = default_model_paths()[0]
    else:
        options = resolve_file(source.options_file, kind="options")
    return load_options(options).lstm.n_layers + 1


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
