"""``init-config``: generated configs train with ``spacy train`` for every supported component;
``mixes`` reads what each component learned."""

from pathlib import Path

import pytest
import spacy
import torch
from spacy.cli.train import train
from spacy.tokens import DocBin
from spacy.training.converters import conllu_to_docs
from thinc.api import Config
from typer.testing import CliRunner

from spacy_elmo.cli import app
from spacy_elmo.data.convert import convert_file
from spacy_elmo.errors import ElmoInputError
from spacy_elmo.models.shim import _LOADED
from spacy_elmo.pipeline.init_config import SUPPORTED, init_elmo_config, write_config
from spacy_elmo.pipeline.mixes import learned_mixes, load_learned_mixes, markdown_table

from ..spacy_fixtures import DATA

SYNTAX = ("tagger", "morphologizer", "parser")


@pytest.fixture(scope="module", autouse=True)
def forget_char_cnn_cache():
    """Trainings here fill the shared tiny biLM's char-CNN cache from batches of their own;
    later tests compare fresh computations bit for bit, so leave the cache empty."""
    yield
    for embedder in list(_LOADED.values()):
        embedder.clear_cache()


@pytest.fixture(scope="module")
def data_files(tmp_path_factory):
    """Tiny .spacy files: self-written CoNLL-U (syntax), wikigold (ner), sentiment (textcat)."""
    out = tmp_path_factory.mktemp("data")
    text = (DATA / "syntax_sample.conllu").read_text(encoding="utf8")
    docs = list(conllu_to_docs(text, n_sents=1, no_print=True))
    DocBin(docs=docs).to_disk(out / "syntax.spacy")
    convert_file(DATA / "wikigold_sample.conll", out / "ner.spacy", file_type="conll", limit=10)
    convert_file(DATA / "textcat_sample.tsv", out / "textcat.spacy", file_type="tsv", limit=20)
    return {
        **{name: out / "syntax.spacy" for name in SYNTAX},
        "ner": out / "ner.spacy",
        "textcat": out / "textcat.spacy",
        "textcat_multilabel": out / "textcat.spacy",
    }


def _train(tmp_path, config, data, steps=6):
    path = tmp_path / "config.cfg"
    write_config(config, path)
    overrides = {
        "paths.train": str(data),
        "paths.dev": str(data),
        "training.max_steps": steps,
        "training.eval_frequency": steps,
        "training.batcher.size.start": 1000,
    }
    if "parser" in config["components"]:
        # Eight sentences: every relation is rarer than spaCy's default of 30, and merging
        # them all into one label leaves no gold transition.
        overrides["components.parser.min_action_freq"] = 1
    train(path, tmp_path / "out", use_gpu=-1, overrides=overrides)
    return spacy.load(tmp_path / "out" / "model-last")


@pytest.mark.parametrize("name", SUPPORTED)
def test_init_config_trains_each_component(tmp_path, tiny_paths, data_files, name):
    config = init_elmo_config(
        pipeline=[name], options_file=tiny_paths[0], weight_file=tiny_paths[1]
    )
    assert "tok2vec" not in config["components"]
    nlp = _train(tmp_path, config, data_files[name])
    assert nlp.pipe_names == ["elmo", name]
    [mix] = learned_mixes(nlp)
    assert mix.component == name
    assert sum(mix.weights) == pytest.approx(1.0, abs=1e-6)
    # Trained: the mix moved away from its even, gamma = 1 start.
    assert max(abs(w - 1 / 3) for w in mix.weights) > 1e-4 or abs(mix.gamma - 1.0) > 1e-4
    nlp("A new sentence to annotate .")


def test_init_config_syntax_pipeline_trains_and_mixes_are_listed(tmp_path, tiny_paths, data_files):
    config = init_elmo_config(
        pipeline=list(SYNTAX), options_file=tiny_paths[0], weight_file=tiny_paths[1]
    )
    listeners = [config["components"][n]["model"]["tok2vec"]["elmo"]["upstream"] for n in SYNTAX]
    assert listeners == ["elmo"] * 3
    nlp = _train(tmp_path, config, data_files["parser"], steps=10)
    assert nlp.pipe_names == ["elmo", *SYNTAX]
    mixes = load_learned_mixes(tmp_path / "out" / "model-last")
    assert [m.component for m in mixes] == list(SYNTAX)
    # Each component has its own mix: they learn different weights.
    assert mixes[0].weights != mixes[2].weights
    table = markdown_table(mixes)
    assert table.count("\n") == 2 + len(SYNTAX) - 1 and "| parser |" in table
    result = CliRunner().invoke(app, ["mixes", str(tmp_path / "out" / "model-last")])
    assert result.exit_code == 0, result.output
    assert "| morphologizer |" in result.output
    doc = nlp("The dog runs home .")
    assert doc.has_annotation("DEP") and doc.has_annotation("POS")
    assert doc.has_annotation("SENT_START")  # sentence boundaries from the parser


def test_init_config_elmo_block_is_the_factory_default():
    config = init_elmo_config(pipeline=["ner"])
    nlp = spacy.blank("en")
    nlp.add_pipe("elmo")
    assert config["components"]["elmo"] == nlp.config["components"]["elmo"]
    assert config["nlp"]["pipeline"] == ["elmo", "ner"]


def test_init_config_textcat_efficiency_keeps_bow_in_an_ensemble():
    config = init_elmo_config(pipeline=["textcat"])
    model = config["components"]["textcat"]["model"]
    assert model["@architectures"] == "spacy.TextCatEnsemble.v2"
    assert model["linear_model"]["@architectures"].startswith("spacy.TextCatBOW")
    assert model["tok2vec"]["elmo"]["mix"]["layer_norm"] is True


def test_init_config_accuracy_takes_spacys_wider_encoder():
    small = init_elmo_config(pipeline=["tagger"])["components"]["tagger"]["model"]["tok2vec"]
    big = init_elmo_config(pipeline=["tagger"], optimize="accuracy")
    big_t2v = big["components"]["tagger"]["model"]["tok2vec"]
    assert big_t2v["width"] > small["width"]
    assert big_t2v["embed"]["width"] == big_t2v["width"] == big_t2v["encode"]["width"]


def test_init_config_gpu_puts_the_bilm_on_cuda():
    config = init_elmo_config(pipeline=["ner"], gpu=True)
    assert config["components"]["elmo"]["device"] == "cuda:0"
    assert config["system"]["gpu_allocator"] == "pytorch"
    assert "transformer" not in config["components"]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_init_config_gpu_trains_on_cuda(tmp_path, tiny_paths, data_files):
    config = init_elmo_config(
        pipeline=["tagger"], gpu=True, options_file=tiny_paths[0], weight_file=tiny_paths[1]
    )
    path = tmp_path / "config.cfg"
    write_config(config, path)
    overrides = {"paths.train": str(data_files["tagger"]), "paths.dev": str(data_files["tagger"])}
    train(path, tmp_path / "out", use_gpu=0, overrides={**overrides, "training.max_steps": 4})
    assert spacy.load(tmp_path / "out" / "model-last").pipe_names == ["elmo", "tagger"]


@pytest.mark.parametrize(
    "pipeline,code",
    [
        (["ner", "nonexistent_pipe"], "E251"),
        (["spancat"], "E251"),  # spaCy has it; init-config does not support it
        (["tok2vec"], "E252"),
        (["ner", "ner"], "E254"),
    ],
)
def test_init_config_rejects_bad_pipelines(pipeline, code):
    with pytest.raises(ElmoInputError, match=code) as e:
        init_elmo_config(pipeline=pipeline)
    if code == "E251":
        assert all(name in str(e.value) for name in SUPPORTED)


def test_init_config_rejects_unknown_optimize():
    with pytest.raises(ElmoInputError, match="E253"):
        init_elmo_config(pipeline=["ner"], optimize="speed")


def test_init_config_cli_writes_and_refuses_to_overwrite(tmp_path):
    out = tmp_path / "elmo.cfg"
    runner = CliRunner()
    result = runner.invoke(app, ["init-config", str(out), "-p", "tagger,parser"])
    assert result.exit_code == 0, result.output
    config = Config().from_disk(out)
    assert config["nlp"]["pipeline"] == ["elmo", "tagger", "parser"]
    again = runner.invoke(app, ["init-config", str(out), "-p", "ner"])
    assert again.exit_code != 0 and "E255" in str(again.exception)
    assert Config().from_disk(out)["nlp"]["pipeline"] == ["elmo", "tagger", "parser"]
    forced = runner.invoke(app, ["init-config", str(out), "-p", "ner", "--force"])
    assert forced.exit_code == 0, forced.output
    assert Config().from_disk(out)["nlp"]["pipeline"] == ["elmo", "ner"]


def test_mixes_rejects_pipelines_without_a_mix(tmp_path):
    nlp = spacy.blank("en")
    nlp.add_pipe("sentencizer")
    nlp.to_disk(tmp_path / "plain")
    with pytest.raises(ElmoInputError, match="E257"):
        load_learned_mixes(tmp_path / "plain")
    with pytest.raises(ElmoInputError, match="E256"):
        load_learned_mixes(tmp_path / "missing")


def test_shipped_parser_elmo_config_is_what_init_config_writes():
    """configs/parser_elmo.cfg is the generated config with the documented changes only."""
    shipped = Config().from_disk(Path(__file__).parents[2] / "configs" / "parser_elmo.cfg")
    generated = init_elmo_config(pipeline=list(SYNTAX))
    for section in ("components", "nlp"):
        for key in set(shipped[section]) | set(generated[section]):
            if key in ("batch_size", "elmo"):
                continue
            assert shipped[section].get(key) == generated[section].get(key), (section, key)


@pytest.mark.parametrize("name", ["parser_baseline.cfg", "parser_elmo.cfg"])
def test_shipped_syntax_configs_train(tmp_path, tiny_paths, data_files, name):
    """The shipped syntax configs train as written (the elmo block there names only the
    factory and cache_size: spaCy fills in the rest)."""
    overrides = {
        "paths.train": str(data_files["parser"]),
        "paths.dev": str(data_files["parser"]),
        "training.max_steps": 4,
        "training.eval_frequency": 4,
        "components.parser.min_action_freq": 1,
    }
    if "elmo" in name:
        overrides["components.elmo.options_file"] = tiny_paths[0]
        overrides["components.elmo.weight_file"] = tiny_paths[1]
    config = Path(__file__).parents[2] / "configs" / name
    train(config, tmp_path / "out", use_gpu=-1, overrides=overrides)
    nlp = spacy.load(tmp_path / "out" / "model-last")
    assert nlp.pipe_names[1:] == list(SYNTAX)
    assert nlp.pipe_names[0] == ("elmo" if "elmo" in name else "tok2vec")
