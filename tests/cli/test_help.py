"""Every command's ``--help`` prints, as a user's first look at a command must."""

import subprocess
import sys

import pytest
from typer.testing import CliRunner

from spacy_elmo.cli import app

COMMANDS = sorted(c.name for c in app.registered_commands)


def test_every_command_is_named() -> None:
    assert all(COMMANDS) and "pretrain" in COMMANDS and "embed" in COMMANDS


@pytest.mark.parametrize("command", COMMANDS)
def test_help_prints(command: str) -> None:
    # The help renderer must not choke on option texts such as "hf://OWNER/REPO[@REV][/FOLDER]"
    # (square brackets were once read as rich markup and --help raised MarkupError).
    result = CliRunner().invoke(app, [command, "--help"])
    assert result.exit_code == 0, repr(result.exception)
    assert "Usage" in result.output


def test_square_brackets_print_as_written() -> None:
    # As a user runs it, in a subprocess.
    done = subprocess.run(
        [sys.executable, "-m", "spacy_elmo", "pretrain", "--help"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "[@REV][/FOLDER]" in done.stdout.replace("\n", "").replace(" ", "")
