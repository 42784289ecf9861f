"""The fine-tuning step benchmark times every mode on a real biLM and restores it."""

import json

import pytest
import torch

from benchmarks.finetune import MODES, main, measure
from spacy_elmo.embedder import ElmoEmbedder


def test_every_mode_is_timed_and_compared_to_frozen(tiny_files, capsys):
    options, weights = tiny_files
    main(["--options-file", str(options), "--weight-file", str(weights), "--rounds", "2"])
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["mode"] for r in rows] == list(MODES)
    assert all(r["median_seconds"] > 0 and r["rounds"] == 2 for r in rows)
    by_mode = {r["mode"]: r for r in rows}
    assert by_mode["frozen"]["ratio_to_frozen"] == 1.0
    assert by_mode["all"]["ratio_to_frozen"] == pytest.approx(
        by_mode["all"]["median_seconds"] / by_mode["frozen"]["median_seconds"], rel=1e-2
    )


def test_the_forced_graph_loop_is_undone(tiny_files):
    """After ``top-graph`` the biLM chooses its loop per layer again, keeps no grads and
    requires grad where it did before."""
    embedder = ElmoEmbedder.from_files(*tiny_files)
    bilm = embedder.bilm
    before = [p.requires_grad for p in bilm.parameters()]
    measure(bilm, [["a", "few", "words"], ["more"]], rounds=1, modes=["top-graph"])
    assert "_layer_under_autograd" not in vars(bilm.lstm)
    assert all(p.grad is None for p in bilm.parameters())
    assert [p.requires_grad for p in bilm.parameters()] == before


def test_unknown_modes_are_refused():
    with pytest.raises(SystemExit):
        main(["--modes", "frozen,sideways"])
