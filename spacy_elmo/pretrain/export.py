"""Checkpoint -> ``options.json`` + ``weights.hdf5`` (+ ``softmax.pt``, ``vocab.txt``).

Works on a live run: it reads the checkpoint that ``latest.json`` points at, which is
complete by construction (see :mod:`.checkpoint`).
"""

import time
from pathlib import Path
from typing import Any, Dict, Optional, Union

from ..errors import ElmoInputError, Errors
from ..pytorch.bilm import ELMoBiLM
from ..pytorch.config import ELMoConfig
from ..weights import config_from_dict as options_from_dict
from ..weights import load_bilm, save_options, save_weights
from . import checkpoint as ckpt
from .build import softmax_payload
from .lm_head import SharedSoftmax
from .model import BiLMLanguageModel
from .plot import plot_perplexity
from .runlog import LOG_FILE, read_log
from .vocab import Vocab


def export_model(
    model: BiLMLanguageModel,
    arch: ELMoConfig,
    vocab: Vocab,
    dest: Union[str, Path],
    *,
    softmax: bool = True,
    extra: Optional[Dict[str, Any]] = None,
) -> None:
    """Write the biLM in the bilm-tf layout; with ``softmax``, also what continued training
    needs (``softmax.pt``, ``vocab.txt``)."""
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    save_options(arch, dest / "options.json", extra=extra)
    save_weights(model.bilm, dest / "weights.hdf5")
    if softmax:
        ckpt.atomic_torch_save(softmax_payload(model), dest / "softmax.pt")
        vocab.save(dest / "vocab.txt")


def load_checkpoint_model(run_dir: Union[str, Path]) -> Dict[str, Any]:
    """The model of the newest checkpoint of ``run_dir``.

    :returns: ``model`` (:class:`BiLMLanguageModel`, eval mode), ``arch``, ``vocab``, ``step``,
        ``tokens``.
    """
    root = Path(run_dir) / "checkpoints"
    found = None
    for attempt in range(3):
        try:
            found = ckpt.find_checkpoint(root, rank=None)
            break
        except ElmoInputError:
            if attempt == 2:
                raise
            time.sleep(1.0)  # pruned by a live run between reading latest.json and loading
    if found is None:
        raise ElmoInputError(Errors.E307.format(path=run_dir))
    shared = found.shared
    arch = options_from_dict(shared["options"])
    vocab = Vocab(shared["vocab"])
    sm = shared["softmax"]
    model = BiLMLanguageModel(
        bilm=ELMoBiLM(arch),
        softmax=SharedSoftmax.from_spec(sm),
    )
    model.load_state_dict(shared["model"])
    model.eval()
    return {
        "model": model,
        "arch": arch,
        "vocab": vocab,
        "step": shared["step"],
        "tokens": shared["tokens"],
    }


def export_checkpoint(
    run_dir: Union[str, Path], dest: Union[str, Path], *, softmax: bool = True, plot: bool = True
) -> Dict[str, Any]:
    """Export the newest checkpoint of ``run_dir`` to ``dest``. ``options.json`` gets no
    training-only keys (loading would warn about them); the step is returned instead. With
    ``plot``, ``perplexity.png`` shows the run's curves up to the exported step.

    :returns: ``step`` and ``tokens`` of the exported checkpoint.
    """
    loaded = load_checkpoint_model(run_dir)
    export_model(
        loaded["model"],
        loaded["arch"],
        loaded["vocab"],
        dest,
        softmax=softmax,
    )
    if plot:
        records = read_log(Path(run_dir) / LOG_FILE, loaded["step"])
        plot_perplexity(records, Path(dest) / "perplexity.png")
    return {"step": loaded["step"], "tokens": loaded["tokens"]}


def load_exported(directory: Union[str, Path]) -> Dict[str, Any]:
    """A model exported with its softmax (``options.json``, ``weights.hdf5``, ``softmax.pt``,
    ``vocab.txt``), for perplexity evaluation or continued training."""
    directory = Path(directory)
    missing = [
        n
        for n in ("options.json", "weights.hdf5", "softmax.pt", "vocab.txt")
        if not (directory / n).is_file()
    ]
    if missing:
        raise ElmoInputError(Errors.E305.format(path=directory, missing=", ".join(missing)))
    bilm = load_bilm(directory / "options.json", directory / "weights.hdf5", trainable=False)
    payload = ckpt.safe_torch_load(directory / "softmax.pt")
    softmax = SharedSoftmax.from_spec(payload)
    softmax.load_state_dict(payload["state_dict"])
    model = BiLMLanguageModel(bilm=bilm, softmax=softmax).eval()
    return {"model": model, "arch": bilm.config, "vocab": Vocab.load(directory / "vocab.txt")}
