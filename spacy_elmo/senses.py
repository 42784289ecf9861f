"""Is a biLM contextual? Cosine similarities of one word's vectors within and across senses.

Reads tab-separated ``word, sense, sentence`` rows (whitespace-tokenized sentences, ``#``
comments), embeds every sentence and compares the vectors of ``word`` between sentences of
the same sense and of different senses, layer by layer. Layer 0 (the char CNN) is context
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


@dataclass(frozen=True)
class SenseExample:
    word: str
    sense: str
    tokens: Tuple[str, ...]


@dataclass(frozen=True)
class SenseScore:
    """Scores of one word in one representation (a layer index, or ``"mix"``)."""

    word: str
    layer: str
    within: float  # mean cosine over pairs of occurrences with the same sense
    across: float  # mean cosine over pairs with different senses
    nn_accuracy: float  # share of occurrences whose most similar other one has their sense


def read_sense_examples(path: Union[str, Path]) -> List[SenseExample]:
    """Parse a ``word<TAB>sense<TAB>sentence`` file; the word must occur in its sentence."""
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


def sense_scores(embedder: ElmoEmbedder, examples: Sequence[SenseExample]) -> List[SenseScore]:
    """Scores per word (in file order) for every layer and for the even layer average."""
    by_word: Dict[str, List[Tuple[str, np.ndarray]]] = {}
    layers = embedder.embed_batch([list(ex.tokens) for ex in examples])
    for ex, lay in zip(examples, layers):
        at = ex.tokens.index(ex.word)  # (L+1, n, 2P) -> the word's (L+1, 2P)
        by_word.setdefault(ex.word, []).append((ex.sense, lay[:, at]))
    scores = []
    for word, occurrences in by_word.items():
        senses = [sense for sense, _ in occurrences]
        if len(set(senses)) < 2 or len(senses) == len(set(senses)):
            raise ElmoInputError(Errors.E113.format(word=word))
        stacked = np.stack([vec for _, vec in occurrences])  # (n_occ, L+1, 2P)
        for k in range(stacked.shape[1]):
            scores.append(_scores(word, str(k), list(stacked[:, k]), senses))
        scores.append(_scores(word, "mix", list(stacked.mean(axis=1)), senses))
    return scores


def markdown_table(scores: Sequence[SenseScore]) -> str:
    """The scores as a Markdown table, one row per word and layer."""
    rows = [
        "| word | layer | cos within sense | cos across senses | nearest neighbour same sense |",
        "|---|---|---|---|---|",
    ]
    for s in scores:
        name = {"0": "0 (char CNN)", "mix": "average of all"}.get(s.layer, f"{s.layer} (LSTM)")
        rows.append(
            f"| {s.word} | {name} | {s.within:.3f} | {s.across:.3f} | {s.nn_accuracy:.0%} |"
        )
    return "\n".join(rows)
