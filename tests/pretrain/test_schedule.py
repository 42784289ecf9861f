"""Learning-rate schedules: warm-up then constant / linear / cosine decay to a floor."""

import json
import math

import pytest

from spacy_elmo.errors import ElmoInputError
from spacy_elmo.pretrain import config_from_dict, pretrain
from spacy_elmo.pretrain.config import OptimizerConfig
from spacy_elmo.pretrain.schedule import learning_rate

from .conftest import tiny_config


def test_constant_keeps_the_old_warm_up():
    o = OptimizerConfig(lr=0.002, warmup_steps=100)
    assert learning_rate(0, o, 1000) == 0.002 * (1 / 100)
    assert learning_rate(49, o, 1000) == 0.002 * (50 / 100)
    assert learning_rate(99, o, 1000) == learning_rate(5000, o, 1000) == 0.002
    assert learning_rate(0, OptimizerConfig(lr=0.5), 10) == 0.5


@pytest.mark.parametrize("schedule", ["linear", "cosine"])
def test_decay_reaches_the_floor_at_the_end(schedule):
    o = OptimizerConfig(lr=1.0, warmup_steps=10, schedule=schedule, min_lr=0.1)
    lrs = [learning_rate(s, o, 110) for s in range(130)]
    assert lrs[0] == pytest.approx(0.1)
    assert lrs[9] == lrs[10] == 1.0  # peak at the end of the warm-up
    assert lrs[60] == pytest.approx(0.55)  # half way: both schedules are at the midpoint
    assert lrs[110] == lrs[129] == pytest.approx(0.1)  # floor from the last step on
    decay = lrs[10:111]
    assert all(a >= b for a, b in zip(decay, decay[1:]))
    if schedule == "cosine":
        assert lrs[35] == pytest.approx(0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi / 4)))
    else:
        assert lrs[35] == pytest.approx(1.0 - 0.9 * 0.25)


def test_decay_steps_overrides_the_run_length():
    o = OptimizerConfig(lr=1.0, schedule="linear", decay_steps=50)
    assert learning_rate(25, o, 1000) == pytest.approx(0.5)
    assert learning_rate(50, o, 1000) == 0.0


@pytest.mark.parametrize(
    "values,key",
    [({"schedule": "exp"}, "optimizer.schedule"), ({"min_lr": 0.5}, "optimizer.min_lr")],
)
def test_bad_schedule_is_a_coded_error(values, key):
    with pytest.raises(ElmoInputError, match=rf"\[E110\].*{key}"):
        OptimizerConfig(lr=0.1, **values)


def test_logged_learning_rate_follows_the_schedule(tmp_path, corpus):
    cfg = tiny_config(corpus, max_steps=40, log_every_steps=10)
    cfg["optimizer"].update(schedule="linear", min_lr=0.001, warmup_steps=5)
    pretrain(config_from_dict(cfg), tmp_path / "run", progress=False)
    logged = [
        json.loads(l)["lr"] for l in (tmp_path / "run" / "log.jsonl").read_text().splitlines()
    ]
    o = config_from_dict(cfg).optimizer
    # The record of step s shows the rate of the update that produced step s.
    assert logged == [learning_rate(s - 1, o, 40) for s in (10, 20, 30, 40)]
    assert logged == sorted(logged, reverse=True) and logged[-1] < 0.0013
    assert learning_rate(40, o, 40) == pytest.approx(0.001)


def test_a_resumed_run_may_change_its_schedule(tmp_path, corpus):
    cfg = tiny_config(corpus, max_steps=20)
    cfg["optimizer"].update(schedule="cosine", min_lr=0.001)
    pretrain(config_from_dict(cfg), tmp_path / "run", progress=False)
    cfg["training"]["max_steps"] = 30
    cfg["optimizer"].update(schedule="linear", min_lr=0.0, decay_steps=30)
    assert pretrain(config_from_dict(cfg), tmp_path / "run", progress=False)["step"] == 30
    cfg["optimizer"]["lr"] = 0.02  # the peak rate is part of the run
    cfg["training"]["max_steps"] = 40
    with pytest.raises(ElmoInputError, match=r"\[E304\].*optimizer"):
        pretrain(config_from_dict(cfg), tmp_path / "run", progress=False)
