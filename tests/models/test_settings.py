"""The settings objects, the signatures built from them, and the device choice."""

import dataclasses
import inspect
from pathlib import Path

import pytest
import spacy

from spacy_elmo.models.device import select_device
from spacy_elmo.models.layers import build_elmo_layers_v1
from spacy_elmo.pipeline.pipe import make_elmo
from spacy_elmo.settings import (
    BiLMSettings,
    ComponentSettings,
    from_kwargs,
)


def test_builder_signature_is_the_settings():
    params = inspect.signature(build_elmo_layers_v1).parameters
    fields = dataclasses.fields(BiLMSettings)
    assert list(params) == [f.name for f in fields]
    for f in fields:
        assert params[f.name].kind is inspect.Parameter.KEYWORD_ONLY
        assert params[f.name].default == f.default
        assert params[f.name].annotation == f.type


def test_factory_signature_has_component_settings_and_shorthand():
    params = inspect.signature(make_elmo).parameters
    own = [f.name for f in dataclasses.fields(ComponentSettings)]
    bilm = [f.name for f in dataclasses.fields(BiLMSettings) if f.name != "name"]
    assert list(params) == ["nlp", "name", "model", *own, *bilm]  # "name": the component's
    assert params["gamma"].default == 1.0
    assert all(params[name].default is None for name in bilm)


def test_fill_config_writes_the_defaults_of_one_place():
    nlp = spacy.blank("en")
    nlp.add_pipe("elmo")
    section = nlp.config["components"]["elmo"]
    assert section["model"] == {
        "@architectures": "spacy-elmo.ElmoLayers.v1",
        **dataclasses.asdict(BiLMSettings()),
    }
    for f in dataclasses.fields(ComponentSettings):
        assert section[f.name] == f.default
    for f in dataclasses.fields(BiLMSettings):
        if f.name != "name":
            assert section[f.name] is None  # the shorthand: not given


@pytest.mark.parametrize(
    "kwargs,code",
    [
        ({"options_file": "o.json"}, "E402"),
        ({"weight_file": "w.hdf5"}, "E402"),
        ({"options_file": 3, "weight_file": "w"}, "E110"),
        ({"name": "original", "options_file": "o", "weight_file": "w"}, "E402"),
        ({"name": 3}, "E110"),
        ({"state": "hot"}, "E104"),
        ({"precision": "half"}, "E114"),
        ({"device": "gpu"}, "E209"),
        ({"device": "cuda:x"}, "E209"),
        ({"device": 0}, "E209"),
        ({"batch_size": 0}, "E110"),
        ({"batch_size": True}, "E110"),
        ({"window": 2.5}, "E110"),
        ({"overlap": -1}, "E110"),
        ({"cache_size": -1}, "E110"),
    ],
)
def test_bilm_settings_are_checked(kwargs, code):
    with pytest.raises(ValueError, match=rf"\[{code}\]"):
        BiLMSettings(**kwargs)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"gamma": float("nan")},
        {"gamma": "1"},
        {"layer_norm": 1},
        {"store_layers": "yes"},
        {"scalar_mix": "abc"},
        {"scalar_mix": [0.0, float("inf")]},
    ],
)
def test_component_settings_are_checked(kwargs):
    with pytest.raises(ValueError, match=r"\[E110\]"):
        ComponentSettings(**kwargs)


def test_settings_normalise_and_report_unknown_keys():
    s = BiLMSettings(options_file=Path("a/o.json"), weight_file=Path("a/w.hdf5"))
    assert s.options_file == str(Path("a/o.json"))
    assert ComponentSettings(gamma=2, scalar_mix=(1, 2)).scalar_mix == [1.0, 2.0]
    with pytest.raises(ValueError, match=r"\[E208\].*'windw'.*window"):
        from_kwargs(BiLMSettings, {"windw": 3})
    with pytest.raises(ValueError, match=r"\[E208\]"):
        build_elmo_layers_v1(stat="zero")


def test_shorthand_merge():
    default = BiLMSettings()
    assert default.with_shorthand({"state": None}) is default
    merged = default.with_shorthand({"state": "zero", "window": 8})
    assert (merged.state, merged.window) == ("zero", 8)
    # the same value in both places is no conflict
    assert BiLMSettings(state="zero").with_shorthand({"state": "zero"}).state == "zero"
    # a model value left at its default is replaced
    assert BiLMSettings(state="warm").with_shorthand({"state": "stateful"}).state == "stateful"
    with pytest.raises(ValueError, match=r"\[E207\].*'state'.*'zero'.*'stateful'"):
        BiLMSettings(state="stateful").with_shorthand({"state": "zero"})
    with pytest.raises(ValueError, match=r"\[E207\].*'options_file'"):
        BiLMSettings(options_file="a", weight_file="b").with_shorthand({"options_file": "c"})
    with pytest.raises(ValueError, match=r"\[E402\]"):
        default.with_shorthand({"options_file": "only-one.json"})


CPU = dict(ops_name="numpy", ops_device_id=-1, cuda_count=0, mps_available=False)
GPU1 = dict(ops_name="cupy", ops_device_id=1, cuda_count=2, mps_available=False)


@pytest.mark.parametrize(
    "setting,facts,device,warning",
    [
        ("auto", CPU, "cpu", None),
        ("auto", {**CPU, "cuda_count": 2}, "cpu", None),  # spaCy on the CPU: so is the biLM
        ("auto", GPU1, "cuda:1", None),  # spacy.require_gpu(1) / spacy train --gpu-id 1
        ("auto", {**GPU1, "ops_device_id": 0}, "cuda:0", None),
        ("auto", {**GPU1, "cuda_count": 0}, "cpu", "W021"),  # cupy, but CPU-only torch
        ("auto", {**CPU, "ops_name": "mps", "mps_available": True}, "mps", None),
        ("cpu", GPU1, "cpu", None),  # explicit beats spaCy's device
        ("cuda", GPU1, "cuda:0", None),
        ("cuda:1", {**CPU, "cuda_count": 2}, "cuda:1", None),
        ("cuda:0", CPU, "cpu", "W020"),  # saved on a GPU machine, loaded on a CPU one
        ("cuda:3", GPU1, "cpu", "W020"),
        ("mps", CPU, "cpu", "W020"),
        ("mps", {**CPU, "mps_available": True}, "mps", None),
    ],
)
def test_select_device(setting, facts, device, warning):
    choice = select_device(setting, **facts)
    assert choice.device == device
    if warning is None:
        assert choice.warning is None
    else:
        assert choice.warning is not None and choice.warning.startswith(f"[{warning}]")


@pytest.mark.parametrize(
    "kwargs,code",
    [
        ({"state": [1]}, "E104"),
        ({"precision": [1]}, "E114"),
        ({"device": [1]}, "E209"),
        ({"cache_size": "3"}, "E110"),
        ({"cache_size": True}, "E110"),
        ({"max_batch_tokens": [1]}, "E110"),
        ({"max_sentence_length": 1e9}, "E110"),
        ({"overlap": "16"}, "E110"),
    ],
)
def test_bilm_settings_of_the_wrong_type(kwargs, code):
    with pytest.raises(ValueError, match=rf"\[{code}\]"):
        BiLMSettings(**kwargs)


@pytest.mark.parametrize(
    "setting,value,name",
    [
        ("cache_size", 10**13, "cache_size"),
        ("max_batch_tokens", 10**13, "max_batch_tokens"),
        ("max_sentence_length", 10**13, "max_sentence_length"),
        ("window", 10**13, r"window \+ 2 \* overlap"),
        ("overlap", 10**13, r"window \+ 2 \* overlap"),
    ],
)
def test_sizes_that_cannot_fit_in_memory_are_refused_at_load(make_nlp, setting, value, name):
    # the tiny biLM: 3 layers x 32 float32 values = 384 bytes per token; 10**13 tokens: 3.8 PB
    nlp = make_nlp(**{setting: value})
    with pytest.raises(ValueError, match=rf"\[E115\] {name}=\d+ needs at least .* PB"):
        nlp.initialize()
    with pytest.raises(ValueError, match=r"\[E115\].*Use at most [\d,]+ in \[components"):
        nlp("Nothing is allocated for this text .")
    # a size that fits is used as given
    assert make_nlp(**{setting: 10**5})("It fits .")._.elmo.shape == (3, 32)
