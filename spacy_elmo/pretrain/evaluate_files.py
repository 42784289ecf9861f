"""Perplexity of a run's newest checkpoint (or an export with its softmax) on text files."""

from pathlib import Path
from typing import Any, Dict, Optional, Sequence, Union

import torch

from .config import CorpusFile
from .evaluate import evaluate_text
from .export import load_checkpoint_model, load_exported
from .text import prepare_corpus


def evaluate_files(
    model_dir: Union[str, Path],
    files: Sequence[Union[str, Path]],
    *,
    pretokenized: bool = False,
    max_tokens: Optional[int] = None,
    batch_size: int = 64,
    unroll_steps: int = 20,
    threads: int = 0,
    lang: str = "en",
) -> Dict[str, Any]:
    """``{file name: {forward, backward, average, n_tokens}}`` plus the model's ``step``."""
    if threads:
        torch.set_num_threads(threads)
    model_dir = Path(model_dir)
    if (model_dir / "checkpoints" / "latest.json").is_file():
        loaded = load_checkpoint_model(model_dir)
    else:
        loaded = load_exported(model_dir)
    results: Dict[str, Any] = {"step": loaded.get("step"), "tokens": loaded.get("tokens")}
    for path in files:
        text = prepare_corpus(
            [CorpusFile(path=str(path), pretokenized=pretokenized)],
            None,
            max_line_chars=100_000,
            max_token_chars=100,
            lang=lang,
            what="evaluation file",
        )
        results[Path(path).name] = evaluate_text(
            loaded["model"],
            text,
            loaded["vocab"],
            batch_size=batch_size,
            unroll_steps=unroll_steps,
            max_tokens=max_tokens,
        )
    return results
