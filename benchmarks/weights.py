"""Full-size random weights for the benchmark, written once with this package's own writer."""

import hashlib
from pathlib import Path
from typing import Tuple, Union

import torch

from spacy_elmo.pytorch.bilm import ELMoBiLM
from spacy_elmo.pytorch.config import ELMoConfig
from spacy_elmo.pytorch.config import preset as get_preset
from spacy_elmo.weights import save_options, save_weights

DEFAULT_WEIGHT_SEED = 0


def make_weights(
    preset: Union[str, ELMoConfig],
    cache_dir: Union[str, Path],
    *,
    seed: int = DEFAULT_WEIGHT_SEED,
) -> Tuple[Path, Path]:
    """Random weights for a published architecture, as ``options.json`` + ``weights.hdf5``.

    The values come from the modules' own initialisation (seeded), whose scales keep the
    LSTM gates and cells out of saturation, so the numbers the benchmark pushes around look
    like those of a trained model. Files are reused when they already exist.

    :param preset: ``small``, ``medium``, ``original`` or ``5.5B``, or any config (its files
        go in a folder named after a hash of the config).
    :param cache_dir: Folder for the files (created); they go in ``<preset>-seed<seed>/``.
    :returns: Paths of ``options.json`` and ``weights.hdf5``.
    """
    config = get_preset(preset) if isinstance(preset, str) else preset
    folder = Path(cache_dir) / f"{preset_name(preset)}-seed{seed}"
    options, weights = folder / "options.json", folder / "weights.hdf5"
    if options.is_file() and weights.is_file():
        return options, weights
    folder.mkdir(parents=True, exist_ok=True)
    generator_state = torch.random.get_rng_state()
    try:
        torch.manual_seed(seed)
        bilm = ELMoBiLM(config)
    finally:
        torch.random.set_rng_state(generator_state)
    save_weights(bilm, weights)
    del bilm
    save_options(config, options)  # written last: its presence marks a complete pair
    return options, weights


def preset_name(preset: Union[str, ELMoConfig]) -> str:
    """A preset's name, or ``config-<hash>`` for a config object."""
    if isinstance(preset, str):
        return preset
    return "config-" + hashlib.sha1(repr(preset).encode("utf8")).hexdigest()[:10]
