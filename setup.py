#!/usr/bin/env python
"""spacy-elmo: ELMo (Peters et al., 2018) for spaCy v3."""

from pathlib import Path

from setuptools import find_packages, setup

ROOT = Path(__file__).parent

setup(
    name="spacy-elmo",
    version="0.1.0",
    description="ELMo contextual word representations for spaCy: exact to the original, fast on CPU",
    long_description=(ROOT / "README.md").read_text(encoding="utf8"),
    long_description_content_type="text/markdown",
    license="MIT",
    python_requires=">=3.10",
    packages=find_packages(include=["spacy_elmo", "spacy_elmo.*"]),
    package_data={
        "spacy_elmo": [
            "py.typed",
            "assets/*/*.json",
            "assets/*/*.hdf5",
            "assets/*.txt",
            "assets/*.tsv",
            "assets/*/*.txt",
            "assets/*/*.md",
        ]
    },
    include_package_data=True,
    install_requires=[
        "spacy>=3.7.0,<4.0.0",
        "thinc>=8.2.0,<9.0.0",
        "torch>=2.0.0",
        "numpy>=1.21.0",
        "srsly>=2.4.0",
        "h5py>=3.0.0",
        "tqdm>=4.0.0",
        "typer>=0.9.0",
        # Downloads by name or http(s) URL (spacy_elmo/hub); spaCy and torch need both anyway.
        "requests>=2.25.0",
        "filelock>=3.10.0",
    ],
    extras_require={
        # The pretraining perplexity plot needs matplotlib; the tests check that plot.
        "pretrain": ["matplotlib>=3.5.0"],
        # hf:// locations and the Hugging Face Hub mirrors (spacy_elmo/hub/hf.py).
        "hub": ["huggingface_hub>=0.23.0"],
        # black, isort and mypy run in tests/test_style.py: pinned, so results do not drift.
        "test": [
            "pytest>=7.0.0",
            "matplotlib>=3.5.0",
            "huggingface_hub>=0.23.0",
            "black==26.10.1",
            "isort==9.0.2",
            "mypy==2.4.1",
            # The layer contracts of pyproject.toml (tests/test_architecture.py); grimp with it.
            "import-linter==2.16",
        ],
    },
    entry_points={
        # --- spaCy integration (owned by spacy_elmo/pipeline + spacy_elmo/models) ---
        "spacy_factories": [
            "elmo = spacy_elmo.pipeline.pipe:make_elmo",
            "elmo_cleanup = spacy_elmo.pipeline.cleanup:make_elmo_cleanup",
        ],
        "spacy_architectures": [
            "spacy-elmo.ElmoLayers.v1 = spacy_elmo.models.layers:build_elmo_layers_v1",
            "spacy-elmo.ElmoListener.v1 = spacy_elmo.models.listener:build_elmo_listener_v1",
            "spacy-elmo.ScalarMix.v1 = spacy_elmo.models.scalar_mix:build_scalar_mix_v1",
            "spacy-elmo.ElmoTok2Vec.v1 = spacy_elmo.models.tok2vec:build_elmo_tok2vec_v1",
        ],
        "spacy_misc": [
            "spacy-elmo.EpochTimer.v1 = spacy_elmo.pipeline.timing:make_epoch_timer_v1",
        ],
        "thinc_model_loaders": [
            "spacy-elmo.BiLMFiles.v1 = spacy_elmo.pipeline.loader:make_bilm_files_loader_v1",
        ],
        # --- CLI ---
        "console_scripts": ["spacy-elmo = spacy_elmo.cli:main"],
    },
)
