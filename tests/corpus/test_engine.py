"""The engine in one process: same results as embedding sentence by sentence, whatever the
chunking; refusals before the model loads; resume checks."""

import io

import h5py
import numpy as np
import pytest
import torch

from spacy_elmo import ElmoEmbedder
from spacy_elmo.corpus import EmbedSettings, embed_corpus, read_index
from spacy_elmo.corpus.resume import partial_dir
from spacy_elmo.errors import ElmoInputError

from .conftest import sentences


def _never():
    raise AssertionError("the model must not be loaded")


def _contents(path):
    with h5py.File(path, "r") as f:
        data = {k: f[k][...] for k in f if k != "sentence_to_index"}
        index = read_index(f) if "sentence_to_index" in f else None
    return data, index


@pytest.mark.parametrize("fmt", ["all", "top", "average"])
def test_chunked_run_equals_sentence_by_sentence(tiny_embedder, tmp_path, fmt):
    lines = sentences(50)
    (tmp_path / "in.txt").write_text("\n".join(lines) + "\n", encoding="utf8")
    settings = EmbedSettings(
        output_format=fmt, batch_size=3, chunk_size=7, progress=False, index_piece_bytes=200
    )
    n = embed_corpus(
        tmp_path / "in.txt", tmp_path / "o.h5", load=lambda: tiny_embedder, settings=settings
    )
    assert n == 50 and not partial_dir(tmp_path / "o.h5").exists()
    data, index = _contents(tmp_path / "o.h5")
    assert set(data) == {str(i) for i in range(50)}
    assert index == {line: str(i) for i, line in enumerate(lines)}  # last line wins
    with h5py.File(tmp_path / "o.h5", "r") as f:
        assert f["sentence_to_index"].shape[0] > 1  # several bounded JSON pieces
    for i in (0, 17, 49):
        full = tiny_embedder.embed_sentence(lines[i].split())
        expected = {"all": full, "top": full[-1], "average": full.mean(0)}[fmt]
        np.testing.assert_allclose(data[str(i)], expected, atol=1e-5)


def test_one_piece_index_is_allennlp_layout(tiny_embedder, tmp_path):
    (tmp_path / "in.txt").write_text("a b\nc\n", encoding="utf8")
    embed_corpus(
        tmp_path / "in.txt",
        tmp_path / "o.h5",
        load=lambda: tiny_embedder,
        settings=EmbedSettings(progress=False),
    )
    import json

    with h5py.File(tmp_path / "o.h5", "r") as f:
        assert json.loads(f["sentence_to_index"][0]) == {"a b": "0", "c": "1"}
        assert f["sentence_to_index"].shape == (1,) and f["0"].shape[1] == 2


def test_sentence_keys_and_text_stream(tiny_embedder, tmp_path):
    stream = io.StringIO("a/b c\nd\n")
    settings = EmbedSettings(use_sentence_keys=True, output_format="top", progress=False)
    assert (
        embed_corpus(stream, tmp_path / "o.h5", load=lambda: tiny_embedder, settings=settings) == 2
    )
    data, index = _contents(tmp_path / "o.h5")
    assert set(data) == {"a$SLASH$b c", "d"} and index is None
    stream = io.StringIO("x\ny\nx\n")  # a duplicate in another chunk is found when assembling
    settings = EmbedSettings(use_sentence_keys=True, batch_size=1, chunk_size=1, progress=False)
    with pytest.raises(ElmoInputError, match=r"\[E107\].*'x'"):
        embed_corpus(stream, tmp_path / "o2.h5", load=lambda: tiny_embedder, settings=settings)
    assert not (tmp_path / "o2.h5").exists()


def test_refusals_come_before_the_model_loads(tmp_path, tiny_model):
    src = tmp_path / "in.txt"
    src.write_text("a b\n", encoding="utf8")
    quiet = EmbedSettings(progress=False)
    cases = [
        (tmp_path / "missing" / "o.h5", {}, "E504"),
        (src, {}, "E503"),
        (tmp_path / "w.hdf5", {"weight file": tmp_path / "w.hdf5"}, "E503"),
        (tmp_path, {}, "E505"),
    ]
    (tmp_path / "w.hdf5").write_bytes(b"model")
    for output, protected, code in cases:
        with pytest.raises(ElmoInputError, match=rf"\[{code}\]"):
            embed_corpus(src, output, load=_never, settings=quiet, protected=protected)
    assert (tmp_path / "w.hdf5").read_bytes() == b"model" and src.read_text() == "a b\n"
    (tmp_path / "bad.txt").write_bytes(b"ok\n\xff\n")
    with pytest.raises(ElmoInputError, match=r"\[E501\] Line 2"):
        embed_corpus(tmp_path / "bad.txt", tmp_path / "o.h5", load=_never, settings=quiet)
    (tmp_path / "empty.txt").write_text("a\n\n", encoding="utf8")
    with pytest.raises(ElmoInputError, match=r"\[E106\] Line 2 "):
        embed_corpus(tmp_path / "empty.txt", tmp_path / "o.h5", load=_never, settings=quiet)


def test_complete_output_is_not_overwritten(tiny_embedder, tmp_path):
    src = tmp_path / "in.txt"
    src.write_text("a b\n", encoding="utf8")
    out = tmp_path / "o.h5"
    out.write_bytes(b"earlier result")
    quiet = EmbedSettings(progress=False)
    with pytest.raises(ElmoInputError, match=r"\[E502\].*--overwrite"):
        embed_corpus(src, out, load=_never, settings=quiet)
    assert out.read_bytes() == b"earlier result"
    again = EmbedSettings(progress=False, overwrite=True)
    assert embed_corpus(src, out, load=lambda: tiny_embedder, settings=again) == 1
    assert "0" in _contents(out)[0]


def test_resume_checks_settings_and_input(tiny_embedder, tmp_path):
    src, out = tmp_path / "in.txt", tmp_path / "o.h5"
    lines = sentences(40)
    src.write_text("\n".join(lines), encoding="utf8")
    settings = EmbedSettings(batch_size=2, chunk_size=16, progress=False)
    embed_corpus(src, tmp_path / "full.h5", load=lambda: tiny_embedder, settings=settings)
    # an unfinished run: the same command stopped on the last chunk's empty line
    src.write_text("\n".join(lines[:32]) + "\n\n" + "\n".join(lines[32:]), encoding="utf8")
    with pytest.raises(ElmoInputError, match=r"\[E106\] Line 33"):
        embed_corpus(
            io.StringIO(src.read_text()), out, load=lambda: tiny_embedder, settings=settings
        )
    assert not out.exists() and len(list(partial_dir(out).glob("chunk-*.h5"))) == 2
    other = EmbedSettings(batch_size=2, chunk_size=16, progress=False, output_format="top")
    src.write_text("\n".join(lines), encoding="utf8")
    with pytest.raises(ElmoInputError, match=r"\[E506\].*output_format"):
        embed_corpus(src, out, load=lambda: tiny_embedder, settings=other)
    src.write_text("\n".join(["changed"] + lines[1:]), encoding="utf8")
    with pytest.raises(ElmoInputError, match=r"\[E507\] Lines 1-16"):
        embed_corpus(src, out, load=lambda: tiny_embedder, settings=settings)
    src.write_text("\n".join(lines), encoding="utf8")
    with pytest.warns(UserWarning, match=r"\[W015\].*: 32 of 40 lines already embedded"):
        embed_corpus(src, out, load=lambda: tiny_embedder, settings=settings)
    assert _equal_files(out, tmp_path / "full.h5")


def test_stateful_resume_carries_the_state(tiny_model, tmp_path):
    src, out = tmp_path / "in.txt", tmp_path / "o.h5"
    lines = sentences(12)
    src.write_text("\n".join(lines), encoding="utf8")
    settings = EmbedSettings(batch_size=2, chunk_size=4, progress=False)
    full = ElmoEmbedder(*tiny_model, state="stateful")
    embed_corpus(src, tmp_path / "full.h5", load=lambda: full, settings=settings)
    first = ElmoEmbedder(*tiny_model, state="stateful")
    with pytest.raises(ElmoInputError, match=r"\[E106\]"):  # stops after two chunks
        embed_corpus(
            io.StringIO("\n".join(lines[:8]) + "\n\n"), out, load=lambda: first, settings=settings
        )
    resumed = ElmoEmbedder(*tiny_model, state="stateful")
    with pytest.warns(UserWarning, match=r"\[W015\]"):
        embed_corpus(src, out, load=lambda: resumed, settings=settings)
    assert _equal_files(out, tmp_path / "full.h5")
    fresh = ElmoEmbedder(*tiny_model, state="stateful")
    embed_corpus(
        io.StringIO("\n".join(lines[8:])),
        tmp_path / "cold.h5",
        load=lambda: fresh,
        settings=settings,
    )
    cold = _contents(tmp_path / "cold.h5")[0]["0"]
    assert not np.allclose(cold, _contents(out)[0]["8"])  # the state mattered


def _equal_files(a, b):
    (da, ia), (db, ib) = _contents(a), _contents(b)
    return ia == ib and set(da) == set(db) and all(np.array_equal(da[k], db[k]) for k in da)


def test_device_selection(tmp_path):
    from spacy_elmo.cli.embed import run_embed
    from spacy_elmo.corpus.shard import shard_from_env
    from spacy_elmo.pytorch.device import Machine, resolve_device

    shard = shard_from_env({"RANK": "3", "WORLD_SIZE": "4", "LOCAL_RANK": "1"})
    assert (shard.rank, shard.world_size, shard.local_rank) == (3, 4, 1)
    assert [k for k in range(10) if shard.owns(k)] == [3, 7]
    gpus = Machine(cuda_count=2, mps_available=False)

    def device(setting, local_rank=None):
        return str(resolve_device(setting, local_rank=local_rank, machine=gpus).device)

    assert device("cuda", 1) == "cuda:1"  # one GPU per process on a node
    assert device("auto", 1) == "cuda:1"
    assert device("cuda:0", 1) == "cuda:0"  # an explicit index is kept
    assert device("cpu", 1) == "cpu"
    assert device("cuda") == "cuda:0"
    base = dict(
        output_format="top", model=None, options_file=None, weight_file=None, batch_size=4,
        state="zero", precision="float32", forget_sentences=False, use_sentence_keys=False,
        overwrite=False, encoding="utf-8", chunk_size=8, progress=False,
    )  # fmt: skip
    inp = tmp_path / "in.txt"
    inp.write_text("a b\n", encoding="utf8")
    with pytest.raises(ElmoInputError, match=r"\[E509\] --device gpu .*--device cpu"):
        run_embed(str(inp), tmp_path / "o.hdf5", device="gpu", **base)
    unusable = "cuda" if not torch.cuda.is_available() else f"cuda:{torch.cuda.device_count()}"
    with pytest.raises(ElmoInputError, match=rf"\[E509\] --device {unusable} .*--device cpu"):
        run_embed(str(inp), tmp_path / "o.hdf5", device=unusable, **base)
    assert not (tmp_path / "o.hdf5").exists()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_embed_on_cuda_matches_cpu(tiny_model, tiny_embedder, tmp_path):
    lines = sentences(40)
    (tmp_path / "in.txt").write_text("\n".join(lines), encoding="utf8")
    settings = EmbedSettings(batch_size=8, chunk_size=16, progress=False)
    gpu = ElmoEmbedder(*tiny_model, device="cuda")
    embed_corpus(tmp_path / "in.txt", tmp_path / "g.h5", load=lambda: gpu, settings=settings)
    embed_corpus(
        tmp_path / "in.txt", tmp_path / "c.h5", load=lambda: tiny_embedder, settings=settings
    )
    (g, gi), (c, ci) = _contents(tmp_path / "g.h5"), _contents(tmp_path / "c.h5")
    assert gi == ci and set(g) == set(c)
    for key in g:
        np.testing.assert_allclose(g[key], c[key], atol=1e-4)


@pytest.mark.parametrize("seconds", [0, -1.0, float("nan"), float("inf"), True, "30"])
def test_save_seconds_must_be_a_positive_number(tmp_path, seconds):
    (tmp_path / "in.txt").write_text("a b\n", encoding="utf8")
    settings = EmbedSettings(progress=False, save_seconds=seconds)
    with pytest.raises(ElmoInputError, match=r"\[E516\]"):
        embed_corpus(tmp_path / "in.txt", tmp_path / "o.h5", load=_never, settings=settings)


def test_a_symlinked_lock_file_is_refused_and_its_target_untouched(tmp_path):
    (tmp_path / "in.txt").write_text("a b\n", encoding="utf8")
    (tmp_path / "precious.txt").write_text("keep me", encoding="utf8")
    (tmp_path / "o.h5.lock").symlink_to(tmp_path / "precious.txt")
    with pytest.raises(ElmoInputError, match=r"\[E505\].*symbolic link"):
        embed_corpus(
            tmp_path / "in.txt",
            tmp_path / "o.h5",
            load=_never,
            settings=EmbedSettings(progress=False),
        )
    assert (tmp_path / "precious.txt").read_text(encoding="utf8") == "keep me"
