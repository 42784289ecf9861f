"""How the whole-command benchmarks start ``python -m spacy_elmo``: one process, or many
under ``torchrun --standalone`` (``torch.distributed.run``, so no script on PATH is needed)."""

import sys
from typing import List


def spacy_elmo_command(processes: int) -> List[str]:
    """The argv prefix that runs ``spacy_elmo``'s CLI in ``processes`` processes."""
    if processes > 1:
        return [sys.executable, "-m", "torch.distributed.run", "--standalone"] + [
            "--nproc_per_node",
            str(processes),
            "-m",
            "spacy_elmo",
        ]
    return [sys.executable, "-m", "spacy_elmo"]
