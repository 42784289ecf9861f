"""The CI style gates (docs/contributing.md, "Checks"): black, isort and mypy must pass.

Each tool runs as ``python -m <tool>`` with this interpreter from the repository root, so it
reads its settings from pyproject.toml; the versions are pinned in setup.py's ``test`` extra.
"""

import hashlib
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import List

REPO = Path(__file__).resolve().parents[1]
#: What black and isort check; mypy checks the package (its tests are not annotated).
PATHS = ["spacy_elmo", "benchmarks", "tests", "setup.py"]


def _run(args: List[str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", *args], cwd=REPO, capture_output=True, text=True, timeout=600
    )


def _assert_passes(result: subprocess.CompletedProcess, fix: str) -> None:
    command = " ".join(result.args[2:])
    assert result.returncode == 0, (
        f"`{command}` failed (exit code {result.returncode}); {fix}\n"
        f"{result.stdout}\n{result.stderr}"
    )


def _mypy_cache_dir() -> Path:
    """A cache outside the repository, one per interpreter and checkout, so that reruns are
    incremental (a cold run takes ~10 s) and environments never share a cache."""
    key = hashlib.sha1(f"{sys.executable}\0{REPO}".encode("utf8")).hexdigest()[:12]
    return Path(tempfile.gettempdir()) / f"spacy-elmo-mypy-cache-{key}"


def test_black():
    result = _run(["black", "--check", "--diff", *PATHS])
    _assert_passes(result, f"run `black {' '.join(PATHS)}` to fix.")


def test_isort():
    result = _run(["isort", "--check-only", "--diff", *PATHS])
    _assert_passes(result, f"run `isort {' '.join(PATHS)}` to fix.")


def test_mypy():
    result = _run(["mypy", "--cache-dir", str(_mypy_cache_dir()), "spacy_elmo"])
    _assert_passes(result, "fix the reported type errors.")
