import subprocess
import sys

import numpy as np
import pytest

from spacy_elmo.embedder import ElmoEmbedder
from spacy_elmo.errors import ElmoInputError
from spacy_elmo.senses import (
    DEFAULT_SENSES,
    MIXES,
    markdown_table,
    read_sense_examples,
    sense_scores,
    summary,
)


def test_tiny_model_layer_0_is_context_independent(tiny_files):
    embedder = ElmoEmbedder(*tiny_files, state="zero")
    scores = sense_scores(embedder, read_sense_examples(DEFAULT_SENSES))
    words = {s.word for s in scores}
    assert len(words) >= 16 and {"bank", "play", "Washington", "run"} <= words
    assert {s.layer for s in scores} == {"0", "1", "2", *MIXES}
    for s in scores:
        if s.layer == "0":
            assert s.within == pytest.approx(1.0, abs=1e-5)
            assert s.across == pytest.approx(1.0, abs=1e-5)
            assert s.nn_accuracy == pytest.approx(0.4)  # every neighbour ties: chance
        else:
            assert s.within < 0.9999 and s.across < 0.9999  # context changes the vectors
    table = markdown_table(scores)
    assert table.count("\n") == len(scores) + 1 and "| bank | 0 (char CNN) | 1.000 |" in table
    means = summary(scores)
    assert len(means) == 3 + len(MIXES) and means[0].word == f"mean of {len(words)}"
    assert means[0].within == pytest.approx(1.0, abs=1e-5)


def test_mixes_are_the_components_fixed_mixes(tiny_files):
    """``mix`` is the even average of all layers; ``mix-lstm`` leaves layer 0 out."""
    from spacy_elmo.senses import _representations

    layers = ElmoEmbedder(*tiny_files, state="zero").embed_batch([["The", "bank", "."]])[0]
    reps = _representations(layers, 1)
    assert np.allclose(reps["mix"], layers[:, 1].mean(axis=0), atol=1e-6)
    assert np.allclose(reps["mix-lstm"], layers[1:, 1].mean(axis=0), atol=1e-6)
    normed = (layers - layers.mean(axis=(1, 2), keepdims=True)) / layers.std(
        axis=(1, 2), keepdims=True
    )
    assert np.allclose(reps["mix-norm"], normed[:, 1].mean(axis=0), atol=1e-4)


def test_default_model_separates_senses():
    """The embedded default biLM's top layer is closer within a sense than across senses."""
    scores = sense_scores(ElmoEmbedder(), read_sense_examples(DEFAULT_SENSES))
    top = [s for s in scores if s.layer == "2"]
    assert len(top) >= 16
    assert np.mean([s.within - s.across for s in top]) > 0.03
    assert np.mean([s.nn_accuracy for s in top]) >= 0.6
    assert sum(s.within > s.across for s in top) >= 0.8 * len(top)


def test_cli_works_outside_the_checkout(tmp_path, tiny_files):
    """The packaged sentences are the default: no examples/ folder needed."""
    done = subprocess.run(
        [sys.executable, "-m", "spacy_elmo", "senses", "--options-file", str(tiny_files[0])]
        + ["--weight-file", str(tiny_files[1]), "--state", "zero"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "| bank | 0 (char CNN) | 1.000 |" in done.stdout and "| mean of " in done.stdout


def test_bad_lines_and_single_sense_words_are_refused(tmp_path, tiny_files):
    bad = tmp_path / "bad.tsv"
    bad.write_text("bank\tfinance\tThe river is wide .\n", encoding="utf8")
    with pytest.raises(ElmoInputError, match=r"\[E112\] Line 1 "):
        read_sense_examples(bad)
    with pytest.raises(ElmoInputError, match=r"\[E001\].*nope.tsv"):
        read_sense_examples(tmp_path / "nope.tsv")
    one = tmp_path / "one.tsv"
    one.write_text("bank\ta\tThe bank .\nbank\ta\tA bank .\n", encoding="utf8")
    with pytest.raises(ElmoInputError, match=r"\[E113\].*'bank'"):
        sense_scores(ElmoEmbedder(*tiny_files, state="zero"), read_sense_examples(one))
