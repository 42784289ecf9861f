"""The repository stays light to clone (docs/contributing.md, "Large files")."""

import hashlib
import re
import subprocess
from pathlib import Path
from typing import Dict

import pytest

REPO = Path(__file__).resolve().parents[1]
LIMIT = 5 * 1000 * 1000
WEIGHTS = "spacy_elmo/assets/default/weights.hdf5"
MODEL_CARD = REPO / "spacy_elmo/assets/default/MODEL_CARD.md"
STATE = "training-state/default-v4"


def _tracked_sizes() -> Dict[str, int]:
    try:
        out = subprocess.run(
            ["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout")
    names = [n for n in out.decode("utf8").split("\0") if n]
    return {n: (REPO / n).stat().st_size for n in names if (REPO / n).is_file()}


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _state_sums() -> Dict[str, str]:
    lines = (REPO / STATE / "SHA256SUMS").read_text(encoding="utf8").splitlines()
    return {f"{STATE}/{name}": digest for digest, name in (ln.split() for ln in lines if ln)}


def test_no_large_file_but_the_recorded_exceptions():
    allowed = {WEIGHTS} | set(_state_sums())
    large = {n: s for n, s in _tracked_sizes().items() if s > LIMIT and n not in allowed}
    assert not large, (
        f"files over 5 MB in git: {large}. Publish them outside git (docs/contributing.md, "
        "'Large files')."
    )


def test_default_weights_match_the_model_card():
    recorded = re.findall(r"`([0-9a-f]{64})`", MODEL_CARD.read_text(encoding="utf8"))
    assert recorded, "the model card records no SHA-256 for the default weights"
    assert _sha256(REPO / WEIGHTS) == recorded[-1], (
        "spacy_elmo/assets/default/weights.hdf5 changed without a line in the model card's "
        "weights history (its last SHA-256 must be the shipped file's)"
    )


def test_committed_training_state_is_the_recorded_one():
    for name, digest in _state_sums().items():
        if name.endswith(".pt"):
            assert _sha256(REPO / name) == digest, f"{name} differs from its SHA256SUMS line"
