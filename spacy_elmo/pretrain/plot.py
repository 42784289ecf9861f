"""Train and dev perplexity curves (``perplexity.png``) from the run's log records."""

import math
import warnings
from pathlib import Path
from typing import Any, Dict, Sequence

from ..errors import Warnings


def plot_perplexity(records: Sequence[Dict[str, Any]], path: Path) -> bool:
    """Plot perplexity against training tokens; skipped with W033 without matplotlib.

    :returns: Whether the file was written.
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        warnings.warn(Warnings.W033.format(path=path))
        return False
    if not records:
        return False
    fig, ax = plt.subplots(figsize=(7, 4.5))
    keys = ["train_ppl_fwd", "train_ppl_bwd"] + sorted(
        {k for r in records for k in r if k.startswith("dev_ppl_")}
    )
    for key in keys:
        pts = [(r["tokens"], r[key]) for r in records if key in r and math.isfinite(r[key])]
        if pts:
            xs, ys = zip(*pts)
            ax.plot(
                xs,
                ys,
                marker="." if key.startswith("dev") else None,
                label=key.replace("_ppl_", " ").replace("ppl", ""),
            )
    ax.set_xlabel("training tokens")
    ax.set_ylabel("perplexity")
    ax.set_yscale("log")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    tmp = Path(path).with_name(Path(path).name + ".tmp.png")
    fig.savefig(tmp, dpi=100)
    plt.close(fig)
    import os

    os.replace(tmp, path)
    return True
