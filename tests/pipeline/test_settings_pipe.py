"""One owner per setting, no silent fallback: the settings in a real pipeline, listener wiring,
devices and what ``from_bytes`` may write."""

import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
import spacy
import srsly
import torch
from spacy.training import Example
from spacy.util import load_config, load_model_from_config

from spacy_elmo.models.layers import get_bilm, get_shim

from ..spacy_fixtures import TINY

CONFIGS = Path(__file__).parents[2] / "configs"
TRAIN = [("Alice lives in Paris .", [(0, 5, "PER"), (15, 20, "LOC")])]
HAS_CUDA = torch.cuda.is_available()


def _config(tiny_paths, **model):
    config = load_config(CONFIGS / "ner_elmo.cfg")
    section = config["components"]["elmo"]["model"]
    section["options_file"], section["weight_file"] = tiny_paths
    section.update(model)
    return config


def _initialize(config):
    nlp = load_model_from_config(config, auto_fill=True, validate=True)
    examples = [Example.from_dict(nlp.make_doc(t), {"entities": e}) for t, e in TRAIN]
    nlp.initialize(lambda: examples)
    return nlp


def test_partial_model_block_is_merged_with_the_default(tiny_paths):
    nlp = spacy.blank("en")
    files = {"options_file": tiny_paths[0], "weight_file": tiny_paths[1]}
    nlp.add_pipe("elmo", config={"model": files})
    assert nlp("Hello world")._.elmo.shape == (2, 32)  # the tiny biLM, not the default one
    model = nlp.config["components"]["elmo"]["model"]
    assert model["@architectures"] == "spacy-elmo.ElmoLayers.v1"
    assert (model["options_file"], model["state"], model["window"]) == (tiny_paths[0], "warm", 64)


def test_model_section_takes_effect_in_a_training_config(tiny_paths):
    # The overrides `spacy train` applies for --components.elmo.model.options_file etc.
    config = load_config(
        CONFIGS / "ner_elmo.cfg",
        overrides={
            "components.elmo.model.options_file": tiny_paths[0],
            "components.elmo.model.weight_file": tiny_paths[1],
            "components.elmo.model.window": 8,
            "components.elmo.model.cache_size": 0,
        },
    )
    nlp = load_model_from_config(config, auto_fill=True)
    elmo = nlp.get_pipe("elmo")
    settings = get_bilm(elmo.model).settings
    assert (settings.window, settings.cache_size) == (8, 0)
    assert elmo.embedder.output_dim == 32


def test_flat_shorthand(tiny_paths, tmp_path):
    nlp = spacy.blank("en")
    nlp.add_pipe(
        "elmo",
        config={"options_file": tiny_paths[0], "weight_file": tiny_paths[1], "state": "zero"},
    )
    settings = get_bilm(nlp.get_pipe("elmo").model).settings
    assert (settings.options_file, settings.state) == (tiny_paths[0], "zero")
    ref = nlp("A shorthand .")._.elmo
    assert ref.shape == (3, 32)
    # the saved config rebuilds the same settings
    nlp.to_disk(tmp_path / "p")
    loaded = spacy.load(tmp_path / "p")
    assert get_bilm(loaded.get_pipe("elmo").model).settings.state == "zero"
    np.testing.assert_allclose(loaded("A shorthand .")._.elmo, ref, atol=1e-6)
    # the same value in both places is fine; different ones are a coded error
    other = spacy.blank("en")
    other.add_pipe("elmo", config={"state": "zero", "model": {"state": "zero"}})
    with pytest.raises(ValueError, match=r"\[E207\].*'window'"):
        other.add_pipe("elmo", name="e2", config={"window": 8, "model": {"window": 16}})


def test_shorthand_on_the_command_line(tiny_paths):
    config = load_config(
        CONFIGS / "ner_elmo.cfg",
        overrides={
            "components.elmo.options_file": tiny_paths[0],
            "components.elmo.weight_file": tiny_paths[1],
        },
    )
    nlp = load_model_from_config(config, auto_fill=True)
    assert nlp.get_pipe("elmo").embedder.output_dim == 32


def test_listener_with_unknown_upstream(tiny_paths):
    config = _config(tiny_paths)
    config["components"]["ner"]["model"]["tok2vec"]["elmo"]["upstream"] = "elmo_typo"
    with pytest.raises(
        ValueError,
        match=r"\[E210\].*'ner'.*upstream='elmo_typo'.*no component of that name"
        r".*elmo \(factory 'elmo'\), ner \(factory 'ner'\)",
    ):
        _initialize(config)


def test_listener_upstream_that_is_not_elmo(tiny_paths):
    config = _config(tiny_paths)
    config["nlp"]["pipeline"] = ["elmo", "sentencizer", "ner"]
    config["components"]["sentencizer"] = {"factory": "sentencizer"}
    config["components"]["ner"]["model"]["tok2vec"]["elmo"]["upstream"] = "sentencizer"
    with pytest.raises(ValueError, match=r"\[E210\].*made by the factory 'sentencizer'"):
        _initialize(config)


def test_listener_without_elmo_component(tiny_paths):
    config = _config(tiny_paths)
    config["nlp"]["pipeline"] = ["ner"]
    with pytest.raises(ValueError, match=r"\[E211\].*upstream='elmo'"):
        _initialize(config)


def test_listener_width_mismatch(tiny_paths):
    config = _config(tiny_paths)
    tok2vec = config["components"]["ner"]["model"]["tok2vec"]
    config["components"]["ner"]["model"]["tok2vec"] = {**tok2vec["elmo"], "width": 1024}
    with pytest.raises(ValueError, match=r"\[E212\].*'ner'.*width 1024.*is 32"):
        _initialize(config)


def test_listener_as_whole_tok2vec(tiny_paths):
    config = _config(tiny_paths)
    tok2vec = config["components"]["ner"]["model"]["tok2vec"]
    config["components"]["ner"]["model"]["tok2vec"] = {**tok2vec["elmo"], "width": 32}
    nlp = _initialize(config)
    doc = nlp.make_doc("Alice lives in Paris .")
    # the parser's tok2vec projects the 32-wide listener output to its hidden width 64
    assert nlp.get_pipe("ner").model.get_ref("tok2vec").predict([doc]).shape == (5, 64)


def test_recomputing_in_training_warns(tiny_paths):
    nlp = _initialize(_config(tiny_paths))
    examples = [Example.from_dict(nlp.make_doc(t), {"entities": e}) for t, e in TRAIN]
    with pytest.warns(UserWarning, match=r"\[W003\]"):
        nlp.update(examples, sgd=nlp.resume_training(), exclude=["elmo"])


def test_bilm_loader_and_model_files_conflict(tiny_paths):
    config = _config(tiny_paths)
    config["initialize"]["components"]["elmo"] = {
        "bilm_loader": {
            "@model_loaders": "spacy-elmo.BiLMFiles.v1",
            "options_file": tiny_paths[0],
            "weight_file": tiny_paths[1],
        }
    }
    with pytest.raises(ValueError, match=r"\[E214\]"):
        _initialize(config)


@pytest.mark.parametrize("bad", ["/tmp/spacy-elmo-evil.json", "../evil.json", "options.json/.."])
def test_from_bytes_accepts_only_the_two_file_names(make_nlp, tmp_path, bad):
    nlp = make_nlp()
    data = srsly.msgpack_loads(nlp.get_pipe("elmo").to_bytes())
    files = data["files"]
    files[bad] = files.pop("options.json")
    other = spacy.blank("en")
    other.add_pipe("elmo")
    with pytest.raises(ValueError, match=r"\[E213\]"):
        other.get_pipe("elmo").from_bytes(srsly.msgpack_dumps(data))
    # an extra name next to the two known ones is refused as well
    files["options.json"] = files[bad]
    with pytest.raises(ValueError, match=r"\[E213\]"):
        other.get_pipe("elmo").from_bytes(srsly.msgpack_dumps(data))
    # ... and through the model's own bytes (a replaced listener carries them)
    shim = get_shim(other.get_pipe("elmo").model)
    msg = {"settings": {}, "files": files}
    with pytest.raises(ValueError, match=r"\[E213\]"):
        shim.from_bytes(srsly.msgpack_dumps(msg))
    assert not Path("/tmp/spacy-elmo-evil.json").exists()
    # nothing was written anywhere when the pipeline is saved after the refusal
    other.to_disk(tmp_path / "p")
    assert sorted(p.name for p in (tmp_path / "p" / "elmo" / "model").iterdir()) == [
        "options.json",
        "weights.hdf5",
    ]
    assert not (tmp_path / "evil.json").exists()


def test_device_auto_runs_where_spacy_runs(make_nlp):
    nlp = make_nlp()
    assert get_bilm(nlp.get_pipe("elmo").model).settings.device == "auto"
    expected = "cpu"  # these tests never switch spaCy to a GPU
    assert nlp.get_pipe("elmo").embedder.device.type == expected


@pytest.mark.skipif(HAS_CUDA, reason="checks the CPU fallback of a GPU pipeline")
def test_gpu_pipeline_loads_on_a_cpu_machine(tiny_paths, tmp_path):
    src = tmp_path / "files"
    src.mkdir()
    for name in ("options.json", "weights.hdf5"):
        shutil.copyfile(TINY / name, src / name)
    nlp = spacy.blank("en")
    model = {"options_file": str(src / "options.json"), "weight_file": str(src / "weights.hdf5")}
    nlp.add_pipe("elmo", config={"model": {**model, "device": "cuda:0"}})
    with pytest.warns(UserWarning, match=r"\[W020\].*'cuda:0'.*torch sees 0 CUDA"):
        ref = nlp("It still works .")._.elmo  # a GPU machine would run it on cuda:0
    nlp.to_disk(tmp_path / "p")
    shutil.rmtree(src)
    with pytest.warns(UserWarning, match=r"\[W020\]"):
        loaded = spacy.load(tmp_path / "p")
    assert loaded.get_pipe("elmo").embedder.device.type == "cpu"
    np.testing.assert_array_equal(loaded("It still works .")._.elmo, ref)


@pytest.mark.skipif(not HAS_CUDA, reason="needs a CUDA GPU")
def test_device_follows_require_gpu(tiny_paths):
    from thinc.api import get_current_ops, set_current_ops

    before = get_current_ops()
    try:
        spacy.require_gpu(0)
        nlp = spacy.blank("en")
        files = {"options_file": tiny_paths[0], "weight_file": tiny_paths[1]}
        nlp.add_pipe("elmo", config={"model": files})
        assert str(nlp.get_pipe("elmo").embedder.device) == "cuda:0"
        gpu = nlp("On the GPU .")._.elmo
    finally:
        set_current_ops(before)
    cpu_nlp = spacy.blank("en")
    cpu_nlp.add_pipe("elmo", config={"model": {**files, "device": "cpu"}})
    np.testing.assert_allclose(cpu_nlp("On the GPU .")._.elmo, gpu, atol=1e-4)


@pytest.mark.skipif(not HAS_CUDA, reason="needs a CUDA GPU")
def test_explicit_cuda_device(tiny_paths):
    nlp = spacy.blank("en")
    files = {"options_file": tiny_paths[0], "weight_file": tiny_paths[1]}
    nlp.add_pipe("elmo", config={"model": {**files, "device": "cuda:0"}})
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no fallback warning where the GPU exists
        assert str(nlp.get_pipe("elmo").embedder.device) == "cuda:0"
    assert nlp("Explicit .")._.elmo.shape == (2, 32)


@pytest.mark.skipif(HAS_CUDA, reason="checks what a CPU-only torch does with spaCy on a GPU")
def test_auto_follows_model_to_gpu_and_back(make_nlp):
    nlp = make_nlp()
    shim = get_shim(nlp.get_pipe("elmo").model)
    bilm = shim.owner
    assert bilm.embedder.device.type == "cpu"
    shim.to_device("gpu", 1)  # what thinc's model.to_gpu(1) does to every shim
    assert (bilm.ops.name, bilm.ops.device_id) == ("cupy", 1)
    assert not bilm.loaded  # reloaded for the new device when next used
    with pytest.warns(UserWarning, match=r"\[W021\].*GPU 1.*0 CUDA"):
        assert bilm.embedder.device.type == "cpu"
    nlp.get_pipe("elmo").model.to_cpu()
    assert bilm.ops.name == "numpy"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert nlp("Back on the CPU .")._.elmo.shape == (5, 32)


def test_model_by_name():
    nlp = spacy.blank("en")
    nlp.add_pipe("elmo", config={"model": {"name": "default"}})
    ref = spacy.blank("en")
    ref.add_pipe("elmo")
    assert nlp.get_pipe("elmo").embedder is ref.get_pipe("elmo").embedder  # the same files
    unknown = spacy.blank("en")
    unknown.add_pipe("elmo", config={"model": {"name": "no-such-elmo"}})
    with pytest.raises(ValueError, match=r"\[E401\].*'no-such-elmo'"):
        unknown("Resolved when first used .")
    with pytest.raises(ValueError, match=r"\[E402\].*name='default' and options_file"):
        spacy.blank("en").add_pipe(
            "elmo", config={"model": {"name": "default", "options_file": "o", "weight_file": "w"}}
        )
