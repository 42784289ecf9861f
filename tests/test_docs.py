"""The docs name only things that exist: files, modules, Python names, registered functions,
CLI commands and options, and sections of docs/format.md.

Checked in README.md, ARCHITECTURE.md and docs/*.md:

- repository paths (``spacy_elmo/...``, ``tests/...``, ``docs/...``, ``configs/...``,
  ``examples/...``, ``tools/...``, top-level files) and relative Markdown links;
- the ``*.py`` modules listed in ARCHITECTURE.md's package table, under their package;
- dotted ``spacy_elmo.x.y`` names (imported, then looked up attribute by attribute);
- in Python code blocks: ``from spacy_elmo... import`` names, and every called or accessed
  snake_case attribute must be defined in the package or by the third-party objects the
  examples use (spaCy, thinc, torch, numpy, h5py, builtins);
- in code spans: ``Class.attribute`` for the package's classes;
- ``spacy-elmo.<Thing>.vN`` names against setup.py's entry points;
- ``python -m spacy_elmo <command> --option`` against the CLI;
- "docs/format.md §N" citations (docs, code, tests) against format.md's sections, and links to
  format.md anchors against its headings.

Names are matched leniently where the docs describe other projects: docs/format.md describes
AllenNLP and bilm-tf, so only its paths, links and ``spacy_elmo`` names are checked.
"""

import ast
import builtins
import importlib
import re
from functools import lru_cache
from pathlib import Path
from typing import Dict, Iterator, List, Set, Tuple

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "spacy_elmo"
DOCS = sorted([ROOT / "README.md", ROOT / "ARCHITECTURE.md", *(ROOT / "docs").glob("*.md")])
# Docs that describe other projects' code: only paths, links and spacy_elmo names are checked.
THIRD_PARTY_DOCS = {"format.md"}
REPO_DIRS = ("spacy_elmo", "tests", "docs", "configs", "examples", "tools", ".ci")
TOP_FILES = ("README.md", "ARCHITECTURE.md", "project.yml", "setup.py", "pyproject.toml")
# AllenNLP / bilm-tf names the docs compare against (they are not installed here).
ALLENNLP_NAMES = {
    "_ElmoBiLm",
    "_ElmoCharacterEncoder",
    "remove_sentence_boundaries",
    "batch_to_embeddings",
    "dump_weights",
    "dump_bilm_embeddings",
    "weight_layers",
}

PATH_RE = re.compile(
    r"(?<![\w./-])((?:%s)/[\w.\-/]*|(?:%s))(?![\w\-/{<*])"
    % ("|".join(re.escape(d) for d in REPO_DIRS), "|".join(re.escape(f) for f in TOP_FILES))
)
LINK_RE = re.compile(r"\]\(([^)\s]+)\)")
SPAN_RE = re.compile(r"(?<!`)`([^`\n]+)`(?!`)")
FENCE_RE = re.compile(r"^```(\w*)\n(.*?)^```", re.S | re.M)
DOTTED_RE = re.compile(r"\bspacy_elmo(?:\.\w+)+")
REGISTERED_RE = re.compile(r"spacy-elmo\.\w+\.v\d+")
CLI_RE = re.compile(r"python -m spacy_elmo ([a-z][\w-]*)([^\n`|]*)")
CITATION_RE = re.compile(r"(?:docs/)?format\.md §(\d+)(?:[-–](\d+))?((?:, ?§\d+)*)")


def _text(path: Path) -> str:
    return path.read_text(encoding="utf8")


def _fences(text: str) -> Iterator[Tuple[str, str]]:
    for match in FENCE_RE.finditer(text):
        yield match.group(1), match.group(2)


def _without_fences(text: str) -> str:
    return FENCE_RE.sub("", text)


@lru_cache(maxsize=None)
def package_names() -> Set[str]:
    """Every name the package defines: functions, classes, methods, module and class
    attributes, ``self.x`` attributes and parameters."""
    names: Set[str] = set()
    for path in PACKAGE.rglob("*.py"):
        names.add(path.stem)
        for node in ast.walk(ast.parse(_text(path))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names.add(node.name)
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                names.update(a.arg for a in node.args.args + node.args.kwonlyargs)
            elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
                names.add(node.attr)
            elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                names.add(node.id)
    return names


@lru_cache(maxsize=None)
def third_party_names() -> Set[str]:
    """Attributes of the third-party objects the examples call."""
    import h5py
    import numpy
    import spacy
    import thinc.api
    import torch
    from spacy.language import Language
    from spacy.tokens import Doc, DocBin, Span, Token

    objects = [builtins, str, list, dict, Path, numpy, numpy.ndarray, torch, torch.nn]
    objects += [torch.Tensor, torch.nn.Module, spacy, Language, Doc, DocBin, Span, Token]
    objects += [thinc.api]
    objects += [h5py, h5py.File]
    return {name for obj in objects for name in dir(obj)} | ALLENNLP_NAMES


def _resolve_dotted(name: str) -> bool:
    """``spacy_elmo.a.b.c``: the longest importable module prefix, then attributes."""
    parts = name.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        for attr in parts[i:]:
            if not hasattr(obj, attr):
                return False
            obj = getattr(obj, attr)
        return True
    return False


def _is_placeholder(path: str) -> bool:
    """``configs/CFG.cfg``: a part in capitals stands for a name the reader chooses."""
    stems = [part.split(".")[0] for part in path.split("/")]
    real = ("README", "ARCHITECTURE", "MODEL_CARD", "LICENSE")
    return any(re.fullmatch(r"[A-Z][A-Z0-9_]+", s) and s not in real for s in stems)


def _doc_id(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


@pytest.mark.parametrize("doc", DOCS, ids=_doc_id)
def test_named_paths_exist(doc):
    text = _text(doc)
    missing = []
    for match in PATH_RE.finditer(text):
        path = match.group(1).rstrip(".,:;")
        if not (ROOT / path).exists() and not _is_placeholder(path):
            missing.append(path)
    for target in LINK_RE.findall(text):
        if re.match(r"[a-z]+:", target) or target.startswith("#"):
            continue  # a URL or an anchor in the same file
        path = target.split("#")[0]
        if path and not (doc.parent / path).exists():
            missing.append(target)
    assert not missing, f"{_doc_id(doc)} names paths that do not exist: {missing}"


def test_architecture_modules_exist():
    missing = []
    for line in _text(ROOT / "ARCHITECTURE.md").splitlines():
        row = re.match(r"\| `(spacy_elmo/[\w/]+/)` \|", line)
        if row:
            for module in re.findall(r"(?<![\w/])(\w+\.py)\b", line):
                if not (ROOT / row.group(1) / module).exists():
                    missing.append(row.group(1) + module)
    assert not missing, f"ARCHITECTURE.md lists modules that do not exist: {missing}"


@pytest.mark.parametrize("doc", DOCS, ids=_doc_id)
def test_dotted_package_names_resolve(doc):
    names = set(DOTTED_RE.findall(_text(doc)))
    missing = sorted(name for name in names if not _resolve_dotted(name.rstrip(".")))
    assert not missing, f"{_doc_id(doc)} names what the package does not have: {missing}"


def _python_block_problems(code: str) -> List[str]:
    problems = []
    for module, imported in re.findall(r"^from (spacy_elmo[\w.]*) import ([^\n#]+)", code, re.M):
        for name in imported.replace("(", "").replace(")", "").split(","):
            if name.strip() and not _resolve_dotted(f"{module}.{name.strip()}"):
                problems.append(f"{module}.{name.strip()}")
    local = set(re.findall(r"\b(\w+)\s*=", code)) | set(re.findall(r"\bfor (\w+)", code))
    known = package_names() | third_party_names() | local
    used = set(re.findall(r"\.([a-z_]\w*)\b", code)) | set(re.findall(r"\b([a-z_]\w*)\(", code))
    problems += sorted(name for name in used if "_" in name.strip("_") and name not in known)
    return problems


@pytest.mark.parametrize("doc", DOCS, ids=_doc_id)
def test_python_examples_use_existing_names(doc):
    if doc.name in THIRD_PARTY_DOCS:
        return
    problems = []
    for lang, code in _fences(_text(doc)):
        if lang == "python":
            problems += _python_block_problems(code)
    assert not problems, f"{_doc_id(doc)}: Python examples use unknown names: {problems}"


@pytest.mark.parametrize("doc", DOCS, ids=_doc_id)
def test_class_attributes_in_code_spans_exist(doc):
    if doc.name in THIRD_PARTY_DOCS:
        return
    import benchmarks.runner
    import spacy_elmo.embedder
    import spacy_elmo.pytorch.bilm
    import spacy_elmo.pytorch.config
    import spacy_elmo.pytorch.lstm
    import spacy_elmo.pytorch.scalar_mix

    modules = [spacy_elmo.embedder, spacy_elmo.pytorch.bilm, spacy_elmo.pytorch.config]
    modules += [spacy_elmo.pytorch.lstm, spacy_elmo.pytorch.scalar_mix, benchmarks.runner]
    classes: Dict[str, type] = {
        name: obj for m in modules for name, obj in vars(m).items() if isinstance(obj, type)
    }
    problems = []
    for span in SPAN_RE.findall(_without_fences(_text(doc))):
        for cls, attr in re.findall(r"(?<![\w.-])([A-Z]\w+)\.([a-z_]\w*)", span):
            if re.fullmatch(r"v\d+", attr):
                continue  # a registered name (``ScalarMix.v1``): test_registered_names_exist
            if cls in classes and not hasattr(classes[cls], attr) and attr not in package_names():
                problems.append(f"{cls}.{attr}")
    assert not problems, f"{_doc_id(doc)} names attributes that do not exist: {problems}"


@lru_cache(maxsize=None)
def entry_point_names() -> Set[str]:
    return set(REGISTERED_RE.findall(_text(ROOT / "setup.py")))


@pytest.mark.parametrize("doc", DOCS, ids=_doc_id)
def test_registered_names_exist(doc):
    text = _text(doc)
    missing = sorted(set(REGISTERED_RE.findall(text)) - entry_point_names())
    # Short forms in code spans (``ElmoLayers.v2``) name a registered function too.
    short = {name.split(".", 1)[1] for name in entry_point_names()}
    for span in SPAN_RE.findall(text):
        missing += [s for s in re.findall(r"(?<![\w.-])([A-Z]\w+\.v\d+)\b", span) if s not in short]
    assert not missing, f"{_doc_id(doc)} names unregistered functions: {missing}"


@lru_cache(maxsize=None)
def cli_options() -> Dict[str, Set[str]]:
    import typer.main

    import benchmarks.cli
    from spacy_elmo.cli import app

    group = typer.main.get_command(app)
    commands = dict(getattr(group, "commands"))
    # `bench` forwards to the checkout's benchmarks command: its options are that one's.
    commands["bench"] = typer.main.get_command(benchmarks.cli.app)
    return {
        name: {opt for param in command.params for opt in param.opts + param.secondary_opts}
        for name, command in commands.items()
    }


@pytest.mark.parametrize("doc", DOCS, ids=_doc_id)
def test_cli_commands_and_options_exist(doc):
    commands = cli_options()
    problems = []
    for command, rest in CLI_RE.findall(_text(doc)):
        if command not in commands:
            problems.append(command)
            continue
        for option in re.findall(r"(?<![\w-])(--[a-z][\w-]*|-[a-z])\b", rest.split("#")[0]):
            if option not in commands[command] and option != "--help":
                problems.append(f"{command} {option}")
    assert not problems, f"{_doc_id(doc)} names CLI commands/options that do not exist: {problems}"


def _format_sections() -> Dict[int, str]:
    """Section number -> GitHub anchor of docs/format.md's ``## N. Title`` headings."""
    sections = {}
    for number, title in re.findall(r"^## (\d+)\. (.+)$", _text(ROOT / "docs" / "format.md"), re.M):
        anchor = re.sub(r"[^\w\- ]", "", f"{number}. {title}".lower()).replace(" ", "-")
        sections[int(number)] = anchor
    return sections


def _citing_files() -> List[Path]:
    files = list(DOCS) + sorted(PACKAGE.rglob("*.py")) + sorted((ROOT / "tests").rglob("*.py"))
    return [f for f in files if f.name != "test_docs.py"]


def test_format_citations_point_to_sections():
    sections = _format_sections()
    assert sorted(sections) == list(range(1, len(sections) + 1)) and len(sections) >= 10
    problems = []
    for path in _citing_files():
        for first, last, more in CITATION_RE.findall(_text(path)):
            cited = (
                [int(first)]
                + ([int(last)] if last else [])
                + [int(n) for n in re.findall(r"\d+", more)]
            )
            problems += [f"{_doc_id(path)}: §{n}" for n in cited if n not in sections]
        for anchor in re.findall(r"format\.md#([\w-]+)", _text(path)):
            if anchor not in sections.values():
                problems.append(f"{_doc_id(path)}: #{anchor}")
    assert not problems, f"citations of docs/format.md that point nowhere: {problems}"


def test_no_references_outside_the_repository():
    """Nothing points into the development workspace or mentions its tickets."""
    pattern = re.compile(
        r"\.\./shared|/work/|\bshared/(?:data|docs|tools)|issue #\d|the issue['’]s"
        r"|elmo-format(?:\.md)? §|docs/style\.md"  # the workspace's notes, not in the repo
    )
    files = _citing_files() + [ROOT / "project.yml", *sorted((ROOT / "configs").glob("*"))]
    files += sorted((ROOT / "tools").glob("*"))
    problems = [
        f"{_doc_id(path)}: {match.group(0)}"
        for path in files
        if path.is_file()
        for match in pattern.finditer(_text(path))
    ]
    assert not problems, f"references outside the repository: {problems}"


def test_the_checker_catches_a_missing_method():
    """The Python-example check flags a method the package does not define (ARCHITECTURE.md
    once documented ``emb.embed_tokens_lists``) but not spaCy, torch or local names."""
    code = "emb = ElmoEmbedder()\nemb.embed_batch([['a']])\nemb.embed_tokens_lists(lists)\n"
    assert _python_block_problems(code) == ["embed_tokens_lists"]
    ok = "nlp.add_pipe('elmo')\ndoc_vectors = torch.zeros(2).numpy()\nmy_mix(doc_vectors)\n"
    ok += "my_mix = 1\nfor x in emb.embed_sentences(s, batch_size=2): x.mean(axis=0)\n"
    assert _python_block_problems(ok) == []
    assert _python_block_problems("from spacy_elmo.pytorch.lstm import no_such_thing\n")
    assert not _resolve_dotted("spacy_elmo.embedder.ElmoEmbedder.embed_tokens_lists")
    assert _resolve_dotted("spacy_elmo.embedder.ElmoEmbedder.embed_batch")


def test_readme_starts_with_install_and_test_commands():
    fences = list(_fences(_text(ROOT / "README.md")))
    (lang1, first), (lang2, second) = fences[:2]
    assert lang1 == lang2 == "bash"
    assert "pip install -e" in first and "python -m spacy_elmo embed examples/sample.txt" in first
    assert second.strip() == "python -m pytest tests"  # what CI runs


def test_readme_first_command_leaves_the_checkout_clean():
    """Its output file is ignored by git, so it never shows up as an untracked file."""
    import shutil
    import subprocess

    first = next(_fences(_text(ROOT / "README.md")))[1]
    output = re.search(r"spacy_elmo embed \S+ (\S+)", first)
    assert output is not None
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    result = subprocess.run(
        ["git", "check-ignore", "-q", output.group(1)], cwd=ROOT, capture_output=True, timeout=30
    )
    assert result.returncode == 0, f"{output.group(1)} is not ignored by git"


def test_readme_says_how_to_get_the_cpu_torch_elsewhere():
    readme = _text(ROOT / "README.md")
    assert "pip install torch==2.13.0" in next(_fences(readme))[1]  # what works here
    assert "--index-url https://download.pytorch.org/whl/cpu" in readme  # what works elsewhere
