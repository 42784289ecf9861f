"""Every runtime setting has one owner, ``spacy_elmo.runtime_settings.RuntimeSettings``.

- the owner: frozen, keyword-only, typed, torch-free, checks its values with coded errors;
- every constructor default (``ElmoEmbedder`` and its constructors, ``BiLMSettings``,
  ``EmbedSettings``) and every command-line default (the typer commands' parameters) of a
  runtime setting is the owner's value;
- no other literal default of a runtime setting appears anywhere in the package (a source
  scan, so a new copy fails here even where no test calls it), except the few listed with
  their reason;
- one device resolution with one rule for "auto"; the E402 rule is raised from one function.
"""

import ast
import dataclasses
import inspect
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from spacy_elmo.errors import ElmoInputError
from spacy_elmo.runtime_settings import (
    PRECISIONS,
    RUNTIME_DEFAULTS,
    STATE_MODES,
    RuntimeSettings,
    check_model_source,
)

PACKAGE = Path(__file__).resolve().parents[1] / "spacy_elmo"
#: The runtime settings, by the names other signatures give them.
OWNER_FIELDS = {"state", "precision", "device", "batch_size", "word_cache_size"}
ALIASES = {"cache_size": "word_cache_size"}  # the embedder's public keyword
#: Command-line options of a runtime setting -> its owner field.
OPTIONS = {
    "--state": "state",
    "--device": "device",
    "--precision": "precision",
    "--batch-size": "batch_size",
}
#: Defaults that are deliberately not the runtime's, with why.
NOT_RUNTIME = {
    # The benchmark runs AllenNLP's batch of 32 on both sides (a benchmark parameter).
    ("bench", "--batch-size"),
    ("run_benchmark", "batch_size"),
    # Pretraining and its held-out evaluation batch language-model training windows.
    ("pretrain-evaluate", "--batch-size"),
    ("evaluate_cli", "batch_size"),
    ("evaluate_files", "batch_size"),
    ("evaluate_text", "batch_size"),
    ("BatchingConfig", "batch_size"),
    # The weights loaders place a biLM where their caller says; "cpu" unless told.
    ("load_bilm", "device"),
    ("load_lean_bilm", "device"),
    ("load_manylangs", "device"),
}


# --- the owner --------------------------------------------------------------------------------
def test_owner_is_frozen_typed_and_keyword_only():
    fields = {f.name: f for f in dataclasses.fields(RuntimeSettings)}
    assert set(fields) == OWNER_FIELDS
    assert all(f.kw_only and f.type in (str, int) for f in fields.values())
    with pytest.raises(TypeError):
        RuntimeSettings("zero")  # type: ignore[misc]  (keyword-only)
    with pytest.raises(dataclasses.FrozenInstanceError):
        RUNTIME_DEFAULTS.state = "zero"  # type: ignore[misc]
    assert RUNTIME_DEFAULTS == RuntimeSettings()
    assert (RUNTIME_DEFAULTS.state, RUNTIME_DEFAULTS.device) == ("warm", "auto")
    assert RUNTIME_DEFAULTS.state in STATE_MODES and RUNTIME_DEFAULTS.precision in PRECISIONS


@pytest.mark.parametrize(
    "kwargs,code",
    [
        ({"state": "warmest"}, "E104"),
        ({"state": [1]}, "E104"),
        ({"precision": "float16"}, "E114"),
        ({"device": "gpu"}, "E209"),
        ({"device": 0}, "E209"),
        ({"batch_size": 0}, "E110"),
        ({"batch_size": True}, "E110"),
        ({"word_cache_size": -1}, "E110"),
    ],
)
def test_owner_refuses_bad_values_with_coded_errors(kwargs, code):
    with pytest.raises(ElmoInputError, match=rf"\[{code}\]"):
        RuntimeSettings(**kwargs)


def test_owner_loads_neither_torch_nor_spacy():
    code = (
        "import sys, spacy_elmo.runtime_settings, spacy_elmo.settings; "
        "print(sorted({'torch', 'spacy', 'numpy'} & set(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_the_torch_side_reads_the_owner():
    from spacy_elmo.pytorch import lstm, state

    assert tuple(lstm.PRECISIONS) == PRECISIONS  # names -> dtypes, from the one tuple
    assert state.STATE_MODES is STATE_MODES


# --- constructors -----------------------------------------------------------------------------
def _owner_default(name: str):
    return getattr(RUNTIME_DEFAULTS, ALIASES.get(name, name))


def _constructors():
    from spacy_elmo import ElmoEmbedder
    from spacy_elmo.corpus import EmbedSettings
    from spacy_elmo.settings import BiLMSettings

    return {
        "ElmoEmbedder.__init__": ElmoEmbedder.__init__,
        "ElmoEmbedder.from_name": ElmoEmbedder.from_name,
        "ElmoEmbedder.from_files": ElmoEmbedder.from_files,
        "ElmoEmbedder.from_bilm": ElmoEmbedder.from_bilm,
        "ElmoEmbedder.embed_sentences": ElmoEmbedder.embed_sentences,
        "ElmoEmbedder.embed_file": ElmoEmbedder.embed_file,
        "BiLMSettings": BiLMSettings,
        "EmbedSettings": EmbedSettings,
    }


def test_every_constructor_default_is_the_owners():
    checked = []
    for where, fn in _constructors().items():
        for name, param in inspect.signature(fn).parameters.items():
            if not where.startswith("ElmoEmbedder") and name in ALIASES:
                continue  # BiLMSettings.cache_size: the layer cache (see below)
            if ALIASES.get(name, name) in OWNER_FIELDS:
                assert param.default == _owner_default(name), f"{where}({name}=...)"
                checked.append((where, name))
    # the embedder's four constructors take every setting the embedder has
    for where in ("__init__", "from_name", "from_files"):
        for name in ("state", "device", "cache_size", "precision"):
            assert (f"ElmoEmbedder.{where}", name) in checked
    assert ("BiLMSettings", "batch_size") in checked and ("EmbedSettings", "batch_size") in checked


def test_spacy_layer_cache_is_not_the_word_cache():
    """Two caches, two names: the spaCy setting ``cache_size`` counts layer tokens (kept for
    saved configs), the runtime's ``word_cache_size`` word types."""
    from spacy_elmo.settings import LAYER_CACHE_TOKENS, BiLMSettings

    assert BiLMSettings().cache_size == LAYER_CACHE_TOKENS != RUNTIME_DEFAULTS.word_cache_size
    assert "word_cache_size" not in {f.name for f in dataclasses.fields(BiLMSettings)}


# --- the command line -------------------------------------------------------------------------
def _typer_options():
    """(command, option, default) of every typer option of a runtime setting."""
    pytest.importorskip("typer")
    import benchmarks.cli
    import spacy_elmo.cli  # noqa: F401  (registers every command)
    from spacy_elmo.cli.app import app

    # `bench` forwards to the checkout's benchmarks command: its options are that one's.
    commands = [(c.name, c) for c in app.registered_commands if c.name != "bench"]
    commands += [("bench", c) for c in benchmarks.cli.app.registered_commands]
    found = []
    for name, command in commands:
        for param in inspect.signature(command.callback).parameters.values():
            info = param.default
            for decl in getattr(info, "param_decls", None) or ():
                if decl in OPTIONS:
                    found.append((name, decl, info.default))
    return found


def test_every_cli_default_is_the_owners():
    found = _typer_options()
    commands = {(c, o) for c, o, _ in found}
    # the commands that run the biLM all have their runtime options
    for command, option in [
        ("embed", "--state"),
        ("embed", "--device"),
        ("embed", "--precision"),
        ("embed", "--batch-size"),
        ("senses", "--state"),
        ("senses", "--device"),
        ("bench", "--device"),
        ("pretrain", "--device"),
    ]:
        assert (command, option) in commands
    for command, option, default in found:
        if (command, option) in NOT_RUNTIME:
            continue
        assert default == getattr(RUNTIME_DEFAULTS, OPTIONS[option]), f"{command} {option}"


def test_the_benchmark_batch_is_named():
    from benchmarks.runner import BENCH_BATCH_SIZE, BenchSettings

    bench = {o: d for c, o, d in _typer_options() if c == "bench"}
    assert bench["--batch-size"] == BENCH_BATCH_SIZE == 32
    assert BenchSettings().batch_size == BENCH_BATCH_SIZE  # what run_benchmark() defaults to


# --- no other copy ----------------------------------------------------------------------------
def _literal_defaults():
    """(file, function or class, name, value) of every literal default of a runtime setting in
    the package: function parameters, typer options and dataclass fields. None ("not given")
    is not a copy."""
    names = OWNER_FIELDS | set(ALIASES)
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf8"))
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                for arg, value in _parameter_defaults(node.args):
                    if arg in names:
                        yield path, node.name, arg, value
            elif isinstance(node, ast.ClassDef):
                for item in node.body:
                    if isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name):
                        if item.target.id in names and item.value is not None:
                            yield path, node.name, item.target.id, item.value


def _parameter_defaults(args: ast.arguments):
    positional = args.posonlyargs + args.args
    pairs = list(zip(positional[len(positional) - len(args.defaults) :], args.defaults))
    pairs += [(a, d) for a, d in zip(args.kwonlyargs, args.kw_defaults) if d is not None]
    for arg, default in pairs:
        if isinstance(default, ast.Call) and getattr(default.func, "attr", "") == "Option":
            default = default.args[0] if default.args else default
        yield arg.arg, default


def _copies():
    for path, where, name, value in _literal_defaults():
        if path.name == "runtime_settings.py" or (where, name) in NOT_RUNTIME:
            continue
        if isinstance(value, ast.Constant) and value.value not in (None, Ellipsis):
            yield f"{path.relative_to(PACKAGE.parent)}: {where}({name}={value.value!r})"


def test_no_other_literal_default_of_a_runtime_setting():
    assert list(_copies()) == [], "read the default from spacy_elmo.runtime_settings"


def test_the_scan_finds_a_planted_copy(tmp_path, monkeypatch):
    """The scan is not vacuous: a new function with its own default is reported."""
    planted = tmp_path / "spacy_elmo"
    planted.mkdir()
    (planted / "new.py").write_text("def run(*, state='zero', batch_size=32):\n    pass\n")
    monkeypatch.setattr(sys.modules[__name__], "PACKAGE", planted)
    assert sorted(_copies()) == [
        "spacy_elmo/new.py: run(batch_size=32)",
        "spacy_elmo/new.py: run(state='zero')",
    ]


# --- one device resolution --------------------------------------------------------------------
def test_one_device_function_and_no_duplicates():
    """Only pytorch/device.py turns a setting into a torch device; the former per-caller
    checkers are gone."""
    import benchmarks.runner as runner
    import spacy_elmo.corpus.shard as shard

    assert not hasattr(runner, "check_device") and not hasattr(shard, "check_device")
    assert not hasattr(shard, "resolve_device")
    defined = [
        f"{p.relative_to(PACKAGE.parent)}:{n.name}"
        for p in sorted(PACKAGE.rglob("*.py"))
        for n in ast.walk(ast.parse(p.read_text(encoding="utf8")))
        if isinstance(n, ast.FunctionDef) and n.name in ("resolve_device", "check_device")
    ]
    assert defined == ["spacy_elmo/pytorch/device.py:resolve_device"]


def test_auto_rule():
    from spacy_elmo.pytorch.device import FrameworkDevice, Machine, resolve_device

    cpu_only, two_gpus = Machine(0, False), Machine(2, False)

    def device(setting, machine, **kw):
        choice = resolve_device(setting, machine=machine, **kw)
        return str(choice.device), choice.problem

    assert device("auto", cpu_only) == ("cpu", None)  # CPU-only: exactly "cpu"
    assert device("auto", two_gpus) == ("cuda:0", None)  # else CUDA when torch sees it
    assert device("auto", two_gpus, local_rank=1) == ("cuda:1", None)  # torchrun
    # the framework's device first: spaCy on the CPU keeps the biLM there, on GPU 1 there
    assert device("auto", two_gpus, framework=FrameworkDevice("cpu")) == ("cpu", None)
    assert device("auto", two_gpus, framework=FrameworkDevice("cuda", 1)) == ("cuda:1", None)
    assert device("auto", cpu_only, framework=FrameworkDevice("cuda", 0))[1] is not None
    assert device("cuda", cpu_only)[1].startswith("CUDA is not available")
    assert device("cuda:2", two_gpus)[1] == "this machine has 2 CUDA device(s)"
    assert device("mps", cpu_only)[1] == "torch has no MPS backend here"
    assert "only cpu and cuda" in device("mps", Machine(0, True), types=("cpu", "cuda"))[1]
    assert resolve_device("gpu", machine=cpu_only).device is None


@pytest.mark.skipif(torch.cuda.is_available(), reason="the CPU-only behaviour")
def test_auto_default_changes_nothing_on_a_cpu_only_machine(tiny_files, reference_sentences):
    from spacy_elmo import ElmoEmbedder

    auto = ElmoEmbedder(*tiny_files)  # device "auto" by default
    cpu = ElmoEmbedder(*tiny_files, device="cpu")
    assert auto.device == cpu.device == torch.device("cpu")
    for a, b in zip(auto.embed_batch(reference_sentences), cpu.embed_batch(reference_sentences)):
        np.testing.assert_array_equal(a, b)


# --- explicit constructors, and E402 in one place ---------------------------------------------
def test_from_files_and_from_name_match_the_constructor(tiny_files, reference_sentences):
    from spacy_elmo import ElmoEmbedder

    plain = ElmoEmbedder(*tiny_files, state="zero")
    files = ElmoEmbedder.from_files(*tiny_files, state="zero")
    named = ElmoEmbedder.from_name("default", state="zero")
    default = ElmoEmbedder(state="zero")  # nothing given: the embedded model
    for a, b in zip(plain.embed_batch(reference_sentences), files.embed_batch(reference_sentences)):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(
        named.embed_batch(reference_sentences), default.embed_batch(reference_sentences)
    ):
        np.testing.assert_array_equal(a, b)
    assert files.state == named.state == "zero"


def test_settings_are_checked_before_anything_loads(tmp_path):
    """A bad setting fails before the (missing) files are read or a name is fetched."""
    from spacy_elmo import ElmoEmbedder

    missing = (str(tmp_path / "no.json"), str(tmp_path / "no.hdf5"))
    with pytest.raises(ElmoInputError, match=r"\[E104\]"):
        ElmoEmbedder.from_files(*missing, state="hot")
    with pytest.raises(ElmoInputError, match=r"\[E209\]"):
        ElmoEmbedder.from_name("no-such-model", device="gpu")


def _raised_in(exc_info) -> str:
    return exc_info.traceback[-1].name


def test_e402_is_checked_in_one_place(tiny_files):
    from spacy_elmo import ElmoEmbedder
    from spacy_elmo.hub import resolve_bilm
    from spacy_elmo.settings import BiLMSettings

    options, _ = tiny_files
    calls = [
        lambda: ElmoEmbedder(options_file=None, weight_file=options),
        lambda: ElmoEmbedder.from_files(options, None),
        lambda: resolve_bilm(name="original", options_file=options),
        lambda: BiLMSettings(options_file=options),
        lambda: check_model_source(name=None, options_file="", weight_file="w"),
    ]
    for call in calls:
        with pytest.raises(ElmoInputError, match=r"\[E402\]") as exc_info:
            call()
        assert _raised_in(exc_info) == "check_model_source"
    sources = [
        p.relative_to(PACKAGE.parent).as_posix()
        for p in sorted(PACKAGE.rglob("*.py"))
        if "Errors.E402" in p.read_text(encoding="utf8")
    ]
    assert sources == ["spacy_elmo/runtime_settings.py"]
