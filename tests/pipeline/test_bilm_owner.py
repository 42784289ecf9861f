"""Where the ``elmo`` component's biLM comes from and when it is loaded: files attached by the
``bilm_loader`` and loaded at ``nlp.initialize()``, problems reported there rather than at the
first doc, bytes read in memory (no temporary files), and the bounded digest memo."""

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest
import spacy
import srsly

from spacy_elmo.errors import ElmoFormatError
from spacy_elmo.models.layers import get_bilm
from spacy_elmo.models.source import BiLMSource
from spacy_elmo.shared import DIGEST_MEMO_SIZE, digest_memo_size, file_digest

from ..spacy_fixtures import TINY

LOADER = "spacy-elmo.BiLMFiles.v1"


def _copy_tiny(folder):
    folder.mkdir(exist_ok=True)
    for name in ("options.json", "weights.hdf5"):
        shutil.copyfile(TINY / name, folder / name)
    return folder / "options.json", folder / "weights.hdf5"


def _with_loader(options_file, weight_file):
    """A blank pipeline whose ``elmo`` gets its files from the bilm_loader at initialize."""
    nlp = spacy.blank("en")
    nlp.add_pipe("elmo")
    loader = {"@model_loaders": LOADER, "options_file": str(options_file)}
    loader["weight_file"] = str(weight_file)
    nlp.config["initialize"]["components"]["elmo"] = {"bilm_loader": loader}
    return nlp


def test_missing_weights_file_is_reported_by_initialize(tmp_path):
    options, weights = _copy_tiny(tmp_path)
    weights.unlink()
    nlp = spacy.blank("en")
    nlp.add_pipe(
        "elmo", config={"model": {"options_file": str(options), "weight_file": str(weights)}}
    )
    assert not get_bilm(nlp.get_pipe("elmo").model).loaded  # building loads nothing
    with pytest.raises(ElmoFormatError, match=r"\[E001\] The weights file .*weights.hdf5"):
        nlp.initialize()


def test_missing_file_of_the_loader_is_reported_by_initialize(tmp_path):
    options, weights = _copy_tiny(tmp_path)
    nlp = _with_loader(options, tmp_path / "elsewhere" / "weights.hdf5")
    with pytest.raises(ElmoFormatError, match=r"\[E001\] The weights file .*elsewhere"):
        nlp.initialize()


def test_bilm_loader_attaches_files_and_initialize_loads_them(tmp_path):
    options, weights = _copy_tiny(tmp_path / "files")
    nlp = _with_loader(options, weights)
    bilm = get_bilm(nlp.get_pipe("elmo").model)
    assert bilm.attached is None and not bilm.loaded  # nothing before initialize
    nlp.initialize()
    assert bilm.attached is not None and bilm.loaded  # attached and loaded by initialize
    assert bilm.attached.paths == {"options.json": options, "weights.hdf5": weights}
    shutil.rmtree(tmp_path / "files")  # loaded already: the files are no longer needed
    assert nlp("Loaded at initialize .")._.elmo.shape == (4, 32)


def test_without_initialize_the_biLM_loads_on_the_first_doc(make_nlp):
    nlp = make_nlp()
    bilm = get_bilm(nlp.get_pipe("elmo").model)
    assert not bilm.loaded
    assert nlp("No initialize here .")._.elmo.shape == (4, 32)
    assert bilm.loaded


RECORD_WRITES = """
import os, sys
import spacy, srsly

data = open(sys.argv[1], "rb").read()
nlp = spacy.blank("en")
elmo = nlp.add_pipe("elmo")
writes = []

def hook(event, args):
    if event == "open" and args[0] is not None:
        mode, flags = args[1] or "", args[2] or 0
        if any(c in mode for c in "wax+") or flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT):
            writes.append(str(args[0]))
    elif event in ("os.mkdir", "os.rename", "os.remove", "shutil.rmtree", "tempfile.mkdtemp"):
        writes.append(f"{event} {args[0]}")

sys.addaudithook(hook)
elmo.from_bytes(data)
print(repr(writes))
print(elmo.embedder.output_dim)
"""


def test_from_bytes_writes_no_file(make_nlp, tmp_path):
    """Python's audit events of a real process: restoring the biLM from bytes opens no file
    for writing and makes, renames or removes nothing (no temporary folder)."""
    data = tmp_path / "elmo.bin"
    data.write_bytes(make_nlp().get_pipe("elmo").to_bytes())
    result = subprocess.run(
        [sys.executable, "-c", RECORD_WRITES, str(data)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    writes, width = result.stdout.strip().splitlines()[-2:]
    assert writes == "[]"
    assert width == "32"


def test_from_bytes_equals_from_disk_and_shares_their_biLM(make_nlp, tmp_path):
    nlp = make_nlp(state="zero")
    nlp.to_disk(tmp_path / "p")
    from_disk = spacy.load(tmp_path / "p")
    from_bytes = make_nlp(state="zero")
    from_bytes.get_pipe("elmo").from_bytes(nlp.get_pipe("elmo").to_bytes())
    source = get_bilm(from_bytes.get_pipe("elmo").model).attached
    assert source is not None and source.paths is None  # held in memory
    assert from_bytes.get_pipe("elmo").embedder is from_disk.get_pipe("elmo").embedder
    text = "The same vectors from bytes and from disk ."
    assert np.array_equal(from_bytes(text)._.elmo, from_disk(text)._.elmo)


def test_source_digest_is_the_content(tmp_path):
    options, weights = _copy_tiny(tmp_path)
    from_paths = BiLMSource.from_paths(options, weights)
    data = {"options.json": options.read_bytes(), "weights.hdf5": weights.read_bytes()}
    from_bytes = BiLMSource.from_bytes(data)
    assert from_paths.digest == from_bytes.digest
    changed = json.loads(options.read_text())
    changed["lstm"]["cell_clip"] = 2.5
    other = dict(data, **{"options.json": json.dumps(changed).encode()})
    assert BiLMSource.from_bytes(other).digest != from_paths.digest
    assert "in memory" in repr(from_bytes) and len(repr(from_bytes)) < 100


def test_digest_memo_is_bounded(tmp_path):
    digests = set()
    for i in range(DIGEST_MEMO_SIZE + 16):
        path = tmp_path / f"f{i}"
        path.write_bytes(f"file {i}".encode())
        digests.add(file_digest(path))
        assert digest_memo_size() <= DIGEST_MEMO_SIZE
    assert len(digests) == DIGEST_MEMO_SIZE + 16
    assert digest_memo_size() == DIGEST_MEMO_SIZE
    # a file written again (other size) is hashed again, not served from the memo
    first = tmp_path / "f0"
    before = file_digest(first)
    first.write_bytes(b"new content, longer than before")
    assert file_digest(first) != before


@pytest.mark.parametrize(
    "damage, code",
    [
        (lambda files: {**files, "weights.hdf5": files["weights.hdf5"][:4096]}, "E216"),
        (lambda files: {"options.json": files["options.json"]}, "E213"),
        (lambda files: {**files, "weights.hdf5": "not bytes"}, "E215"),
    ],
)
def test_from_bytes_coded_errors_in_memory(make_nlp, damage, code):
    elmo = make_nlp().get_pipe("elmo")
    msg = srsly.msgpack_loads(elmo.to_bytes())
    msg["files"] = damage(msg["files"])
    other = make_nlp().get_pipe("elmo")
    with pytest.raises(ValueError, match=rf"\[{code}\]") as error:
        other.from_bytes(srsly.msgpack_dumps(msg))
    assert "/tmp" not in str(error.value)  # no temporary folder in the message


def test_reduced_precision_from_bytes_is_loaded_lean_as_from_paths():
    """In memory, a bfloat16 biLM is loaded as from paths (its LSTM weights held only in
    bfloat16), so both give the same vectors. Loaded apart, not through the shared biLMs."""
    paths = BiLMSource.from_paths(TINY / "options.json", TINY / "weights.hdf5")
    in_memory = BiLMSource.from_bytes(paths.file_bytes())
    run = {"state": "zero", "device": "cpu", "precision": "bfloat16"}
    ours, theirs = in_memory.load(**run), paths.load(**run)
    assert ours is not theirs and ours.bilm is not theirs.bilm
    assert ours.bilm.lstm.lean_dtype is not None
    assert ours.bilm.lstm.lean_dtype == theirs.bilm.lstm.lean_dtype
    batch = [["Reduced", "precision", "from", "bytes", "."], ["Two", "rows"]]
    for a, b in zip(ours.embed_batch(batch), theirs.embed_batch(batch)):
        assert np.array_equal(a, b)
