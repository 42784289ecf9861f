"""Damaged, edited or hostile training-state folders: every file that unpacking reads is
listed in SHA256SUMS and verified, links out of the folder are refused, and every problem is
a coded error that names the file, with nothing written to the new run."""

import argparse
import hashlib
import io
import json
import shutil
from pathlib import Path

import pytest
import torch

from spacy_elmo.errors import ElmoInputError
from spacy_elmo.pretrain import config_from_dict, pretrain
from spacy_elmo.pretrain.state_folder import pack_state, unpack_state

from .conftest import make_corpus, tiny_config

ROOT = Path(__file__).resolve().parents[2]
COMMITTED = ROOT / "training-state" / "default-v4"


@pytest.fixture(scope="module")
def packed(tmp_path_factory) -> Path:
    """A real packed state (10 steps of the tiny model) in three or more shards."""
    base = tmp_path_factory.mktemp("packed")
    corpus = make_corpus(base / "train.txt", 300)
    pretrain(config_from_dict(tiny_config(corpus, max_steps=10)), base / "run", progress=False)
    pack_state(base / "run", base / "state", corpus_dir=base, max_file_mb=0.01)
    assert len(list((base / "state").glob("tensors-*.pt"))) >= 3
    return base / "state"


@pytest.fixture
def state(packed, tmp_path) -> Path:
    """A copy of the packed state to edit."""
    return Path(shutil.copytree(packed, tmp_path / "state"))


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _sums(folder: Path) -> dict:
    lines = (folder / "SHA256SUMS").read_text().splitlines()
    return {name: digest for digest, name in (line.split("  ", 1) for line in lines)}


def _write_sums(folder: Path, sums: dict) -> None:
    text = "".join(f"{digest}  {name}\n" for name, digest in sums.items())
    (folder / "SHA256SUMS").write_text(text)


def _relist(folder: Path, *names: str) -> None:
    """Record the current digest of ``names`` in SHA256SUMS, as a careless editor would."""
    sums = _sums(folder)
    sums.update({name: _digest(folder / name) for name in names})
    _write_sums(folder, sums)


def _edit_state_json(folder: Path, edit) -> None:
    skeleton = json.loads((folder / "state.json").read_text())
    edit(skeleton)
    (folder / "state.json").write_text(json.dumps(skeleton))
    _relist(folder, "state.json")


def _refused(folder: Path, run: Path, pattern: str) -> ElmoInputError:
    with pytest.raises(ElmoInputError, match=pattern) as info:
        unpack_state(folder, run)
    assert not (run / "checkpoints").exists() or not any((run / "checkpoints").iterdir())
    return info.value


def _tampered_shard(path: Path) -> None:
    """The same tensor names with other values: a well-formed shard that loads."""
    shard = torch.load(path, weights_only=True)
    buffer = io.BytesIO()
    torch.save({name: torch.full_like(t, 7) for name, t in shard.items()}, buffer)
    path.write_bytes(buffer.getvalue())


# --- files that unpacking reads must be listed and verified -------------------------------
def test_an_unlisted_tampered_shard_is_refused(state, tmp_path):
    _tampered_shard(state / "tensors-000.pt")
    sums = _sums(state)
    del sums["tensors-000.pt"]
    _write_sums(state, sums)
    _refused(state, tmp_path / "run", r"\[E322\].*state.json names \['tensors-000.pt'\].*not list")


def test_a_listed_shard_that_state_json_does_not_name_is_refused(state, tmp_path):
    _edit_state_json(state, lambda s: s["shards"].remove("tensors-001.pt"))
    _refused(state, tmp_path / "run", r"\[E322\].*SHA256SUMS lists \['tensors-001.pt'\]")


def test_a_shard_named_twice_is_refused(state, tmp_path):
    _edit_state_json(state, lambda s: s["shards"].append("tensors-000.pt"))
    _refused(state, tmp_path / "run", r"\[E322\].*names \['tensors-000.pt'\] more than once")


def test_a_shard_name_outside_the_folder_is_refused(state, tmp_path):
    """The old reader took ``Path(name).name`` of a shard name: '../x/tensors-000.pt' read
    the folder's own shard without a word. Now a name must be listed as it is written."""
    _edit_state_json(state, lambda s: s["shards"].__setitem__(0, "../x/tensors-000.pt"))
    _refused(state, tmp_path / "run", r"\[E322\].*'\.\./x/tensors-000.pt'.*does not list")


def test_state_json_must_be_listed(state, tmp_path):
    sums = _sums(state)
    del sums["state.json"]
    _write_sums(state, sums)
    _refused(state, tmp_path / "run", r"\[E326\].*does not list 'state.json'")


def test_a_tensor_that_no_shard_holds(state, tmp_path):
    """state.json and SHA256SUMS agree on the shards, but a shard was dropped from both."""
    (state / "tensors-002.pt").unlink()
    _edit_state_json(state, lambda s: s["shards"].remove("tensors-002.pt"))
    sums = _sums(state)
    del sums["tensors-002.pt"]
    _write_sums(state, sums)
    _refused(state, tmp_path / "run", r"\[E325\].*state.json.*refers to the tensor 't\d+'.*no")


# --- links ----------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["tensors-001.pt", "state.json", "SHA256SUMS"])
def test_a_link_out_of_the_folder_is_refused(state, tmp_path, name):
    """Same bytes, so the digest matches: the link alone is refused."""
    outside = tmp_path / "elsewhere" / name
    outside.parent.mkdir()
    shutil.move(state / name, outside)
    (state / name).symlink_to(outside)
    _refused(state, tmp_path / "run", rf"\[E320\].*{name}.*symbolic link.*outside")


def test_a_dangling_link_out_of_the_folder_is_refused(state, tmp_path):
    (state / "config.json").unlink()
    (state / "config.json").symlink_to("/nonexistent/config.json")
    _refused(state, tmp_path / "run", r"\[E320\].*config.json.*outside")


def test_a_link_inside_the_folder_is_followed(state, tmp_path):
    shutil.move(state / "config.json", state / "config-original.json")
    (state / "config.json").symlink_to("config-original.json")
    assert unpack_state(state, tmp_path / "run")["step"] == 10


# --- malformed files: coded errors, not ValueError / KeyError / torch tracebacks ----------
@pytest.mark.parametrize(
    "line, message",
    [
        ("not a sums line", r"line 1 \('not a sums line'\) is not"),
        ("abc123  state.json", r"line 1 .* is not"),
        ("a" * 64 + "  ../state.json", r"line 1 names '\.\./state.json'"),
        ("a" * 64 + "  .hidden", r"line 1 names '.hidden'"),
        ("a" * 64 + " state.json", r"line 1 .* is not"),
    ],
)
def test_a_malformed_sums_line(state, tmp_path, line, message):
    sums = (state / "SHA256SUMS").read_text()
    (state / "SHA256SUMS").write_text(line + "\n" + sums)
    _refused(state, tmp_path / "run", rf"\[E319\].*SHA256SUMS.*{message}.*pack the run again")


def test_a_name_listed_twice(state, tmp_path):
    sums = (state / "SHA256SUMS").read_text()
    (state / "SHA256SUMS").write_text(sums + sums.splitlines()[0] + "\n")
    _refused(state, tmp_path / "run", r"\[E319\].*lists 'tensors-000.pt' a second time")


def test_sums_that_are_not_text(state, tmp_path):
    (state / "SHA256SUMS").write_bytes(b"\xff\xfe" * 10)
    _refused(state, tmp_path / "run", r"\[E319\].*not UTF-8")


def test_sha256sum_binary_mode_lines_are_read(state, tmp_path):
    """``sha256sum -b`` writes ' *' before the name; such a file is read the same."""
    text = (state / "SHA256SUMS").read_text().replace("  ", " *")
    (state / "SHA256SUMS").write_text(text)
    assert unpack_state(state, tmp_path / "run")["step"] == 10


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda s: s.pop("shards"), r"no 'shards'"),
        (lambda s: s.pop("ranks"), r"no 'ranks'"),
        (lambda s: s.update(shards="tensors-000.pt"), r"'shards' is not a JSON list"),
        (lambda s: s.update(format=2), r"format 2; this version reads format 1"),
        (lambda s: s.update(ranks=[]), r"'ranks' is not a non-empty list"),
        (lambda s: s["shared"].update(step=-1), r"step -1"),
        (lambda s: s["ranks"].append({}), r"world_size 1 but 2 rank states"),
    ],
)
def test_a_malformed_state_json(state, tmp_path, edit, message):
    _edit_state_json(state, edit)
    _refused(state, tmp_path / "run", rf"\[E323\].*state.json.*{message}.*pack the run again")


def test_state_json_that_is_not_json(state, tmp_path):
    (state / "state.json").write_text('{"format": 1, "shards": [')
    _relist(state, "state.json")
    _refused(state, tmp_path / "run", r"\[E323\].*state.json.*not valid JSON")


def test_a_listed_shard_that_is_missing(state, tmp_path):
    (state / "tensors-001.pt").unlink()
    _refused(state, tmp_path / "run", r"\[E321\].*lists 'tensors-001.pt'.*the file is missing")


def test_a_listed_shard_that_is_a_folder(state, tmp_path):
    (state / "tensors-001.pt").unlink()
    (state / "tensors-001.pt").mkdir()
    _refused(state, tmp_path / "run", r"\[E321\].*'tensors-001.pt'.*not a regular file")


def test_a_truncated_shard_whose_digest_was_rewritten(state, tmp_path):
    shard = state / "tensors-001.pt"
    shard.write_bytes(shard.read_bytes()[: shard.stat().st_size // 2])
    _relist(state, "tensors-001.pt")
    _refused(state, tmp_path / "run", r"\[E324\].*tensors-001.pt.*cannot be read.*zip")


def test_a_shard_of_other_pickled_objects(state, tmp_path):
    buffer = io.BytesIO()
    torch.save({"t0": argparse.Namespace(x=1)}, buffer)
    (state / "tensors-000.pt").write_bytes(buffer.getvalue())
    _relist(state, "tensors-000.pt")
    error = _refused(state, tmp_path / "run", r"\[E314\].*tensors-000.pt.*Namespace")
    assert "weights_only` set to `False`" not in str(error)  # torch's advice is not passed on


def test_a_shard_that_is_not_a_dictionary_of_tensors(state, tmp_path):
    buffer = io.BytesIO()
    torch.save([torch.zeros(2)], buffer)
    (state / "tensors-000.pt").write_bytes(buffer.getvalue())
    _relist(state, "tensors-000.pt")
    _refused(state, tmp_path / "run", r"\[E324\].*tensors-000.pt.*dictionary of named tensors")


def test_a_flipped_byte_in_a_listed_shard(state, tmp_path):
    shard = state / "tensors-002.pt"
    data = bytearray(shard.read_bytes())
    data[len(data) // 2] ^= 0x01
    shard.write_bytes(bytes(data))
    _refused(state, tmp_path / "run", r"\[E318\].*tensors-002.pt.*SHA-256 mismatch")


def test_unlisted_extra_files_are_ignored(state, tmp_path):
    """A repository adds files of its own (README.md, .gitattributes); nothing reads them."""
    (state / "README.md").write_text("# a training state\n")
    (state / ".gitattributes").write_text("*.pt filter=lfs\n")
    assert unpack_state(state, tmp_path / "run")["step"] == 10


@pytest.mark.skipif(not COMMITTED.is_dir(), reason="the committed training state is not here")
def test_the_committed_training_state_unpacks(tmp_path):
    assert unpack_state(COMMITTED, tmp_path / "run")["step"] > 0
