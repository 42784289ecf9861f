"""Careless or hostile model files: refused with coded errors before anything big is built,
never followed outside the file, never read silently wrong."""

import json
import os
import shutil
import subprocess
import sys
import textwrap

import h5py
import numpy as np
import pytest

from spacy_elmo.errors import ElmoFormatError
from spacy_elmo.weights import (
    check_weights,
    config_from_dict,
    load_bilm,
    load_options,
    save_weights,
)

from ..conftest import NOSKIP, SKIP
from .conftest import edit_options

ASSETS = SKIP.parents[2] / "spacy_elmo" / "assets"


# --- size limits before allocation ---------------------------------------------------------
@pytest.mark.parametrize(
    "edit",
    [
        lambda o: o["lstm"].update(dim=10**9),
        lambda o: o["lstm"].update(n_layers=10**9),
        lambda o: o["char_cnn"].update(n_highway=10**9),
        lambda o: o["char_cnn"]["embedding"].update(dim=10**9),
    ],
)
def test_huge_options_are_refused_before_building(copied, edit):
    opt, w = copied
    edit_options(opt, edit)
    with pytest.raises(ElmoFormatError, match=r"\[E018\].*parameters"):
        load_bilm(opt, w)


def test_many_layers_are_checked_against_the_file_first(copied):
    """100,000 layers are within the size bound here (7.6 GB), so the file decides: its
    third layer is missing (E003), found before any layer is built."""
    opt, w = copied
    edit_options(opt, lambda o: o["lstm"].update(n_layers=100_000))
    with pytest.raises(ElmoFormatError, match=r"\[E003\].*Cell2"):
        load_bilm(opt, w)


def test_mismatched_options_allocate_nothing(copied):
    """dim 10**6 is within bounds (2.4 GB of float32 here) but does not match the file:
    E004 must come from the file's shapes, without building the model first."""
    opt, w = copied
    edit_options(opt, lambda o: o["lstm"].update(dim=10**6))
    script = textwrap.dedent("""
        import resource, sys
        from spacy_elmo.errors import ElmoFormatError
        from spacy_elmo.weights import load_bilm
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        try:
            load_bilm(sys.argv[1], sys.argv[2])
        except ElmoFormatError as e:
            print(str(e)[:6])
        after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print((after - before) // 1024)  # MiB of peak memory added
        """)
    out = subprocess.run(
        [sys.executable, "-c", script, str(opt), str(w)],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    code, grown_mib = out.stdout.split()
    assert code == "[E004]"
    assert int(grown_mib) < 100


# --- silent numeric corruption ---------------------------------------------------------------
@pytest.mark.parametrize("value", ["NaN", "Infinity", "-Infinity"])
@pytest.mark.parametrize("key", ["cell_clip", "proj_clip"])
def test_non_finite_clips_are_refused(copied, key, value):
    opt, w = copied
    text = opt.read_text().replace(f'"{key}": 3', f'"{key}": {value}')
    assert value in text
    opt.write_text(text)
    with pytest.raises(ElmoFormatError, match=rf"\[E110\].*lstm.{key}.*finite"):
        load_options(opt)


def test_missing_n_layers_with_a_two_layer_file(copied):
    """No n_layers means 1 (bilm-tf's default); the file's second layer must not be
    silently ignored."""
    opt, w = copied
    edit_options(opt, lambda o: o["lstm"].pop("n_layers"))
    with pytest.raises(ElmoFormatError, match=r"\[E017\].*Cell1.*n_layers 1.*missing n_layers"):
        load_bilm(opt, w)


def test_extra_highway_layers_are_not_ignored(copied):
    opt, w = copied
    edit_options(opt, lambda o: o["char_cnn"].update(n_highway=0))
    with pytest.raises(ElmoFormatError, match=r"\[E017\].*CNN_high_0"):
        load_bilm(opt, w)


def test_written_weights_carry_checksums(copied, tmp_path):
    """Weights written here carry Fletcher-32 checksums: a flipped byte in the data fails
    to load (E009) instead of giving wrong vectors. Plain h5py (as in AllenNLP) reads them."""
    opt, w = copied
    out = tmp_path / "written.hdf5"
    save_weights(load_bilm(opt, w), out)
    key = "RNN_0/RNN/MultiRNNCell/Cell0/LSTMCell/W_0"
    with h5py.File(out, "r") as f, h5py.File(w, "r") as orig:
        np.testing.assert_array_equal(f[key][...], orig[key][...])
        assert f[key].fletcher32
        offset = f[key].id.get_chunk_info(0).byte_offset
    data = bytearray(out.read_bytes())
    data[offset + 100] ^= 0x10  # one bit of one weight
    out.write_bytes(bytes(data))
    with pytest.raises(ElmoFormatError, match=r"\[E009\].*Cell0/LSTMCell/W_0.*corrupt"):
        load_bilm(opt, out)


# --- paths that are not plain readable files ---------------------------------------------
def test_directory_says_directory(copied, tmp_path):
    opt, w = copied
    with pytest.raises(ElmoFormatError, match=r"\[E012\].*is a directory.*options.json"):
        load_bilm(tmp_path, w)
    with pytest.raises(ElmoFormatError, match=r"\[E012\].*is a directory.*weights.hdf5"):
        load_bilm(opt, tmp_path)


def test_symlink_loop(copied, tmp_path):
    opt, w = copied
    (tmp_path / "a").symlink_to(tmp_path / "b")
    (tmp_path / "b").symlink_to(tmp_path / "a")
    with pytest.raises(ElmoFormatError, match=r"\[E013\].*options file.*link loop"):
        load_bilm(tmp_path / "a", w)
    with pytest.raises(ElmoFormatError, match=r"\[E013\].*weights file.*link loop"):
        load_bilm(opt, tmp_path / "a")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this OS")
def test_fifo_is_refused_without_blocking(copied, tmp_path):
    opt, w = copied
    os.mkfifo(tmp_path / "pipe")
    with pytest.raises(ElmoFormatError, match=r"\[E015\].*not a regular file"):
        load_options(tmp_path / "pipe")


@pytest.mark.skipif(not hasattr(os, "geteuid"), reason="POSIX permissions")
def test_unreadable_options_file(copied):
    """Root ignores file permissions: it is then checked in a child without capabilities."""
    opt, _ = copied
    opt.chmod(0)
    if os.geteuid() != 0:
        with pytest.raises(ElmoFormatError, match=r"\[E014\].*Permission denied"):
            load_options(opt)
        return
    if shutil.which("setpriv") is None:
        pytest.skip("running as root without setpriv to drop the capabilities")
    script = textwrap.dedent("""
        import sys
        from spacy_elmo.errors import ElmoFormatError
        from spacy_elmo.weights import load_options
        try:
            load_options(sys.argv[1])
        except ElmoFormatError as e:
            print(e)
        """)
    drop = ["setpriv", "--bounding-set=-all", "--inh-caps=-all"]
    out = subprocess.run(
        [*drop, sys.executable, "-c", script, str(opt)], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert "[E014]" in out.stdout and "Permission denied" in out.stdout


# --- HDF5 links and storage that leave the file --------------------------------------------
@pytest.mark.parametrize("kind", ["external link", "soft link", "external storage"])
def test_links_out_of_the_file_are_refused(copied, tmp_path, kind):
    opt, w = copied
    key = "CNN_proj/b_proj"
    outside = tmp_path / "outside.hdf5"
    with h5py.File(w, "r") as f:
        value = f[key][...]
    with h5py.File(outside, "w") as f:
        f.create_dataset("secret", data=value)
    raw = tmp_path / "raw.bin"
    raw.write_bytes(value.astype("<f4").tobytes())
    with h5py.File(w, "a") as f:
        del f[key]
        if kind == "external link":
            f[key] = h5py.ExternalLink(str(outside), "secret")
        elif kind == "soft link":
            f["elsewhere"] = value
            f[key] = h5py.SoftLink("/elsewhere")
        else:
            f.create_dataset(key, shape=value.shape, dtype="<f4", external=[(str(raw), 0, 64)])
    with pytest.raises(ElmoFormatError, match=r"\[E016\].*CNN_proj/b_proj"):
        load_bilm(opt, w)


def test_null_sections(copied):
    opt, w = copied
    for edit, key in (
        (lambda o: o.update(lstm=None), "'lstm'"),
        (lambda o: o.update(char_cnn=[]), "'char_cnn'"),
        (lambda o: o["char_cnn"].update(embedding=4), "'char_cnn.embedding'"),
    ):
        shutil.copy(SKIP / "options.json", opt)
        edit_options(opt, edit)
        with pytest.raises(ElmoFormatError, match=rf"\[E110\].*{key}.*JSON object"):
            load_options(opt)


# --- whole numbers too large for any setting -----------------------------------------------
@pytest.mark.parametrize(
    "edit, key",
    [
        (lambda o: o["lstm"].update(n_layers=10**400), "lstm.n_layers"),
        (lambda o: o["lstm"].update(dim=int("9" * 4000)), "lstm.dim"),
        (lambda o: o["lstm"].update(cell_clip=10**400), "lstm.cell_clip"),
        (lambda o: o["lstm"].update(proj_clip=-(10**30)), "lstm.proj_clip"),
        (lambda o: o["char_cnn"]["embedding"].update(dim=2**53 + 1), "char_cnn.embedding.dim"),
        (lambda o: o["char_cnn"].update(filters=[[1, 10**30]]), r"char_cnn.filters\[0\]\[1\]"),
    ],
)
def test_integers_too_large_for_a_float_are_e110(copied, edit, key):
    """They raised OverflowError (int -> float in the checks or the parameter count)."""
    opt, w = copied
    edit_options(opt, edit)
    with pytest.raises(ElmoFormatError, match=rf"\[E110\].*'{key}'.*<an integer of .*digits>"):
        load_bilm(opt, w)


def test_an_integer_json_cannot_convert_is_e110(copied):
    """4,400 digits: Python's int conversion limit (4,300) made json.loads raise a bare
    ValueError that suggested changing an interpreter setting."""
    opt, _ = copied
    text = opt.read_text().replace('"n_layers": 2', '"n_layers": ' + "9" * 4400)
    opt.write_text(text)
    with pytest.raises(ElmoFormatError, match=r"\[E110\].*'lstm.n_layers'.*4,400 digits"):
        load_options(opt)


def test_an_integer_python_cannot_print_is_e110():
    """From Python, not JSON: 10**5000 cannot even be shown in full; the message says so."""
    options = json.loads((SKIP / "options.json").read_text())
    options["lstm"]["dim"] = 10**5000
    with pytest.raises(ElmoFormatError, match=r"\[E110\].*'lstm.dim'.*about 5,001 digits"):
        config_from_dict(options)


# --- entries the options do not imply --------------------------------------------------------
def _add(w, key: str, kind: str = "dataset") -> None:
    with h5py.File(w, "a") as f:
        if kind == "dataset":
            f.create_dataset(key, data=np.zeros(4, dtype="<f4"))
        elif kind == "group":
            f.create_group(key)
        elif kind == "soft link":
            f[key] = h5py.SoftLink("/CNN_proj/b_proj")
        else:
            f[key] = h5py.ExternalLink("/nonexistent/other.hdf5", "secret")


@pytest.mark.parametrize(
    "key, kind",
    [
        ("RNN_0/RNN/MultiRNNCell/Cell2/LSTMCell/B", "dataset"),
        ("RNN_1/RNN/MultiRNNCell/Cell0/LSTMCell/W_P_1", "dataset"),
        ("CNN_high_2/b_carry", "dataset"),
        ("CNN/b_cnn_9", "dataset"),
        ("softmax/W", "dataset"),
        ("notes", "group"),
        ("alias", "soft link"),
        ("CNN/outside", "external link"),
    ],
)
def test_a_lone_unused_entry_is_refused(copied, key, kind):
    """Only a complete further layer was caught (E017); a lone dataset was ignored."""
    opt, w = copied
    _add(w, key, kind)
    with pytest.raises(ElmoFormatError, match=rf"\[E019\].*do not use: {key}\. "):
        load_bilm(opt, w)


def test_unused_entries_are_all_listed(copied):
    opt, w = copied
    for key in ("extra/a", "extra/b/c", "softmax/W"):
        _add(w, key)
    with pytest.raises(ElmoFormatError, match=r"do not use: extra/a, extra/b/c, softmax/W\. "):
        load_bilm(opt, w)


def test_a_hard_link_cycle_of_groups_is_refused(copied):
    """Groups that hold only each other: nothing else to name, so the groups are named."""
    opt, w = copied
    with h5py.File(w, "a") as f:
        inner = f.create_group("a/b")
        inner["loop"] = f["a"]
    with pytest.raises(ElmoFormatError, match=r"\[E019\].*do not use: a, a/b, a/b/loop\. "):
        load_bilm(opt, w)


def test_many_unused_entries_stop_the_walk(copied):
    opt, w = copied
    for i in range(50):
        _add(w, f"junk_{i:02d}")
    with pytest.raises(ElmoFormatError, match=r"\[E019\].*junk_09 \(and perhaps more\)") as info:
        load_bilm(opt, w)
    assert "junk_10" not in str(info.value)


@pytest.mark.parametrize(
    "folder, weights",
    [
        (SKIP, "lm_weights.hdf5"),
        (NOSKIP, "lm_weights.hdf5"),
        (ASSETS / "tiny", "weights.hdf5"),
        (ASSETS / "default", "weights.hdf5"),
    ],
)
def test_published_and_written_files_have_no_unused_entries(tmp_path, folder, weights):
    """The bilm-tf/AllenNLP fixtures, the shipped models and what save_weights writes."""
    if not (folder / weights).is_file():
        pytest.skip(f"{folder / weights} is not in this checkout")
    check_weights(load_options(folder / "options.json"), folder / weights)
    written = tmp_path / "written.hdf5"
    save_weights(load_bilm(folder / "options.json", folder / weights), written)
    check_weights(load_options(folder / "options.json"), written)
