"""The ``embed`` progress bar: tqdm on stderr with sentences/s, tokens/s and the ETA."""

import sys
import time
from typing import Any, Optional


class Progress:
    """Counts sentences and tokens; shows them when ``enabled`` (a no-op otherwise).

    :param total: Sentences this process will embed, when known (gives the ETA).
    :param done: Sentences already embedded by an earlier, interrupted run.
    """

    def __init__(self, *, total: Optional[int], done: int = 0, enabled: bool, desc: str):
        self.tokens = 0
        self.start = time.perf_counter()
        self._last = 0.0
        self.bar: Any = None
        if enabled:
            from tqdm import tqdm

            self.bar = tqdm(
                total=total,
                initial=done,
                unit="sent",
                desc=desc,
                file=sys.stderr,
                dynamic_ncols=True,
                smoothing=0.05,
            )

    def update(self, sentences: int, tokens: int) -> None:
        self.tokens += tokens
        if self.bar is None:
            return
        self.bar.update(sentences)
        now = time.perf_counter()
        if now - self._last > 0.5:
            self._last = now
            self.bar.set_postfix_str(f"{self.tokens_per_second():,.0f} tok/s", refresh=False)

    def tokens_per_second(self) -> float:
        return self.tokens / max(time.perf_counter() - self.start, 1e-9)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
