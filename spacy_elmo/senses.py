"""Is a biLM contextual? Cosine similarities of one word's vectors within and across senses.

Reads tab-separated ``word, sense, sentence`` rows (whitespace-tokenized sentences, ``#``
comments), embeds every sentence and compares the vectors of ``word`` between sentences of
the same sense and of different senses, layer by layer and for fixed mixes of the layers. Layer 0 (the char CNN) is context
independent, so it scores 1.0 everywhere; a contextual layer scores higher within senses
than across them, and its nearest neighbour is usually an occurrence of the same sense.
"""

from dataclasses import dataclass
from itertools import combinations
from pathlib import Path
from typing import Dict, List, Sequence, Tuple, Union

import numpy as np

from .embedder import ElmoEmbedder
from .errors import ElmoInputError, Errors
from .pytorch.scalar_mix import fixed_mix

#: The packaged sentences: 18 ambiguous words, 2 senses each, 3 self-written sentences per
#: sense (``python -m spacy_elmo senses`` without an argument).
DEFAULT_SENSES = Path(__file__).parent / "assets" / "senses.tsv"

#: Fixed mixes compared besides the single layers: (weights over layers 0..L, layer norm).
#: ``mix`` is ``doc._.elmo``'s default (an even average of all layers, no layer norm).
MIXES: Dict[str, Tuple[str, bool]] = {
    "mix": ("all", False),
    "mix-norm": ("all", True),
    "mix-lstm": ("lstm", False),
    "mix-lstm-norm": ("lstm", True),
}


@dataclass(frozen=True)
class SenseExample:
    word: str
    sense: str
    tokens: Tuple[str, ...]


@dataclass(frozen=True)
class SenseScore:
    """Scores of one word in one representation (a layer index, or a name in :data:`MIXES`)."""

    word: str
    layer: str
    within: float  # mean cosine over pairs of occurrences with the same sense
    across: float  # mean cosine over pairs with different senses
    nn_accuracy: float  # share of occurrences whose most similar other one has their sense


def read_sense_examples(path: Union[str, Path]) -> List[SenseExample]:
    """Parse a ``word<TAB>sense<TAB>sentence`` file; the word must occur in its sentence."""
    if not Path(path).is_file():
        raise ElmoInputError(Errors.E001.format(what="senses file", path=path))
    examples = []
    for n, line in enumerate(Path(path).read_text(encoding="utf8").splitlines(), start=1):
        if not line.strip() or line.startswith("#"):
            continue
        parts = line.split("\t")
        if len(parts) != 3 or parts[0] not in parts[2].split():
            raise ElmoInputError(Errors.E112.format(path=path, line=n, text=line[:80]))
        examples.append(SenseExample(parts[0], parts[1], tuple(parts[2].split())))
    return examples


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / max(float(np.linalg.norm(a) * np.linalg.norm(b)), 1e-12))


def _scores(word: str, layer: str, vectors: List[np.ndarray], senses: List[str]) -> SenseScore:
    within: List[float] = []
    across: List[float] = []
    for i, j in combinations(range(len(vectors)), 2):
        (within if senses[i] == senses[j] else across).append(_cosine(vectors[i], vectors[j]))
    hits = []
    for i in range(len(vectors)):
        sims = {j: _cosine(vectors[i], vectors[j]) for j in range(len(vectors)) if j != i}
        # Ties (a context-independent layer ties everything) count at their average.
        best = [j for j, sim in sims.items() if sim >= max(sims.values()) - 1e-6]
        hits.append(np.mean([senses[j] == senses[i] for j in best]))
    return SenseScore(
        word, layer, float(np.mean(within)), float(np.mean(across)), float(np.mean(hits))
    )


def _mix_weights(which: str, n_layers: int) -> np.ndarray:
    """Even weights over all layers, or over the LSTM layers only. *Shape:* ``(L + 1,)``."""
    if which == "all":
        return np.full(n_layers, 1.0 / n_layers, dtype=np.float32)
    w = np.full(n_layers, 1.0 / (n_layers - 1), dtype=np.float32)
    w[0] = 0.0
    return w


def _representations(layers: np.ndarray, at: int) -> Dict[str, np.ndarray]:
    """Every layer and every mix of :data:`MIXES` at token ``at`` of one sentence; layer norm
    is over the sentence's tokens, as the component does for a doc.

    :param layers: *Shape:* ``(L + 1, n_tokens, 2P)``.
    """
    out = {str(k): layers[k, at] for k in range(layers.shape[0])}
    for name, (which, norm) in MIXES.items():
        weights = _mix_weights(which, layers.shape[0])
        out[name] = fixed_mix(layers, weights, gamma=1.0, layer_norm=norm)[at]
    return out


def sense_scores(embedder: ElmoEmbedder, examples: Sequence[SenseExample]) -> List[SenseScore]:
    """Scores per word (in file order) for every layer, then for every mix of :data:`MIXES`."""
    by_word: Dict[str, List[Tuple[str, Dict[str, np.ndarray]]]] = {}
    layers = embedder.embed_batch([list(ex.tokens) for ex in examples])
    for ex, lay in zip(examples, layers):  # lay: (L+1, n, 2P)
        reps = _representations(lay, ex.tokens.index(ex.word))
        by_word.setdefault(ex.word, []).append((ex.sense, reps))
    scores = []
    for word, occurrences in by_word.items():
        senses = [sense for sense, _ in occurrences]
        if len(set(senses)) < 2 or len(senses) == len(set(senses)):
            raise ElmoInputError(Errors.E113.format(word=word))
        for name in occurrences[0][1]:
            vectors = [reps[name] for _, reps in occurrences]
            scores.append(_scores(word, name, vectors, senses))
    return scores


def summary(scores: Sequence[SenseScore]) -> List[SenseScore]:
    """Means over words, one row per representation (``word`` is ``"mean of N"``)."""
    by_layer: Dict[str, List[SenseScore]] = {}
    for s in scores:
        by_layer.setdefault(s.layer, []).append(s)
    return [
        SenseScore(
            f"mean of {len(rows)}",
            layer,
            float(np.mean([r.within for r in rows])),
            float(np.mean([r.across for r in rows])),
            float(np.mean([r.nn_accuracy for r in rows])),
        )
        for layer, rows in by_layer.items()
    ]


_NAMES = {
    "0": "0 (char CNN)",
    "mix": "mix: average of all (default)",
    "mix-norm": "mix: all, layer-normalised",
    "mix-lstm": "mix: LSTM layers",
    "mix-lstm-norm": "mix: LSTM layers, layer-normalised",
}


def markdown_table(scores: Sequence[SenseScore]) -> str:
    """The scores as a Markdown table, one row per word and layer."""
    rows = [
        "| word | layer | cos within sense | cos across senses | nearest neighbour same sense |",
        "|---|---|---|---|---|",
    ]
    for s in scores:
        name = _NAMES.get(s.layer, f"{s.layer} (LSTM)")
        rows.append(
            f"| {s.word} | {name} | {s.within:.3f} | {s.across:.3f} | {s.nn_accuracy:.0%} |"
        )
    return "\n".join(rows)
