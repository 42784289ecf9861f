"""Careless or hostile model files: refused with coded errors before anything big is built,
never followed outside the file, never read silently wrong."""

import os
import shutil
import subprocess
import sys
import textwrap

import h5py
import numpy as np
import pytest

from spacy_elmo.errors import ElmoFormatError
from spacy_elmo.weights import load_bilm, load_options, save_weights

from ..conftest import SKIP
from .conftest import edit_options


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
