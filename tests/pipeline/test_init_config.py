"""``init-config``: generated configs train with ``spacy train`` for every supported component;
``mixes`` reads what each component learned."""

import copy
import dataclasses
import json
import re
import warnings
from pathlib import Path
from typing import Any, Dict

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
from spacy_elmo.hub import CATALOGUE, ModelEntry, Source
from spacy_elmo.pipeline.init_config import SUPPORTED, init_elmo_config, write_config
from spacy_elmo.pipeline.mixes import learned_mixes, load_learned_mixes, markdown_table
from spacy_elmo.settings import BiLMSettings
from spacy_elmo.shared import shared_embedders

from ..hub.server import LocalServer
from ..spacy_fixtures import DATA, TINY

SYNTAX = ("tagger", "morphologizer", "parser")


@pytest.fixture(scope="module", autouse=True)
def forget_char_cnn_cache():
    """Trainings here fill the shared tiny biLM's char-CNN cache from batches of their own;
    later tests compare fresh computations bit for bit, so leave the cache empty."""
    yield
    for embedder in shared_embedders():
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
    factory = nlp.config["components"]["elmo"]
    # The factory's flat biLM shorthand (all null: "not given") is left out of the file, so
    # each biLM setting is written once, in the model section.
    shorthand = {f.name for f in dataclasses.fields(BiLMSettings)}
    assert set(factory) - set(config["components"]["elmo"]) == shorthand - {"name"}
    assert all(factory[key] is None for key in shorthand if key in factory)
    assert config["components"]["elmo"] == {k: v for k, v in factory.items() if k not in shorthand}
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
    # One place for the device: the model section, which owns the biLM's settings.
    assert config["components"]["elmo"]["model"]["device"] == "cuda:0"
    assert "device" not in config["components"]["elmo"]
    assert config["system"]["gpu_allocator"] == "pytorch"
    assert "transformer" not in config["components"]


def _run_elmo(config: Config) -> None:
    """Build the pipeline of ``config`` and run its elmo component (loads the biLM)."""
    nlp = spacy.util.load_model_from_config(config, auto_fill=True, validate=True)
    doc = nlp.get_pipe("elmo")(nlp.make_doc("The bank raised its rates ."))
    assert doc._.elmo.shape[0] == 6


def _follow_w020(config: Config, message: str) -> None:
    """Do literally what W020 says: set the device it names in the section it names, and
    delete the device line from the section it names."""
    value, section = re.search(r'set device = "(\w+)".*? in \[([\w.]+)\]', message).groups()
    [flat] = re.findall(r"delete any device line from \[([\w.]+)\]", message)
    _section(config, section)["device"] = value
    _section(config, flat).pop("device", None)


def _section(config: Config, dotted: str) -> Dict[str, Any]:
    node: Any = config
    for key in dotted.split("."):
        node = node[key]
    return node


def _w020(config: Config) -> str:
    with pytest.warns(UserWarning, match=r"\[W020\]") as record:
        _run_elmo(config)
    [message] = [str(w.message) for w in record if "[W020]" in str(w.message)]
    return message


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_init_config_gpu_config_on_a_cpu_machine_follows_w020_cleanly(tiny_paths):
    """-G config loaded where there is no GPU: W020; its advice, followed to the letter,
    loads without an error or a warning."""
    config = init_elmo_config(
        pipeline=["ner"], gpu=True, options_file=tiny_paths[0], weight_file=tiny_paths[1]
    )
    message = _w020(config)
    assert "[components.elmo.model]" in message
    _follow_w020(config, message)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _run_elmo(config)


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_w020_advice_also_fixes_a_config_with_the_device_in_the_flat_shorthand(tiny_paths):
    """A config with ``[components.elmo] device = "cuda:0"`` (as init-config wrote them
    before): setting the model's device alone would conflict (E207); W020 says to delete the
    flat line too, and then it loads cleanly."""
    config = init_elmo_config(
        pipeline=["ner"], options_file=tiny_paths[0], weight_file=tiny_paths[1]
    )
    config["components"]["elmo"]["device"] = "cuda:0"
    message = _w020(config)
    half = copy.deepcopy(config)
    half["components"]["elmo"]["model"]["device"] = "cpu"
    with pytest.raises(ElmoInputError, match="E207"):
        _run_elmo(half)
    _follow_w020(config, message)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _run_elmo(config)


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


def test_init_config_cli_hint_names_gpu_id(tmp_path):
    runner = CliRunner()
    cpu = runner.invoke(app, ["init-config", str(tmp_path / "cpu.cfg"), "-p", "ner"])
    assert cpu.exit_code == 0, cpu.output
    assert "python -m spacy train" in cpu.output and "--gpu-id N" in cpu.output
    gpu = runner.invoke(app, ["init-config", str(tmp_path / "gpu.cfg"), "-p", "ner", "-G"])
    assert gpu.exit_code == 0, gpu.output
    assert "dev.spacy --gpu-id 0" in gpu.output


@pytest.fixture
def served(tmp_path, monkeypatch):
    """A real HTTP server on 127.0.0.1 serving the tiny biLM, and an empty download cache."""
    monkeypatch.setenv("SPACY_ELMO_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
    for name in ("SPACY_ELMO_OFFLINE", "HF_HUB_OFFLINE"):
        monkeypatch.delenv(name, raising=False)
    with LocalServer() as server:
        for name in ("options.json", "weights.hdf5"):
            server.serve(f"/tiny/{name}", (TINY / name).read_bytes())
        yield server


def _served_entry(server: LocalServer) -> ModelEntry:
    return ModelEntry(
        name="tiny-served",
        description="the tiny test biLM, served on 127.0.0.1",
        training_data="none",
        licence="MIT",
        parameters=0,
        options=json.loads((TINY / "options.json").read_text(encoding="utf8")),
        sources=(
            Source(
                options=server.url("/tiny/options.json"), weights=server.url("/tiny/weights.hdf5")
            ),
        ),
    )


def test_init_config_model_name_from_a_local_server_trains(
    tmp_path, served, data_files, monkeypatch
):
    """--model NAME, as `embed` takes it: the name goes to [components.elmo.model] and the
    generated config trains with `spacy train`, fetching the biLM from the server."""
    monkeypatch.setitem(CATALOGUE, "tiny-served", _served_entry(served))
    out = tmp_path / "elmo.cfg"
    result = CliRunner().invoke(
        app, ["init-config", str(out), "-p", "ner", "--model", "tiny-served"]
    )
    assert result.exit_code == 0, result.output
    config = Config().from_disk(out, interpolate=False)
    assert config["components"]["elmo"]["model"]["name"] == "tiny-served"
    assert "name" not in config["components"]["elmo"]
    # The catalogue records the layer count: nothing is downloaded to write the config.
    assert served.state.log == []
    nlp = _train(tmp_path, config, data_files["ner"], steps=4)
    assert len(served.state.requests("/tiny/weights.hdf5")) == 1
    assert nlp.pipe_names == ["elmo", "ner"]
    assert len(learned_mixes(nlp)[0].weights) == 3
    nlp("A new sentence to annotate .")


def test_init_config_takes_urls_and_hf_locations(tmp_path, served, monkeypatch):
    """--options-file/--weight-file as http(s) URLs and hf:// locations: no mangled
    ``http:/`` path (E001); only options.json is fetched, to count the layers."""
    options, weights = served.url("/tiny/options.json"), served.url("/tiny/weights.hdf5")
    out = tmp_path / "url.cfg"
    args = ["init-config", str(out), "-p", "tagger", "--options-file", options]
    result = CliRunner().invoke(app, [*args, "--weight-file", weights])
    assert result.exit_code == 0, result.output
    model = Config().from_disk(out)["components"]["elmo"]["model"]
    assert (model["options_file"], model["weight_file"]) == (options, weights)
    assert model["name"] is None
    mix = Config().from_disk(out)["components"]["tagger"]["model"]["tok2vec"]["elmo"]["mix"]
    assert mix["n_layers"] == 3
    assert len(served.state.requests("/tiny/options.json")) == 1
    assert served.state.requests("/tiny/weights.hdf5") == []

    for name in ("options.json", "weights.hdf5"):
        served.state.hub[("someone/tiny-elmo", name)] = (TINY / name).read_bytes()
    monkeypatch.setenv("HF_ENDPOINT", served.root)
    hf = ["--options-file", "hf://someone/tiny-elmo/options.json"]
    hf += ["--weight-file", "hf://someone/tiny-elmo@main/weights.hdf5"]
    result = CliRunner().invoke(app, ["init-config", str(tmp_path / "hf.cfg"), "-p", "ner", *hf])
    assert result.exit_code == 0, result.output
    model = Config().from_disk(tmp_path / "hf.cfg")["components"]["elmo"]["model"]
    assert model["weight_file"] == "hf://someone/tiny-elmo@main/weights.hdf5"


def test_init_config_refuses_a_name_with_files_and_unknown_names(tiny_paths):
    with pytest.raises(ElmoInputError, match="E402"):
        init_elmo_config(pipeline=["ner"], model="original", options_file=tiny_paths[0])
    with pytest.raises(ElmoInputError, match="E401"):
        init_elmo_config(pipeline=["ner"], model="orignal")


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
