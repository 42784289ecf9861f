import json
import shutil
import subprocess
import sys
import tarfile

import numpy as np
import spacy

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
