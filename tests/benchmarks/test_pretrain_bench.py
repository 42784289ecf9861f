"""The pretraining-throughput benchmark runs real ``pretrain`` processes for every layout."""

import json

import pytest

from benchmarks.pretrain import main, parse_layouts
from spacy_elmo.errors import ElmoInputError

from ..pretrain.conftest import make_corpus, tiny_config


def test_every_layout_runs_and_is_compared_to_the_first(tmp_path, capsys):
    corpus = make_corpus(tmp_path / "train.txt", 300)
    config = tmp_path / "config.json"
    config.write_text(json.dumps(tiny_config(corpus)), encoding="utf8")
    main(
        ["--layouts", "1x1,2x1", "--steps", "6", "--log-every", "2", "--repeats", "1"]
        + ["-c", str(config)]
    )
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    runs = [r for r in rows if r["measure"] == "run"]
    layouts = {r["layout"]: r for r in rows if r["measure"] == "layout"}
    assert [r["layout"] for r in runs] == ["1x1", "2x1"]
    assert all(r["tokens_per_second"] > 0 for r in runs)
    assert layouts["1x1"]["ratio"] == 1.0
    expected = layouts["2x1"]["tokens_per_second"] / layouts["1x1"]["tokens_per_second"]
    assert layouts["2x1"]["ratio"] == pytest.approx(expected)


@pytest.mark.parametrize("bad", ["2", "0x1", "1x0", "ax1", ""])
def test_bad_layouts_are_refused(bad):
    with pytest.raises(ElmoInputError, match=r"\[E605\] --layouts"):
        parse_layouts(bad)


def test_too_few_steps_for_two_log_lines_exit_with_e606():
    with pytest.raises(SystemExit, match=r"\[E606\]"):
        main(["--steps", "10", "--log-every", "10"])
