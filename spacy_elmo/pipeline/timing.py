"""``spacy-elmo.EpochTimer.v1``: per-epoch wall time of ``spacy train``, for comparing
ELMo configs with their baselines (``[training.before_update]``)."""

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, Optional

from spacy.language import Language


@dataclass
class _Epoch:
    """The epoch being timed: its number, its start (wall and CPU clocks) and updates so far."""

    number: Any
    start: float
    cpu: float
    steps: int = 0


def make_epoch_timer_v1(*, path: str) -> Callable[[Language, Dict[str, Any]], None]:
    """Append ``{"epoch", "seconds", "cpu_seconds", "steps"}`` to the JSONL file ``path`` each
    time an epoch ends (``cpu_seconds``: CPU time of this process, steadier than wall time on
    a shared machine). An epoch is timed from its first update to the next epoch's first update, so the
    last epoch of a run is not reported: train one epoch more than you want timed. The time
    includes evaluations that fall in the epoch (use a large ``eval_frequency``).

    path (str): Output file (created or appended to).
    """
    out = Path(path)
    current: Optional[_Epoch] = None

    def before_update(nlp: Language, info: Dict[str, Any]) -> None:
        nonlocal current
        now, cpu = time.perf_counter(), time.process_time()
        epoch = info["epoch"]
        if current is not None and epoch != current.number:
            row = {
                "epoch": current.number,
                "seconds": round(now - current.start, 3),
                "cpu_seconds": round(cpu - current.cpu, 3),
                "steps": current.steps,
            }
            with out.open("a", encoding="utf8") as f:
                f.write(json.dumps(row) + "\n")
        if current is None or epoch != current.number:
            current = _Epoch(number=epoch, start=now, cpu=cpu)
        current.steps += 1

    return before_update
