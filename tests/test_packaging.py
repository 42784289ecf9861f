"""``spacy package`` of a pipeline with an ``elmo`` component: the package must require
spacy-elmo (it is what makes the ``elmo`` factory loadable), and since spacy-elmo is not on
PyPI the README must say how to install such a package; its recipe is run as written."""

import json
import os
import re
import shlex
import shutil
import site
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path
from typing import List

import spacy
from spacy.cli.package import package

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "spacy_elmo" / "assets" / "tiny"


def test_packaged_pipeline_requires_spacy_elmo(tmp_path):
    nlp = spacy.blank("en")
    config = {"options_file": str(TINY / "options.json"), "weight_file": str(TINY / "weights.hdf5")}
    nlp.add_pipe("elmo", config=config)
    nlp.to_disk(tmp_path / "pipeline")
    out = tmp_path / "packages"
    out.mkdir()
    package(tmp_path / "pipeline", out, name="elmo_test", version="0.0.1", create_sdist=False)
    meta = json.loads((out / "en_elmo_test-0.0.1" / "meta.json").read_text(encoding="utf8"))
    ours = [r for r in meta["requirements"] if re.match(r"spacy[-_]elmo\b", r)]
    assert ours, meta["requirements"]
    # The pin admits the installed spacy-elmo, so a wheel built from this checkout satisfies it.
    from packaging.requirements import Requirement

    assert Requirement(ours[0]).specifier.contains(version("spacy-elmo"))
    # The biLM files travel inside the package: no path to the original files is needed.
    data = out / "en_elmo_test-0.0.1" / "en_elmo_test" / "en_elmo_test-0.0.1"
    assert (data / "elmo" / "model" / "weights.hdf5").is_file()


def test_readme_says_how_to_install_a_package():
    readme = (ROOT / "README.md").read_text(encoding="utf8")
    section = readme[readme.index("### Packaging a trained pipeline") :]
    assert "pip wheel --no-deps -w packages/wheels ." in section
    assert "pip install --find-links packages/wheels" in section


def _readme_recipe() -> List[str]:
    """The commands of the README's packaging recipe, comments removed."""
    readme = (ROOT / "README.md").read_text(encoding="utf8")
    section = readme[readme.index("### Packaging a trained pipeline") :]
    start = section.index("```bash\n") + len("```bash\n")
    block = section[start : section.index("\n```", start)]
    return [line.split("  #")[0].strip() for line in block.splitlines() if line.strip()]


def _dependencies_only_venv(folder: Path) -> Path:
    """A fresh venv that sees every package of this test environment except spacy-elmo (so
    torch and spaCy need no download, and spacy-elmo must come from the recipe's wheel).

    The packages come in through a ``.pth`` line naming a folder of links to this
    environment's site-packages, spacy-elmo's entries left out. ``--system-site-packages``
    would not do: it exposes the base interpreter's packages, which are not this
    environment's when the tests run in a venv, and can include spacy-elmo itself."""
    links = folder / "deps"
    links.mkdir(parents=True)
    for site_dir in map(Path, site.getsitepackages()):
        for entry in site_dir.iterdir():
            name = entry.name.lower().replace("-", "_")
            ours = name.startswith(("spacy_elmo", "__editable__"))
            if not ours and entry.suffix != ".pth" and not (links / entry.name).exists():
                (links / entry.name).symlink_to(entry)
    venv = folder / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    [venv_site] = venv.glob("lib/python*/site-packages")
    (venv_site / "deps.pth").write_text(f"{links.resolve()}\n", encoding="utf8")
    return venv / "bin" / "python"


def _checkout_copy(folder: Path) -> Path:
    """What a fresh clone holds of the package: building it writes nothing into this one."""
    folder.mkdir()
    for name in ("setup.py", "pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, folder / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(ROOT / "spacy_elmo", folder / "spacy_elmo", ignore=ignore)
    return folder


def _as_run(command: str, *, clone: Path, venv_python: Path) -> List[str]:
    """One recipe line as this test runs it: offline (``--no-index``, and the build
    backend of this environment instead of a downloaded one), ``python`` and ``pip`` of the
    environment each step belongs to, ``.`` the copy of the checkout."""
    args = shlex.split(command)
    if args[:2] == ["pip", "wheel"]:
        args = [sys.executable, "-m", *args, "--no-index", "--no-build-isolation"]
        return [str(clone) if a == "." else a for a in args]
    if args[:2] == ["pip", "install"]:
        return [str(venv_python), "-m", *args, "--no-index", "--no-build-isolation"]
    if args[0] == "python":
        return [sys.executable, *args[1:]]
    return args


def test_readme_packaging_recipe_runs_as_written(tmp_path):
    """The recipe on a fresh folder: package a trained pipeline (here assembled: elmo on the
    tiny biLM), build spacy-elmo's wheel, install both into a fresh venv, run a doc there."""
    nlp = spacy.blank("en")
    config = {"options_file": str(TINY / "options.json"), "weight_file": str(TINY / "weights.hdf5")}
    nlp.add_pipe("elmo", config={"model": config})
    (tmp_path / "training" / "ner_elmo").mkdir(parents=True)
    nlp.to_disk(tmp_path / "training" / "ner_elmo" / "model-best")
    clone = _checkout_copy(tmp_path / "clone")
    venv_python = _dependencies_only_venv(tmp_path / "env")
    recipe = _readme_recipe()
    assert recipe[0] == "mkdir -p packages"
    env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    for command in recipe:
        args = _as_run(command, clone=clone, venv_python=venv_python)
        done = subprocess.run(args, cwd=tmp_path, env=env, capture_output=True, text=True)
        assert done.returncode == 0, (command, done.stdout[-3000:], done.stderr[-3000:])
    code = (
        "import spacy, spacy_elmo; nlp = spacy.load('en_ner_elmo'); "
        "doc = nlp('The bank raised its rates .'); "
        "print(spacy_elmo.__file__); print(len(doc._.elmo))"
    )
    done = subprocess.run(
        [str(venv_python), "-c", code], cwd=tmp_path, capture_output=True, text=True, env=env
    )
    assert done.returncode == 0, done.stderr[-3000:]
    where, n_vectors = done.stdout.splitlines()[-2:]
    # spacy-elmo came from the wheel the recipe built, not from this checkout
    assert Path(where).is_relative_to(tmp_path / "env" / "venv"), where
    assert n_vectors == "6"
