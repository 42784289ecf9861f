"""Write tests/fixtures/manylangs/: tiny ELMoForManyLangs models and the package's outputs.

Runs in the venv of tools/setup-manylangs-venv.sh, where the `elmoformanylangs` package is
installed (it imports nothing from spacy_elmo):

    PY=$(tools/setup-manylangs-venv.sh)
    $PY tools/make_manylangs_fixtures.py tests/fixtures/manylangs

For each model the network is built with the package's own classes (`frontend.Model`,
`EmbeddingLayer`), every parameter is drawn at random (fixed seed), and the folder is written
in the package's format: config.json -> network config, char.dic, word.dic, token_embedder.pkl,
encoder.pkl. The folder is then loaded back with the package's `Embedder` (its loader, its
dictionaries, its batching) and `sents2elmo(..., output_layer=-2)` gives every layer of every
sentence, saved in outputs.npz (sentence i -> array "s{i}", shape (L + 1, n_i, 2P)).
"""

import json
import sys
from pathlib import Path
from typing import Dict, List

import numpy as np
import torch
from elmoformanylangs import Embedder
from elmoformanylangs.frontend import Model
from elmoformanylangs.modules.embedding_layer import EmbeddingLayer

SYMBOLS = ["<bow>", "<eow>", "<oov>", "<pad>", "<bos>", "<eos>"]
# Characters of several scripts; some characters of SENTENCES are deliberately left out
# (ß, ё, emoji, most CJK and Arabic letters) so that <oov> is exercised. U+3000 is written
# as an id-only line, the package's convention for the white space that strip() removes.
CHARS = list("abcdefghiklmnorstuwäöüGKDпиветмрПаз中国人مرحبا.,!?-") + ["\u3000"]
WORDS = ["<oov>", "<pad>", "<bos>", "<eos>", "Grüße", "aus", "Köln", "мир", "中", ".", "Привет"]

SENTENCES: List[List[str]] = [
    ["Grüße", "aus", "Köln", "!"],
    ["Привет", ",", "мир", "ёж", "."],
    ["中", "国", "人", "说", "话"],
    ["مرحبا", "بالعالم"],
    ["Straße", "😀", "x" * 60],  # out-of-dictionary characters, a token cut to 48 characters
    ["a"],
    ["\u3000", "K", "aus", "aus", "Köln", "mir", "Гит", "ab", "cd"],
]

MODELS: Dict[str, dict] = {
    # word_dim > 0: a word embedding concatenated with the char CNN before the projection.
    "with_words": {
        "encoder": {
            "name": "elmo",
            "projection_dim": 8,
            "cell_clip": 3,
            "proj_clip": 3,
            "dim": 12,
            "n_layers": 2,
        },
        "token_embedder": {
            "name": "cnn",
            "activation": "relu",
            "filters": [[1, 4], [2, 4], [3, 8]],
            "n_highway": 1,
            "word_dim": 5,
            "char_dim": 6,
            "max_characters_per_token": 50,
        },
        "classifier": {"name": "sampled_softmax", "n_samples": 8},
        "dropout": 0.1,
    },
    # no word embedding, tanh, 2 highways, 3 layers, tight clips that do bite.
    "chars_only": {
        "encoder": {
            "name": "elmo",
            "projection_dim": 6,
            "cell_clip": 0.5,
            "proj_clip": 0.25,
            "dim": 10,
            "n_layers": 3,
        },
        "token_embedder": {
            "name": "cnn",
            "activation": "tanh",
            "filters": [[1, 3], [2, 5], [4, 4]],
            "n_highway": 2,
            "word_dim": 0,
            "char_dim": 4,
            "max_characters_per_token": 50,
        },
        "classifier": {"name": "sampled_softmax", "n_samples": 8},
        "dropout": 0.1,
    },
}


def write_dictionary(path: Path, entries: List[str]) -> Dict[str, int]:
    lines = []
    for i, symbol in enumerate(entries):
        lines.append(f"{i}" if symbol == "\u3000" else f"{symbol}\t{i}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return {s: i for i, s in enumerate(entries)}


def make_model(folder: Path, network: dict, seed: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "net.json").write_text(json.dumps(network, indent=1), encoding="utf-8")
    (folder / "config.json").write_text(json.dumps({"config_path": "net.json"}), encoding="utf-8")
    chars = write_dictionary(folder / "char.dic", SYMBOLS + CHARS)
    emb = network["token_embedder"]
    words = None
    if emb["word_dim"] > 0:
        words = write_dictionary(folder / "word.dic", WORDS)
    torch.manual_seed(seed)
    char_layer = EmbeddingLayer(emb["char_dim"], chars, fix_emb=False, embs=None)
    word_layer = None
    if words is not None:
        word_layer = EmbeddingLayer(emb["word_dim"], words, fix_emb=False, embs=None)
    model = Model(network, word_layer, char_layer, use_cuda=False)
    with torch.no_grad():
        for name, param in model.named_parameters():
            # Wide enough that gates saturate differently and the clips are reached.
            param.uniform_(-0.8, 0.8)
    torch.save(model.token_embedder.state_dict(), folder / "token_embedder.pkl")
    torch.save(model.encoder.state_dict(), folder / "encoder.pkl")


def reference_outputs(folder: Path) -> Dict[str, np.ndarray]:
    embedder = Embedder(str(folder), batch_size=64)
    # The package's encoder is stateful across calls; the first call after loading starts
    # from zeros, which is what is compared (spacy_elmo's state="zero").
    embedder.model.encoder.reset_states()
    layers = embedder.sents2elmo(SENTENCES, output_layer=-2)
    return {f"s{i}": np.asarray(x, dtype=np.float32) for i, x in enumerate(layers)}


def main(out: Path) -> None:
    for seed, (name, network) in enumerate(MODELS.items(), 1):
        folder = out / name
        make_model(folder, network, seed)
        np.savez(folder / "outputs.npz", **reference_outputs(folder))
    (out / "sentences.json").write_text(
        json.dumps(SENTENCES, ensure_ascii=False, indent=1), encoding="utf-8"
    )
    print(f"wrote {', '.join(MODELS)} under {out}")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures/manylangs"))
