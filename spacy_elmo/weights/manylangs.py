"""ELMoForManyLangs model folders -> :class:`ELMoBiLM` (docs/models.md, "ELMoForManyLangs").

A folder as distributed (HIT-SCIR, 44 languages; NLPL repository entries 136-179) holds:
``config.json`` (``{"config_path": ...}`` naming the network config), that network config
(``token_embedder`` and ``encoder`` sections), ``char.dic`` and ``word.dic`` (``symbol\\tid``
lines) and two PyTorch state dicts, ``token_embedder.pkl`` and ``encoder.pkl``.

The network is ELMo's: a char CNN (plus, with ``word_dim``, a word embedding concatenated
before the projection) and AllenNLP's LSTM with projection, cell and projection clipping and
skip connections from the second layer on; layer 0 is ``[token; token]``. The weights are
re-laid into this package's biLM: gate order i, f, g, o -> i, g, f, o with the stored forget
bias less the +1 the biLM adds at run time, ``[out, in]`` -> ``[in, out]``, and the highway
gate ``g`` (``y = g x + (1 - g) f(x)``) as the carry gate ``1 - g`` (its weights negated).

The ``.pkl`` files are opened with ``torch.load(weights_only=True)``: tensors only, never code
(E024), and every key and shape is checked before anything is built (E025).
"""

import json
import re
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Tuple, Union

import torch
from torch import Tensor

from ..errors import ElmoFormatError, Errors
from ..pytorch.bilm import ELMoBiLM
from ..pytorch.char_vocab import TokenVocabulary
from ..pytorch.config import CharCNNConfig, ELMoConfig, LSTMConfig, VocabularyConfig
from ..pytorch.device import require_device

CONFIG_NAME = "config.json"
STATE_FILES = ("token_embedder.pkl", "encoder.pkl")
#: Largest .pkl accepted (the published models' encoder.pkl is ~370 MB).
MAX_STATE_BYTES = 4 * 2**30
#: The network config every published model names, as the package bundles it
#: (elmoformanylangs/configs/cnn_50_100_512_4096_sample.json).
PUBLISHED_CONFIG_NAME = "cnn_50_100_512_4096_sample.json"
PUBLISHED_NETWORK: Dict[str, Any] = {
    "encoder": {
        "name": "elmo",
        "projection_dim": 512,
        "cell_clip": 3,
        "proj_clip": 3,
        "dim": 4096,
        "n_layers": 2,
    },
    "token_embedder": {
        "name": "cnn",
        "activation": "relu",
        "filters": [[1, 32], [2, 32], [3, 64], [4, 128], [5, 256], [6, 512], [7, 1024]],
        "n_highway": 2,
        "word_dim": 100,
        "char_dim": 50,
        "max_characters_per_token": 50,
    },
    "classifier": {"name": "sampled_softmax", "n_samples": 8192},
    "dropout": 0.1,
}
#: Largest dictionary read (the largest published word.dic is a few MB).
MAX_DICT_BYTES = 256 * 2**20


def is_manylangs_folder(path: Union[str, Path]) -> bool:
    """Whether ``path`` is a folder laid out as an ELMoForManyLangs model."""
    folder = Path(path)
    return (
        folder.is_dir() and (folder / CONFIG_NAME).is_file() and (folder / "encoder.pkl").exists()
    )


def load_manylangs(
    folder: Union[str, Path], *, device: Union[str, torch.device] = "cpu"
) -> ELMoBiLM:
    """The biLM of an ELMoForManyLangs model folder, frozen and in eval mode."""
    folder = Path(folder)
    network, network_path = read_network_config(folder)
    chars = read_dictionary(_required(folder, "char.dic", "character dictionary"))
    words = None
    if int(network["token_embedder"].get("word_dim", 0) or 0) > 0:
        words = read_dictionary(_required(folder, "word.dic", "word dictionary"))
    config = manylangs_config(
        network, n_chars=len(chars), n_words=len(words or ()), path=network_path
    )
    max_chars = config.char_cnn.max_characters_per_token
    vocabulary = TokenVocabulary(chars=chars, words=words, max_chars=max_chars)  # E021
    states = {name: read_state(_required(folder, name, name)) for name in STATE_FILES}
    check_states(config, states, folder=folder, config_path=network_path)
    _check_ids(chars, folder / "char.dic", rows=len(chars))
    if words is not None:
        _check_ids(words, folder / "word.dic", rows=len(words))
    bilm = ELMoBiLM(config)
    with torch.no_grad():
        _copy_token_embedder(bilm, states["token_embedder.pkl"], config)
        _copy_encoder(bilm, states["encoder.pkl"], config)
    bilm.set_vocabulary(vocabulary)
    return bilm.to(require_device(device)).requires_grad_(False).eval()


# --- configs --------------------------------------------------------------------------------
def read_network_config(folder: Path) -> Tuple[Dict[str, Any], Path]:
    """The network config that ``config.json`` names, found as the package finds it: the path
    as given (relative to the folder), else its file name inside the folder."""
    top_path = _required(folder, CONFIG_NAME, "config.json")
    top = _read_json(top_path)
    config_path = top.get("config_path")
    if not isinstance(config_path, str) or not config_path:
        raise ElmoFormatError(Errors.E027.format(path=top_path, error="no 'config_path' string"))
    candidates = [folder / config_path, folder / Path(config_path.replace("\\", "/")).name]
    found = next((p for p in candidates if p.is_file()), None)
    if found is None and candidates[-1].name == PUBLISHED_CONFIG_NAME:
        # Some published archives lack the file; the package then uses its bundled copy,
        # whose values these are.
        return json.loads(json.dumps(PUBLISHED_NETWORK)), candidates[-1]
    if found is None:
        raise ElmoFormatError(
            Errors.E020.format(folder=folder, what="network config", path=candidates[-1])
        )
    network = _read_json(found)
    for section in ("token_embedder", "encoder"):
        if not isinstance(network.get(section), dict):
            raise ElmoFormatError(Errors.E027.format(path=found, error=f"no '{section}' object"))
    return network, found


def manylangs_config(
    network: Mapping[str, Any], *, n_chars: int, n_words: int, path: Path
) -> ELMoConfig:
    """The :class:`ELMoConfig` of a network config (E026 for layouts this package does not
    run, E110-style checks of every value by :meth:`ELMoConfig.validate`)."""
    emb, enc = network["token_embedder"], network["encoder"]
    for key, value, allowed in (
        ("token_embedder.name", str(emb.get("name", "")).lower(), "cnn"),
        ("encoder.name", str(enc.get("name", "")).lower(), "elmo"),
    ):
        if value != allowed:
            expected = f"{allowed!r} only"
            raise ElmoFormatError(
                Errors.E026.format(path=path, key=key, value=value, expected=expected)
            )
    if not int(emb.get("char_dim", 0) or 0) > 0:
        raise ElmoFormatError(
            Errors.E026.format(
                path=path,
                key="token_embedder.char_dim",
                value=emb.get("char_dim"),
                expected="a character CNN (char_dim > 0)",
            )
        )
    word_dim = int(emb.get("word_dim", 0) or 0)
    try:
        return ELMoConfig(
            char_cnn=CharCNNConfig(
                embedding_dim=emb["char_dim"],
                filters=tuple(tuple(f) for f in emb["filters"]),
                n_highway=emb["n_highway"],
                activation=emb["activation"],
                n_characters=n_chars + 1,
                max_characters_per_token=emb["max_characters_per_token"],
            ),
            lstm=LSTMConfig(
                dim=enc["dim"],
                projection_dim=enc["projection_dim"],
                n_layers=enc["n_layers"],
                # The package clips only where the value is truthy: 0 means no clip.
                cell_clip=enc.get("cell_clip") or None,
                proj_clip=enc.get("proj_clip") or None,
                use_skip_connections=True,
            ),
            vocabulary=VocabularyConfig(n_words=n_words if word_dim else 0, word_dim=word_dim),
        )
    except (KeyError, TypeError) as e:
        raise ElmoFormatError(Errors.E027.format(path=path, error=f"missing or bad {e}")) from None


# --- dictionaries and state dicts ----------------------------------------------------------
def read_dictionary(path: Path) -> Dict[str, int]:
    """``symbol\\tid`` lines as the package reads them: each line stripped of surrounding
    white space, and a line left with the id alone stands for U+3000 (the ideographic space,
    which ``strip`` removed)."""
    if path.stat().st_size > MAX_DICT_BYTES:
        raise ElmoFormatError(
            Errors.E023.format(path=path, line=0, problem=f"larger than {MAX_DICT_BYTES} bytes")
        )
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as e:
        raise ElmoFormatError(Errors.E023.format(path=path, line=0, problem=f"not UTF-8: {e}"))
    table: Dict[str, int] = {}
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue  # a trailing blank line carries no entry
        parts = line.strip().split("\t")
        if len(parts) == 1:
            parts.insert(0, "\u3000")
        if len(parts) != 2 or not parts[1].isdigit():
            raise ElmoFormatError(
                Errors.E023.format(path=path, line=number, problem=f"{line!r} is not symbol\\tid")
            )
        table[parts[0]] = int(parts[1])
    return table


def _check_ids(table: Mapping[str, int], path: Path, *, rows: int) -> None:
    bad = next(((s, i) for s, i in table.items() if i >= rows), None)
    if bad is not None:
        problem = f"id {bad[1]} of {bad[0]!r} is not below the {rows} embedding rows"
        raise ElmoFormatError(Errors.E023.format(path=path, line="?", problem=problem))


def read_state(path: Path) -> Dict[str, Tensor]:
    """A state dict of tensors only (E024 for anything else)."""
    if path.stat().st_size > MAX_STATE_BYTES:
        raise ElmoFormatError(
            Errors.E024.format(path=path, error=f"larger than {MAX_STATE_BYTES} bytes")
        )
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - the unpickler raises many types; all mean "refused"
        raise ElmoFormatError(Errors.E024.format(path=path, error=_short(e))) from None
    if not isinstance(state, dict) or not all(
        isinstance(k, str) and isinstance(v, Tensor) for k, v in state.items()
    ):
        raise ElmoFormatError(Errors.E024.format(path=path, error="not a dict of named tensors"))
    return state


def expected_state_shapes(config: ELMoConfig) -> Dict[str, Dict[str, Tuple[int, ...]]]:
    """Every key of both state dicts and its shape, for ``config``."""
    c, l, v = config.char_cnn, config.lstm, config.vocabulary
    assert v is not None
    F, P, D = c.n_filters, l.projection_dim, l.dim
    emb: Dict[str, Tuple[int, ...]] = {
        "char_emb_layer.embedding.weight": (c.n_characters - 1, c.embedding_dim)
    }
    if v.has_words:
        emb["word_emb_layer.embedding.weight"] = (v.n_words, v.word_dim)
    for i, (w, n) in enumerate(c.filters):
        emb[f"convolutions.{i}.weight"] = (n, c.embedding_dim, w)
        emb[f"convolutions.{i}.bias"] = (n,)
    for k in range(c.n_highway):
        emb[f"highways._layers.{k}.weight"] = (2 * F, F)
        emb[f"highways._layers.{k}.bias"] = (2 * F,)
    emb["projection.weight"] = (P, v.word_dim + F)
    emb["projection.bias"] = (P,)
    enc: Dict[str, Tuple[int, ...]] = {}
    for direction in ("forward", "backward"):
        for layer in range(l.n_layers):
            pre = f"{direction}_layer_{layer}"
            enc[f"{pre}.input_linearity.weight"] = (4 * D, P)
            enc[f"{pre}.state_linearity.weight"] = (4 * D, P)
            enc[f"{pre}.state_linearity.bias"] = (4 * D,)
            enc[f"{pre}.state_projection.weight"] = (P, D)
    return {"token_embedder.pkl": emb, "encoder.pkl": enc}


def check_states(
    config: ELMoConfig,
    states: Mapping[str, Mapping[str, Tensor]],
    *,
    folder: Path,
    config_path: Path,
) -> None:
    """E025 for a missing, extra, misshapen or non-finite tensor."""
    for name, shapes in expected_state_shapes(config).items():
        state = states[name]
        problems: List[str] = []
        missing = sorted(set(shapes) - set(state))
        extra = sorted(set(state) - set(shapes))
        if missing:
            problems.append(f"missing {missing}")
        if extra:
            problems.append(f"unexpected {extra}")
        for key in sorted(set(shapes) & set(state)):
            tensor = state[key]
            if tuple(tensor.shape) != shapes[key]:
                problems.append(f"{key} has shape {tuple(tensor.shape)}, expected {shapes[key]}")
            elif not tensor.is_floating_point() or not bool(torch.isfinite(tensor).all()):
                problems.append(f"{key} is not all finite floating-point numbers")
        if problems:
            raise ElmoFormatError(
                Errors.E025.format(
                    path=folder / name, problem="; ".join(problems), config=config_path
                )
            )


# --- copying into the biLM -----------------------------------------------------------------
def _copy_token_embedder(bilm: ELMoBiLM, state: Mapping[str, Tensor], config: ELMoConfig) -> None:
    cnn, F = bilm.char_cnn, config.char_cnn.n_filters
    v = config.vocabulary
    assert v is not None
    cnn.char_embed[0].zero_()
    cnn.char_embed[1:].copy_(state["char_emb_layer.embedding.weight"])
    for i, conv in enumerate(cnn.conv_layers):
        conv.weight.copy_(state[f"convolutions.{i}.weight"])  # both (n, e, w)
        assert conv.bias is not None
        conv.bias.copy_(state[f"convolutions.{i}.bias"])
    for k in range(config.char_cnn.n_highway):
        w, b = state[f"highways._layers.{k}.weight"], state[f"highways._layers.{k}.bias"]
        # Rows [0, F): the non-linear part; rows [F, 2F): the gate g on the input, which is
        # the carry gate 1 - g of this package's highway: sigmoid(-z) = 1 - sigmoid(z).
        cnn.highway.weight[k].copy_(torch.cat([w[:F].T, -w[F:].T], dim=1))
        cnn.highway.bias[k].copy_(torch.cat([b[:F], -b[F:]]))
    proj = state["projection.weight"]  # (P, word_dim + F): [word; chars]
    cnn.proj_weight.copy_(proj[:, v.word_dim :].T)
    cnn.proj_bias.copy_(state["projection.bias"])
    if bilm.word_embedding is not None:
        bilm.word_embedding.embed[0].zero_()
        bilm.word_embedding.embed[1:].copy_(state["word_emb_layer.embedding.weight"])
        bilm.word_embedding.proj.copy_(proj[:, : v.word_dim].T)


def _tf_gate_order(x: Tensor) -> Tensor:
    """AllenNLP's gate blocks (i, f, g, o) along dim 0 -> this package's (i, g, f, o)."""
    i, f, g, o = x.chunk(4, dim=0)
    return torch.cat([i, g, f, o], dim=0)


def _copy_encoder(bilm: ELMoBiLM, state: Mapping[str, Tensor], config: ELMoConfig) -> None:
    lstm = bilm.lstm
    for d, direction in enumerate(("forward", "backward")):
        for layer in range(config.lstm.n_layers):
            pre = f"{direction}_layer_{layer}"
            lstm.input_weight[layer][d].copy_(
                _tf_gate_order(state[f"{pre}.input_linearity.weight"]).T
            )
            lstm.recurrent_weight[layer][d].copy_(
                _tf_gate_order(state[f"{pre}.state_linearity.weight"]).T
            )
            bias = _tf_gate_order(state[f"{pre}.state_linearity.bias"])
            lstm.bias[layer][d].copy_(bias - lstm.forget_bias)  # the biLM adds it back
            lstm.proj_weight[layer][d].copy_(state[f"{pre}.state_projection.weight"].T)


# --- helpers ------------------------------------------------------------------------------
def _short(error: Exception) -> str:
    """torch's refusal in one line: it spans a screen, with terminal colour codes."""
    lines = [re.sub(r"\x1b\[[0-9;]*m", "", line).strip() for line in str(error).splitlines()]
    lines = [line for line in lines if line]
    detail = next((line for line in lines if "Unsupported global" in line), None)
    head = detail or (lines[0] if lines else "")
    return f"{type(error).__name__}: {head[:300]}"


def _required(folder: Path, name: str, what: str) -> Path:
    path = folder / name
    if not path.is_file():
        raise ElmoFormatError(Errors.E020.format(folder=folder, what=what, path=path))
    return path


def _read_json(path: Path) -> Dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as e:
        raise ElmoFormatError(Errors.E027.format(path=path, error=e)) from None
    if not isinstance(data, dict):
        raise ElmoFormatError(Errors.E027.format(path=path, error="not a JSON object"))
    return data


def model_folder_of(options: Union[str, Path]) -> Optional[Path]:
    """The model folder when ``options`` is (the config.json of) an ELMoForManyLangs model."""
    path = Path(options)
    folder = path if path.is_dir() else path.parent
    if path.is_file() and path.name != CONFIG_NAME:
        return None
    return folder if is_manylangs_folder(folder) else None


__all__ = [
    "expected_state_shapes",
    "is_manylangs_folder",
    "load_manylangs",
    "manylangs_config",
    "model_folder_of",
    "read_dictionary",
    "read_network_config",
    "read_state",
]
