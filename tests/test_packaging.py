"""``spacy package`` of a pipeline with an ``elmo`` component: the package must require
spacy-elmo (it is what makes the ``elmo`` factory loadable), and since spacy-elmo is not on
PyPI the README must say how to install such a package."""

import json
import re
from importlib.metadata import version
from pathlib import Path

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
