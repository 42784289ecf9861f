import filecmp
import json
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import time

import numpy as np
import pytest
import spacy
from thinc.api import get_ops

from spacy_elmo.models.owner import BiLMOwner
from spacy_elmo.models.shim import ElmoShim
from spacy_elmo.settings import BiLMSettings

from ..spacy_fixtures import TINY

TEXTS = ["Serialization keeps every bit .", "A second , slightly longer text about ELMo vectors ."]


def test_to_disk_copies_files_and_round_trips(make_nlp, tmp_path):
    # biLM files in a temporary place that disappears before loading
    src = tmp_path / "orig"
    src.mkdir()
    for name in ("options.json", "weights.hdf5"):
        shutil.copyfile(TINY / name, src / name)
    nlp = make_nlp(
        options_file=str(src / "options.json"),
        weight_file=str(src / "weights.hdf5"),
        store_layers=True,
    )
    before = [nlp(t)._.elmo_layers for t in TEXTS]
    nlp.to_disk(tmp_path / "pipeline")
    shutil.rmtree(src)
    saved = tmp_path / "pipeline" / "elmo" / "model"
    assert (saved / "weights.hdf5").read_bytes() == (TINY / "weights.hdf5").read_bytes()
    assert (saved / "options.json").read_bytes() == (TINY / "options.json").read_bytes()
    loaded = spacy.load(tmp_path / "pipeline")
    for text, ref in zip(TEXTS, before):
        assert np.array_equal(loaded(text)._.elmo_layers, ref)
    # saving a loaded pipeline again (also onto itself) keeps working
    loaded.to_disk(tmp_path / "pipeline")
    loaded.to_disk(tmp_path / "again")
    again = spacy.load(tmp_path / "again")
    assert np.array_equal(again(TEXTS[0])._.elmo_layers, before[0])


def test_to_bytes_round_trip(make_nlp, tiny_paths):
    nlp = make_nlp(scalar_mix=[0.5, -1.0, 2.0])
    ref = nlp(TEXTS[1])._.elmo
    data = nlp.to_bytes()
    other = spacy.blank("en")
    other.add_pipe("elmo", config={"scalar_mix": [0.5, -1.0, 2.0]})  # default model files
    other.from_bytes(data)
    assert np.array_equal(other(TEXTS[1])._.elmo, ref)
    # same file content: the restored pipeline shares the loaded biLM instead of a second copy
    assert other.get_pipe("elmo").embedder is nlp.get_pipe("elmo").embedder
    # the component's own bytes carry the files, and to_disk from them works
    comp_bytes = nlp.get_pipe("elmo").to_bytes()
    assert len(comp_bytes) > (TINY / "weights.hdf5").stat().st_size


def test_spacy_package_declares_requirement(make_nlp, tmp_path):
    nlp = make_nlp()
    nlp.to_disk(tmp_path / "pipeline")
    out = tmp_path / "packages"
    out.mkdir()
    cmd = [
        sys.executable,
        "-m",
        "spacy",
        "package",
        str(tmp_path / "pipeline"),
        str(out),
        "--name",
        "elmo_test",
        "--version",
        "0.0.1",
    ]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stdout + result.stderr
    meta = json.loads((out / "en_elmo_test-0.0.1" / "meta.json").read_text())
    assert any(r.startswith("spacy-elmo") for r in meta["requirements"])
    with tarfile.open(out / "en_elmo_test-0.0.1" / "dist" / "en_elmo_test-0.0.1.tar.gz") as tar:
        names = tar.getnames()
    assert any(n.endswith("elmo/model/weights.hdf5") for n in names)


def _pipeline_bytes_with_elmo(nlp, elmo_bytes):
    """``nlp.to_bytes()`` with the elmo component's entry replaced."""
    import srsly

    msg = srsly.msgpack_loads(nlp.to_bytes())
    msg["elmo"] = elmo_bytes
    return srsly.msgpack_dumps(msg)


def _damaged_elmo_bytes(good):
    import srsly

    files = srsly.msgpack_loads(good)["files"]
    return {
        "garbage": (b"\xc1\x00 not msgpack", r"\[E215\].*not valid msgpack \(FormatError"),
        "truncated": (good[: len(good) // 2], r"\[E215\].*not valid msgpack.*incomplete"),
        "empty": (b"", r"\[E215\].*not valid msgpack"),
        "a list": (srsly.msgpack_dumps([1, 2]), r"\[E215\].*holds list, not a dict"),
        "no files": (srsly.msgpack_dumps({"cfg": {}}), r"\[E215\].*'files' holds nothing"),
        "no cfg": (srsly.msgpack_dumps({"files": files}), r"\[E215\].*'cfg' holds nothing"),
        "cfg a list": (
            srsly.msgpack_dumps({"cfg": [1], "files": files}),
            r"\[E215\].*'cfg' holds list, not dict",
        ),
        "text, not bytes": (
            srsly.msgpack_dumps({"cfg": {}, "files": {**files, "options.json": "{}"}}),
            r"\[E215\].*'options.json' holds str, not bytes",
        ),
        "a third file": (
            srsly.msgpack_dumps({"cfg": {}, "files": {**files, "../x": b""}}),
            r"\[E213\]",
        ),
        "broken options.json": (
            srsly.msgpack_dumps({"cfg": {}, "files": {**files, "options.json": b"{"}}),
            r"\[E216\].*\[E005\] 'options.json' is not valid JSON",
        ),
        "broken weights.hdf5": (
            srsly.msgpack_dumps({"cfg": {}, "files": {**files, "weights.hdf5": b"\x89HDF"}}),
            r"\[E216\].*weights.hdf5",
        ),
    }


def test_from_bytes_refuses_data_it_did_not_write(make_nlp):
    from spacy_elmo.errors import ElmoFormatError

    nlp = make_nlp()
    good = nlp.get_pipe("elmo").to_bytes()
    for label, (bad, message) in _damaged_elmo_bytes(good).items():
        other = spacy.blank("en")
        other.add_pipe("elmo")
        with pytest.raises(ElmoFormatError, match=message):
            other.from_bytes(_pipeline_bytes_with_elmo(nlp, bad))
    restored = spacy.blank("en")
    restored.add_pipe("elmo")
    restored.from_bytes(_pipeline_bytes_with_elmo(nlp, good))  # the real data still loads
    assert np.array_equal(restored(TEXTS[0])._.elmo, nlp(TEXTS[0])._.elmo)


def test_layers_model_from_bytes_refuses_damaged_data(make_nlp):
    import srsly

    from spacy_elmo.models.layers import get_shim

    shim = get_shim(make_nlp().get_pipe("elmo").model)
    files = srsly.msgpack_loads(shim.to_bytes())["files"]
    cases = {
        b"\xc1": r"\[E215\].*an ElmoLayers model.*not valid msgpack",
        srsly.msgpack_dumps({"settings": 5, "files": files}): r"'settings' holds int",
        srsly.msgpack_dumps({"settings": {"window": "8"}, "files": files}): r"\[E110\].*window",
    }
    for data, message in cases.items():
        with pytest.raises(ValueError, match=message):  # E215 or the settings' own code
            shim.from_bytes(data)


def _plant_links(saved, outside):
    """Links in a saved pipeline folder to files (and a folder) outside it."""
    targets = {}
    for rel in ("elmo/model/weights.hdf5", "elmo/model/options.json", "elmo/cfg"):
        target = outside / rel.replace("/", "_")
        target.write_bytes(b"outside, not to be changed")
        (saved / rel).unlink()
        (saved / rel).symlink_to(target)
        targets[rel] = target
    return targets


def test_to_disk_replaces_links_and_never_writes_through_them(make_nlp, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    nlp = make_nlp()
    from_bytes = spacy.blank("en")  # its biLM files are bytes in memory, not paths
    from_bytes.add_pipe("elmo")
    from_bytes.from_bytes(nlp.to_bytes())
    for label, pipeline in (("from paths", nlp), ("from bytes", from_bytes)):
        saved = tmp_path / label
        pipeline.to_disk(saved)
        cfg = (saved / "elmo" / "cfg").read_bytes()
        targets = _plant_links(saved, outside)
        pipeline.to_disk(saved)
        for rel, target in targets.items():
            assert target.read_bytes() == b"outside, not to be changed"
            assert not (saved / rel).is_symlink()
        model = saved / "elmo" / "model"
        assert (model / "weights.hdf5").read_bytes() == (TINY / "weights.hdf5").read_bytes()
        assert (model / "options.json").read_bytes() == (TINY / "options.json").read_bytes()
        assert (saved / "elmo" / "cfg").read_bytes() == cfg
        # a link in place of the model folder: replaced by a folder, nothing written outside
        shutil.rmtree(model)
        model.symlink_to(outside, target_is_directory=True)
        pipeline.to_disk(saved)
        assert not model.is_symlink() and (model / "weights.hdf5").is_file()
        assert sorted(p.name for p in outside.iterdir()) == sorted(t.name for t in targets.values())
        loaded = spacy.load(saved)
        assert np.array_equal(loaded(TEXTS[0])._.elmo, nlp(TEXTS[0])._.elmo)


WRITE_FILES = """
import sys
from pathlib import Path
from thinc.api import get_ops
from spacy_elmo.models.owner import BiLMOwner
from spacy_elmo.models.shim import ElmoShim
from spacy_elmo.settings import BiLMSettings

options, weights, dest = sys.argv[1:]
settings = BiLMSettings(options_file=options, weight_file=weights)
ElmoShim(BiLMOwner(settings, get_ops("numpy"))).write_files(Path(dest))
"""


def test_to_disk_killed_mid_write_leaves_the_old_file(tmp_path):
    """A real process killed while it copies a large weights file: the destination holds the
    old file, whole; a second run gives the new one."""
    big = tmp_path / "big.hdf5"
    block = np.random.default_rng(0).bytes(1 << 20)
    with big.open("wb") as f:  # 64 MB: the copy (and its fsync) lasts long enough to be caught
        for _ in range(64):
            f.write(block)
    dest = tmp_path / "dest"
    dest.mkdir()
    old = b"the weights of an earlier save"
    (dest / "weights.hdf5").write_bytes(old)
    args = [sys.executable, "-c", WRITE_FILES, str(TINY / "options.json"), str(big), str(dest)]
    child = subprocess.Popen(args)
    try:
        while child.poll() is None:  # until the new weights are being written
            names = os.listdir(dest)
            if any(n.startswith(".weights.hdf5.") for n in names):
                break
            if (dest / "weights.hdf5").stat().st_size != len(old):
                break
            time.sleep(0.0005)
        child.send_signal(signal.SIGKILL)
        child.wait()
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode == -signal.SIGKILL, "the copy ended before it could be killed"
    assert (dest / "weights.hdf5").read_bytes() == old
    settings = BiLMSettings(options_file=str(TINY / "options.json"), weight_file=str(big))
    ElmoShim(BiLMOwner(settings, get_ops("numpy"))).write_files(
        dest
    )  # the same write, not cut short
    assert filecmp.cmp(dest / "weights.hdf5", big, shallow=False)
