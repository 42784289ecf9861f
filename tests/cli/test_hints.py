import subprocess
import sys

import pytest
import torch

from spacy_elmo.cli.hints import cli_shaped
from spacy_elmo.errors import Errors, Warnings


def test_python_arguments_become_options():
    message = Errors.E109.format(device="cuda", error="no CUDA")
    assert cli_shaped(message).endswith("Use --device cpu.")
    assert "device='cpu'" not in cli_shaped(message)
    assert "--precision float32" in cli_shaped(Warnings.W004)
    assert cli_shaped("max_batch_tokens=4096 and n=-1") == "--max-batch-tokens 4096 and --n -1"
    # quoted values with spaces, paths and words with '=' inside are left alone
    kept = "text='a b' in path/x='y' or a.b='c'"
    assert cli_shaped(kept) == kept


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cli_prints_option_hints(tmp_path):
    src = tmp_path / "in.txt"
    src.write_text("Hello world .\n", encoding="utf8")
    out = subprocess.run(
        [sys.executable, "-m", "spacy_elmo", "embed", str(src), str(tmp_path / "o.hdf5")]
        + ["--top", "--device", "cuda"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 1
    # embed checks the device itself (E509) or the loader does (E109): a CLI-shaped hint
    assert "--device cpu" in out.stderr and "device='cpu'" not in out.stderr, out.stderr
    assert "Traceback" not in out.stderr
