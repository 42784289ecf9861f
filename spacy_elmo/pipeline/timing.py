"""``spacy-elmo.EpochTimer.v1``: per-epoch wall time of ``spacy train``, for comparing
ELMo configs with their baselines (``[training.before_update]``)."""

import json
import time
from pathlib import Path
from typing import Any, Callable, Dict, Optional

from spacy.language import Language


def make_epoch_timer_v1(*, path: str) -> Callable[[Language, Dict[str, Any]], None]:
    """Append ``{"epoch", "seconds", "cpu_seconds", "steps"}`` to the JSONL file ``path`` each
    time an epoch ends (``cpu_seconds``: CPU time of this process, steadier than wall time on
    a shared machine). An epoch is timed from its first update to the next epoch's first update, so the
    last epoch of a run is not reported: train one epoch more than you want timed. The time
    includes evaluations that fall in the epoch (use a large ``eval_frequency``).

    path (str): Output file (created or appended to).
    """
    out = Path(path)
    state: Dict[str, Optional[float]] = {"epoch": None, "start": None, "cpu": None, "steps": 0}

    def before_update(nlp: Language, info: Dict[str, Any]) -> None:
        now, cpu = time.perf_counter(), time.process_time()
        epoch = info["epoch"]
        if state["epoch"] is not None and epoch != state["epoch"]:
            row = {
                "epoch": state["epoch"],
                "seconds": round(now - state["start"], 3),  # type: ignore[operator]
                "cpu_seconds": round(cpu - state["cpu"], 3),  # type: ignore[operator]
                "steps": state["steps"],
            }
            with out.open("a", encoding="utf8") as f:
                f.write(json.dumps(row) + "\n")
        if epoch != state["epoch"]:
            state.update(epoch=epoch, start=now, cpu=cpu, steps=0)
        state["steps"] += 1  # type: ignore[operator]

    return before_update
