"""The layers of ARCHITECTURE.md are enforced, not only described.

- pyproject.toml's import-linter contracts hold (run as ``lint-imports`` would), and they do
  catch a violation planted in a copy of the package;
- no import cycle between modules, nor between sibling packages (grimp, deferred imports
  included);
- ARCHITECTURE.md's Packages table matches the code: each part imports nothing outside its
  row, every part has a row, and a row's layer is the contract's;
- ``import spacy_elmo`` (the lazy root) and the torch-free modules do not load torch.
"""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Dict, List, Optional, Set, Tuple

import pytest

grimp = pytest.importorskip("grimp")
pytest.importorskip("importlinter")

if sys.version_info >= (3, 11):
    import tomllib
else:  # import-linter needs tomli on 3.10, so it is there
    import tomli as tomllib

REPO = Path(__file__).resolve().parents[1]
PACKAGE = "spacy_elmo"
STDLIB = set(sys.stdlib_module_names) | {"__future__"}


def _lint_imports(cwd: Path, extra_path: Optional[Path] = None) -> subprocess.CompletedProcess:
    """``lint-imports`` with this interpreter in ``cwd`` (whose pyproject.toml it reads)."""
    env = {**os.environ, "COLUMNS": "1000"}  # report lines unwrapped, so they can be matched
    if extra_path is not None:  # the planted copy must shadow the installed package
        env["PYTHONPATH"] = str(extra_path)
    code = "import sys; from importlinter.cli import lint_imports_command as c; sys.exit(c())"
    return subprocess.run(
        [sys.executable, "-c", code, "--no-cache"],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def _contracts() -> List[dict]:
    config = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf8"))
    return config["tool"]["importlinter"]["contracts"]


@pytest.fixture(scope="module")
def graph():
    return grimp.build_graph(PACKAGE, include_external_packages=True, cache_dir=None)


# --- import-linter ---------------------------------------------------------------------------
def test_import_contracts_hold():
    result = _lint_imports(REPO)
    assert result.returncode == 0, f"import-linter contracts broken:\n{result.stdout}"
    assert f"{len(_contracts())} kept, 0 broken" in result.stdout


def _plant(copy: Path, module: str, line: str, package: str = PACKAGE) -> None:
    path = copy / package / (module.replace(".", "/") + ".py")
    path.write_text(path.read_text(encoding="utf8") + f"\n{line}  # noqa\n", encoding="utf8")


def test_contracts_catch_violations(tmp_path):
    """Each planted import breaks the contract it should (the contracts are not vacuous)."""
    shutil.copytree(
        REPO / PACKAGE, tmp_path / PACKAGE, ignore=shutil.ignore_patterns("assets", "__pycache__")
    )
    shutil.copytree(
        REPO / "benchmarks", tmp_path / "benchmarks", ignore=shutil.ignore_patterns("__pycache__")
    )
    shutil.copy(REPO / "pyproject.toml", tmp_path)
    _plant(tmp_path, "pytorch.highway", "import spacy")
    _plant(tmp_path, "settings", "import torch")
    _plant(tmp_path, "hub.catalogue", "from ..models import cache")  # upward
    _plant(tmp_path, "errors", "from .cli import app")
    _plant(tmp_path, "worker_common", "from spacy_elmo import errors", package="benchmarks")
    _plant(tmp_path, "data.convert", "import benchmarks.sentences")
    result = _lint_imports(tmp_path, extra_path=tmp_path)
    out = result.stdout
    assert result.returncode != 0, out
    assert "spacy_elmo.pytorch.highway -> spacy" in out
    assert "spacy_elmo.settings -> torch" in out
    assert "spacy_elmo.hub is not allowed to import spacy_elmo.models" in out
    assert "spacy_elmo.errors -> spacy_elmo.cli" in out
    assert "benchmarks.worker_common -> spacy_elmo.errors" in out
    assert "spacy_elmo.data.convert -> benchmarks.sentences" in out
    assert "0 kept" in out  # the sibling cycle hub <-> models too


def test_layers_contract_covers_every_part(graph):
    """``exhaustive``: a new module directly under spacy_elmo needs a place in the layers."""
    (layers,) = [c for c in _contracts() if c["type"] == "layers"]
    assert layers.get("exhaustive") is True and layers["containers"] == [PACKAGE]


# --- cycles ----------------------------------------------------------------------------------
def module_cycles(graph) -> List[Tuple[str, str]]:
    """Imports ``a -> b`` of the package's modules with a chain back from ``b`` to ``a``."""
    found = []
    for a in sorted(m for m in graph.modules if m.split(".")[0] == PACKAGE):
        for b in sorted(graph.find_modules_directly_imported_by(a)):
            if b.split(".")[0] == PACKAGE and graph.chain_exists(importer=b, imported=a):
                found.append((a, b))
    return found


def package_cycles(graph) -> List[Tuple[str, str]]:
    """Sibling packages/modules ``a``, ``b`` (at any depth) that import each other, counting
    everything inside each."""
    found = []
    for parent in sorted(m for m in graph.modules if m.split(".")[0] == PACKAGE):
        children = sorted(graph.find_children(parent))
        for i, a in enumerate(children):
            for b in children[i + 1 :]:
                there = graph.chain_exists(importer=a, imported=b, as_packages=True)
                if there and graph.chain_exists(importer=b, imported=a, as_packages=True):
                    found.append((a, b))
    return found


def test_no_import_cycles(graph):
    assert module_cycles(graph) == [], "module-level import cycles (import -> chain back)"
    assert package_cycles(graph) == [], "sibling packages that import each other"


def test_cycle_checks_find_a_planted_cycle():
    """The checks above are not vacuous: one import added to the real graph is reported."""
    planted = grimp.build_graph(PACKAGE, cache_dir=None)
    planted.add_import(importer="spacy_elmo.pytorch.config", imported="spacy_elmo.weights.hdf5")
    assert ("spacy_elmo.pytorch.config", "spacy_elmo.weights.hdf5") in module_cycles(planted)
    assert ("spacy_elmo.pytorch", "spacy_elmo.weights") in package_cycles(planted)


# --- ARCHITECTURE.md's table -----------------------------------------------------------------
def _cell_names(cell: str) -> Set[str]:
    return set(re.findall(r"`([\w.]+)`", cell))


def architecture_rows() -> Dict[str, Tuple[str, Set[str], Set[str]]]:
    """Packages table: module (``spacy_elmo.x``) -> (layer, internal parts, libraries)."""
    text = (REPO / "ARCHITECTURE.md").read_text(encoding="utf8")
    section = text.split("## Packages", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        path = re.fullmatch(r"`(spacy_elmo(?:/\w+)*)(?:/|\.py)`", cells[0])
        if len(cells) < 5 or not path:
            continue
        module = path.group(1).replace("/", ".").removesuffix(".__init__")
        rows[module] = (cells[1], _cell_names(cells[2]), _cell_names(cells[3]))
    return rows


def actual_imports(graph, part: str) -> Tuple[Set[str], Set[str]]:
    """What ``part`` (all of it) imports: other parts of spacy_elmo (``x`` of
    ``spacy_elmo.x``) and third-party top-level packages; the standard library aside."""
    modules = {part} if part == PACKAGE else {part} | graph.find_descendants(part)
    internal, external = set(), set()
    for module in modules:
        for imported in graph.find_modules_directly_imported_by(module):
            parts = imported.split(".")
            if parts[0] != PACKAGE:
                if parts[0] not in STDLIB:
                    external.add(parts[0])
            elif len(parts) > 1 and f"{PACKAGE}.{parts[1]}" != part:
                internal.add(parts[1])
    return internal, external


def test_every_part_has_a_row(graph):
    parts = {m for m in graph.modules if m.count(".") == 1 and m.split(".")[0] == PACKAGE}
    missing = (parts | {PACKAGE}) - set(architecture_rows())
    assert not missing, f"add a row to ARCHITECTURE.md's Packages table for {sorted(missing)}"


def test_parts_import_only_what_their_row_lists(graph):
    wrong = []
    for part, (_, internal, external) in sorted(architecture_rows().items()):
        got_internal, got_external = actual_imports(graph, part)
        extra = sorted(got_internal - internal) + sorted(got_external - external)
        if extra:
            wrong.append(f"{part} imports {extra}")
    assert not wrong, (
        "ARCHITECTURE.md's Packages table does not list what these parts import; move the "
        "code to the right layer, or (if the dependency is meant) list it in the row:\n"
        + "\n".join(wrong)
    )


def test_table_layers_are_the_contracts(graph):
    """Layer n of the table is the n-th layer from the bottom of the layers contract."""
    (contract,) = [c for c in _contracts() if c["type"] == "layers"]
    expected = {}
    for depth, layer in enumerate(reversed(contract["layers"])):
        for name in re.split(r"[|:]", layer):
            expected[f"{PACKAGE}.{name.strip().strip('()')}"] = str(depth)
    rows = architecture_rows()
    table = {m: layer for m, (layer, _, _) in rows.items() if m != PACKAGE}
    present = {m: d for m, d in expected.items() if m in graph.modules}  # optional layers
    assert table == present


def test_row_check_finds_an_unlisted_import(graph):
    """The table check is not vacuous: an import added to the graph shows up."""
    planted = grimp.build_graph(PACKAGE, include_external_packages=True, cache_dir=None)
    planted.add_import(importer="spacy_elmo.data.convert", imported="torch")
    assert "torch" in actual_imports(planted, "spacy_elmo.data")[1]
    assert "torch" not in architecture_rows()["spacy_elmo.data"][2]


# --- the lazy root ---------------------------------------------------------------------------
def _python(code: str) -> str:
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


@pytest.mark.parametrize(
    "module",
    ["spacy_elmo", "spacy_elmo.settings", "spacy_elmo.errors", "spacy_elmo.validation"],
)
def test_import_does_not_load_torch(module):
    loaded = _python(
        f"import sys, {module}; print(sorted({{'torch', 'spacy', 'numpy'}} & set(sys.modules)))"
    )
    assert loaded == "[]"


def test_public_names_still_import():
    out = _python(
        "import sys, spacy_elmo\n"
        "from spacy_elmo import ElmoEmbedder, __version__, batch_to_ids, default_model_paths\n"
        "assert 'torch' in sys.modules  # loaded on first use\n"
        "assert spacy_elmo.ElmoEmbedder is ElmoEmbedder\n"
        "assert set(spacy_elmo.__all__) <= set(dir(spacy_elmo))\n"
        "print([getattr(spacy_elmo, n).__module__ for n in spacy_elmo.__all__[:3]])\n"
        "try:\n"
        "    spacy_elmo.NoSuchName\n"
        "except AttributeError as e:\n"
        "    print(e)\n"
    )
    assert "['spacy_elmo.embedder', 'spacy_elmo.pytorch.char_ids', 'spacy_elmo.util']" in out
    assert "module 'spacy_elmo' has no attribute 'NoSuchName'" in out
