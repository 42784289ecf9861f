import subprocess
import sys

import pytest
import torch

from spacy_elmo.cli.hints import cli_shaped, train_hint
from spacy_elmo.errors import Errors, Warnings


def test_python_arguments_become_options():
    message = Errors.E109.format(device="cuda", error="no CUDA")
    assert cli_shaped(message).endswith("Use --device cpu.")
    assert "device='cpu'" not in cli_shaped(message)
    assert "--precision float32" in cli_shaped(Warnings.W004)
    assert cli_shaped("batch_size=64 and n=-1") == "--batch-size 64 and n=-1"
    assert cli_shaped("max_batch_tokens=4096", options={"--max-batch-tokens"}) == (
        "--max-batch-tokens 4096"
    )
    # a catalogue name is --model on the command line
    assert "--model original" in cli_shaped(Errors.E402.format(given="only options_file"))
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


def test_quoted_library_text_and_unknown_options_are_left_alone():
    """Only options some command takes become options: text quoted from a library (an
    exception's repr) keeps its ``host='...'``, and ``--n`` is no option of ours."""
    quoted = "Could not reach (HTTPConnectionPool(host='127.0.0.1', port=9): refused)"
    assert cli_shaped(quoted) == quoted
    assert cli_shaped("n=-1") == "n=-1"


def test_train_hint_names_gpu_id():
    assert train_hint("elmo.cfg", gpu=True).endswith(
        "python -m spacy train elmo.cfg --paths.train train.spacy --paths.dev dev.spacy --gpu-id 0"
    )
    cpu = train_hint("elmo.cfg", gpu=False)
    assert "--paths.dev dev.spacy\n" in cpu and "--gpu-id N" in cpu
