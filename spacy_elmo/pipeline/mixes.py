"""The learned ELMo mix of each component of a trained pipeline.

Peters et al. (2018), sec. 5.2 and figure 2: the softmax-normalised layer weights ``s`` and the
scale ``gamma`` that each task learns show which biLM layers it uses (syntax tasks favour
the lower layers more than semantic ones).
"""

from dataclasses import dataclass
from pathlib import Path
from typing import List, Union

import spacy
import torch
from spacy.language import Language
from thinc.api import Model

from ..errors import ElmoInputError, Errors

MIX_NAME = "elmo-scalar-mix"


@dataclass
class LearnedMix:
    """One component's mix: ``weights`` are softmax(w) (summing to 1), layer 0 = char CNN."""

    component: str
    weights: List[float]
    gamma: float
    layer_norm: bool


def learned_mixes(nlp: Language) -> List[LearnedMix]:
    """Every ``spacy-elmo.ScalarMix.v1`` in the pipeline's component models, in pipeline
    order (a component with several mixes gives several rows)."""
    mixes = []
    for name, pipe in nlp.components:
        model = getattr(pipe, "model", None)
        if not isinstance(model, Model):
            continue
        for node in model.walk():
            if node.name == MIX_NAME:
                mixes.append(_read_mix(name, node))
    return mixes


def load_learned_mixes(path: Union[str, Path]) -> List[LearnedMix]:
    """:func:`learned_mixes` of the pipeline saved at ``path`` (e.g. ``model-last``)."""
    try:
        nlp = spacy.load(path)
    except (OSError, IOError, ValueError) as e:
        raise ElmoInputError(Errors.E256.format(path=path, error=e)) from e
    mixes = learned_mixes(nlp)
    if not mixes:
        raise ElmoInputError(Errors.E257.format(path=path))
    return mixes


def _read_mix(component: str, node: Model) -> LearnedMix:
    module = node.layers[0].shims[0]._model  # the torch ScalarMix inside PyTorchWrapper
    with torch.no_grad():
        weights = torch.softmax(module.weights.detach().float(), dim=0).tolist()
        gamma = float(module.gamma.detach().float()[0])
    return LearnedMix(
        component=component, weights=weights, gamma=gamma, layer_norm=bool(module.layer_norm)
    )


def markdown_table(mixes: List[LearnedMix]) -> str:
    """A Markdown table: one row per mix, softmax weight per layer and gamma."""
    n = max(len(m.weights) for m in mixes)
    names = ["layer 0 (char CNN)"] + [f"layer {k} (LSTM {k})" for k in range(1, n)]
    lines = [
        "| component | " + " | ".join(names) + " | gamma | layer norm |",
        "|---|" + "---|" * n + "---|---|",
    ]
    for m in mixes:
        cells = [f"{w:.3f}" for w in m.weights] + [""] * (n - len(m.weights))
        norm = "yes" if m.layer_norm else "no"
        lines.append(f"| {m.component} | " + " | ".join(cells) + f" | {m.gamma:.3f} | {norm} |")
    return "\n".join(lines)
