import json

import h5py
import numpy as np
import pytest

from spacy_elmo.errors import ElmoInputError
from spacy_elmo.pytorch.char_ids import (
    BOS_IDS,
    EOS_IDS,
    batch_to_ids,
    replace_surrogates,
    token_to_char_ids,
)

from ..conftest import SKIP


def test_tricky_tokens_match_allennlp():
    with h5py.File(SKIP / "allennlp_reference_layers.hdf5", "r") as f:
        tokens = json.loads(f.attrs["char_ids_tokens"])
        expected = f["char_ids/0"][...]
    ids = batch_to_ids([tokens])[0].numpy()
    np.testing.assert_array_equal(ids, expected)


def test_documented_examples():
    assert token_to_char_ids("<S>") == BOS_IDS == [259, 257, 260] + [261] * 47
    assert token_to_char_ids("</S>") == EOS_IDS == [259, 258, 260] + [261] * 47
    assert token_to_char_ids(".") == [259, 47, 260] + [261] * 47
    assert token_to_char_ids("Āt") == [259, 197, 129, 117, 260] + [261] * 45
    assert token_to_char_ids("") == [259, 260] + [261] * 48
    # Truncation is to 48 bytes, which may cut a multi-byte character.
    ids = token_to_char_ids("é" * 30)
    assert len(ids) == 50 and ids[-1] == 260 and ids[1:49] == [196, 170] * 24


def test_surrogates_become_characters_or_the_replacement_character():
    # A lone surrogate is U+FFFD (as an undecodable byte read with errors="replace").
    assert token_to_char_ids("a\ud800b") == token_to_char_ids("a\ufffdb")
    assert token_to_char_ids("\udcff") == token_to_char_ids("\ufffd")
    # A high-low pair is the character it encodes in UTF-16.
    assert token_to_char_ids("\ud83d\ude00") == token_to_char_ids("\U0001f600")
    assert replace_surrogates("x\ude00\ud83d") == "x\ufffd\ufffd"
    assert replace_surrogates("plain") == "plain"


def test_padding_is_zero():
    ids = batch_to_ids([["a", "b"], []])
    assert ids.shape == (2, 2, 50)
    assert int(ids[1].abs().sum()) == 0 and bool((ids[0] > 0).all())


@pytest.mark.parametrize("bad", ["a string", [["ok"], "not a list"], [["ok", 3]], [None]])
def test_bad_input_is_a_coded_error(bad):
    with pytest.raises(ElmoInputError, match=r"\[E103\]"):
        batch_to_ids(bad)
