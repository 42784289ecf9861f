"""Fixtures shared by the weights tests: a writable copy of the tiny bilm-tf model."""

import json
import shutil

import pytest

from ..conftest import SKIP


@pytest.fixture
def copied(tmp_path):
    """``(options.json, weights.hdf5)``: a copy of the skip-connection fixture to edit."""
    shutil.copy(SKIP / "options.json", tmp_path / "options.json")
    shutil.copy(SKIP / "lm_weights.hdf5", tmp_path / "weights.hdf5")
    return tmp_path / "options.json", tmp_path / "weights.hdf5"


def edit_options(path, edit) -> None:
    """Rewrite the options.json at ``path`` after ``edit(options_dict)``."""
    options = json.loads(path.read_text())
    edit(options)
    path.write_text(json.dumps(options))
