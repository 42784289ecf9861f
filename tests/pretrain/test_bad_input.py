"""Bad corpora and configs fail with coded errors, or go through with coded warnings."""

import json

import pytest

from spacy_elmo.errors import ElmoInputError
from spacy_elmo.pretrain import config_from_dict, load_config, pretrain
from spacy_elmo.pretrain.config import CorpusFile
from spacy_elmo.pretrain.text import prepare_corpus, read_lines

from .conftest import make_corpus, tiny_config


def _prepare(*paths, pretokenized=True, max_line_chars=100_000):
    files = [CorpusFile(path=str(p), pretokenized=pretokenized) for p in paths]
    return prepare_corpus(
        files, None, max_line_chars=max_line_chars, max_token_chars=100, lang="en"
    )


def test_empty_corpus(tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text("\n  \n\n")
    with (
        pytest.warns(UserWarning, match=r"\[W032\]"),
        pytest.raises(ElmoInputError, match=r"\[E302\]"),
    ):
        _prepare(empty)
    with pytest.raises(ElmoInputError, match=r"\[E302\]"):
        prepare_corpus([], None, max_line_chars=10, max_token_chars=10, lang="en")


def test_missing_file(tmp_path):
    with pytest.raises(ElmoInputError, match=r"\[E001\]"):
        _prepare(tmp_path / "nope.txt")


def test_binary_junk(tmp_path):
    junk = tmp_path / "junk.bin"
    junk.write_bytes(bytes(range(256)) * 40)
    with pytest.raises(ElmoInputError, match=r"\[E303\].*binary"):
        _prepare(junk)


def test_non_utf8_bytes_are_replaced_with_a_warning(tmp_path):
    latin1 = tmp_path / "latin1.txt"
    latin1.write_bytes("caf\u00e9 au lait\nna\u00efve text here\n".encode("latin-1"))
    with pytest.warns(UserWarning, match=r"\[W030\].*2 line"):
        text = _prepare(latin1)
    assert "caf\ufffd" in text.types
    assert text.n_sentences == 2


def test_enormous_line_is_split_and_never_read_whole(tmp_path):
    big = tmp_path / "big.txt"
    words = " ".join(f"w{i % 1000}" for i in range(60_000))  # ~330k characters on one line
    big.write_text("short line\n" + words + "\nlast line\n")
    with pytest.warns(UserWarning, match=r"\[W031\]"):
        lines = list(read_lines(big, max_line_chars=10_000))
    assert lines[0] == "short line" and lines[-1] == "last line"
    assert all(len(line) <= 10_000 for line in lines)
    assert len(lines) > 30
    # No word is cut: pieces are split at whitespace.
    assert sum(len(line.split()) for line in lines[1:-1]) == 60_000


def test_too_small_for_the_batch(tmp_path):
    tiny = tmp_path / "tiny.txt"
    tiny.write_text("one line only\n")
    with pytest.raises(ElmoInputError, match=r"\[E306\]"):
        pretrain(config_from_dict(tiny_config(tiny)), tmp_path / "out", progress=False)


def test_bad_config(tmp_path):
    with pytest.raises(ElmoInputError, match=r"\[E308\].*batchsize"):
        config_from_dict({"batching": {"batchsize": 3}})
    bad = tmp_path / "cfg.json"
    bad.write_text("{not json")
    with pytest.raises(ElmoInputError, match=r"\[E309\]"):
        load_config(bad)
    with pytest.raises(ElmoInputError, match=r"\[E110\]"):
        cfg = tiny_config(make_corpus(tmp_path / "c.txt", 50))
        cfg["optimizer"]["name"] = "sgd-ish"
        pretrain(config_from_dict(cfg), tmp_path / "o", progress=False)


def test_resume_with_another_config_is_refused(tmp_path, corpus):
    pretrain(config_from_dict(tiny_config(corpus, max_steps=10)), tmp_path / "run", progress=False)
    changed = tiny_config(corpus, max_steps=20)
    changed["batching"]["unroll_steps"] = 5
    with pytest.raises(ElmoInputError, match=r"\[E304\].*batching"):
        pretrain(config_from_dict(changed), tmp_path / "run", progress=False)


def test_export_without_checkpoint(tmp_path):
    from spacy_elmo.pretrain import export_checkpoint

    with pytest.raises(ElmoInputError, match=r"\[E307\]"):
        export_checkpoint(tmp_path, tmp_path / "out")


def test_init_weights_needs_both_files(tmp_path, corpus):
    (tmp_path / "init").mkdir()
    (tmp_path / "init" / "options.json").write_text(json.dumps({}))
    with pytest.raises(ElmoInputError, match=r"\[E305\].*weights.hdf5"):
        pretrain(
            config_from_dict(tiny_config(corpus)),
            tmp_path / "out",
            init_weights=tmp_path / "init",
            progress=False,
        )


def test_resume_with_another_process_count_is_refused(tmp_path, corpus):
    from spacy_elmo.pretrain import checkpoint as ckpt

    pretrain(config_from_dict(tiny_config(corpus, max_steps=10)), tmp_path / "run", progress=False)
    root = tmp_path / "run" / "checkpoints"
    found = ckpt.find_checkpoint(root, rank=0)
    payload = found.shared
    payload["world_size"] = 2  # as if started with torchrun --nproc_per_node 2
    ckpt.write_shared(root, payload["step"], payload)
    ckpt.write_rank(root, payload["step"], 1, found.rank)
    with pytest.raises(ElmoInputError, match=r"\[E311\].*1 processes.*started with 2"):
        pretrain(
            config_from_dict(tiny_config(corpus, max_steps=20)), tmp_path / "run", progress=False
        )
