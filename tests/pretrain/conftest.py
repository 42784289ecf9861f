import random
from pathlib import Path
from typing import Any, Dict, Optional

import pytest

TINY_MODEL = {
    "char_cnn": {
        "embedding": {"dim": 4},
        "filters": [[1, 4], [2, 8]],
        "n_highway": 1,
        "activation": "relu",
        "n_characters": 262,
        "max_characters_per_token": 50,
    },
    "lstm": {
        "dim": 32,
        "projection_dim": 8,
        "n_layers": 2,
        "cell_clip": 3,
        "proj_clip": 3,
        "use_skip_connections": True,
    },
}

_SUBJECTS = ["the cat", "a dog", "my friend", "the old man", "her sister"]
_VERBS = ["sat on", "looked at", "walked to", "ran past"]
_OBJECTS = ["the mat", "a tree", "the house", "the river", "a red car"]


def make_corpus(path: Path, n_lines: int, seed: int = 0) -> Path:
    """Sentences from a small grammar: predictable enough for the perplexity to fall."""
    rng = random.Random(seed)
    lines = []
    for _ in range(n_lines):
        s = f"{rng.choice(_SUBJECTS)} {rng.choice(_VERBS)} {rng.choice(_OBJECTS)} ."
        if rng.random() < 0.3:
            s += f" then {rng.choice(_SUBJECTS)} {rng.choice(_VERBS)} {rng.choice(_OBJECTS)} ."
        lines.append(s)
    path.write_text("\n".join(lines) + "\n", encoding="utf8")
    return path


def tiny_config(train: Path, dev: Optional[Path] = None, **training: Any) -> Dict[str, Any]:
    settings = {
        "seed": 0,
        "max_steps": 20,
        "dropout": 0.1,
        "checkpoint_every_steps": 10,
        "checkpoint_every_minutes": 0,
        "eval_every_steps": 0,
        "log_every_steps": 10,
        "threads": 1,
    }
    settings.update(training)
    return {
        "model": TINY_MODEL,
        "data": {
            "train": [{"path": str(train), "pretokenized": True}],
            "dev": [{"path": str(dev), "pretokenized": True}] if dev else [],
            "vocab_size": 100,
        },
        "batching": {"batch_size": 4, "unroll_steps": 8},
        "softmax": {"cutoffs": [8], "div_value": 2.0},
        "optimizer": {"name": "adam", "lr": 0.01, "clip_norm": 5.0},
        "training": settings,
    }


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    return make_corpus(tmp_path / "train.txt", 300)
