from pathlib import Path

import numpy as np
import pytest

from spacy_elmo.embedder import ElmoEmbedder
from spacy_elmo.errors import ElmoInputError
from spacy_elmo.senses import markdown_table, read_sense_examples, sense_scores

SENSES = Path(__file__).parents[1] / "examples" / "senses.tsv"


def test_tiny_model_layer_0_is_context_independent(tiny_files):
    embedder = ElmoEmbedder(*tiny_files, state="zero")
    scores = sense_scores(embedder, read_sense_examples(SENSES))
    assert {s.word for s in scores} == {"bank", "play", "Washington", "run"}
    for s in scores:
        if s.layer == "0":
            assert s.within == pytest.approx(1.0, abs=1e-5)
            assert s.across == pytest.approx(1.0, abs=1e-5)
            assert s.nn_accuracy == pytest.approx(0.4)  # every neighbour ties: chance
        else:
            assert s.within < 0.9999 and s.across < 0.9999  # context changes the vectors
    table = markdown_table(scores)
    assert table.count("\n") == len(scores) + 1 and "| bank | 0 (char CNN) | 1.000 |" in table


def test_default_model_separates_senses():
    """The embedded default biLM's top layer is closer within a sense than across senses."""
    scores = sense_scores(ElmoEmbedder(), read_sense_examples(SENSES))
    top = [s for s in scores if s.layer == "2"]
    assert len(top) == 4
    for s in top:
        assert s.within > s.across + 0.03, s
    assert np.mean([s.nn_accuracy for s in top]) >= 0.75


def test_bad_lines_and_single_sense_words_are_refused(tmp_path, tiny_files):
    bad = tmp_path / "bad.tsv"
    bad.write_text("bank\tfinance\tThe river is wide .\n", encoding="utf8")
    with pytest.raises(ElmoInputError, match=r"\[E112\] Line 1 "):
        read_sense_examples(bad)
    one = tmp_path / "one.tsv"
    one.write_text("bank\ta\tThe bank .\nbank\ta\tA bank .\n", encoding="utf8")
    with pytest.raises(ElmoInputError, match=r"\[E113\].*'bank'"):
        sense_scores(ElmoEmbedder(*tiny_files, state="zero"), read_sense_examples(one))
