"""Experiment records in the registry (skewless/experiments/records.py), on SQLite."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from skewless.config import RepoConfig
from skewless.errors import ExperimentInputError, UnknownObjectError
from skewless.experiments.records import ExperimentStore
from skewless.experiments.spec import load_experiment
from skewless.registry import Registry

SPEC = {
    "name": "churn-v4",
    "model": "churn",
    "arms": [
        {"name": "control", "model": "churn@production", "weight": 0.8},
        {"name": "challenger", "model": "churn/4", "weight": 0.2},
        {"name": "next", "model": "churn/5", "shadow": True},
    ],
}


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 12, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def store(tmp_path: Path, clock: Clock) -> ExperimentStore:
    registry = Registry(RepoConfig(project="p", repo_path=tmp_path))
    return ExperimentStore(registry, clock)


def test_an_experiment_runs_changes_weights_and_stops(tmp_path: Path) -> None:
    clock = Clock()
    experiments = store(tmp_path, clock)
    spec = load_experiment(SPEC)
    started = experiments.start(spec)
    assert started.status == "running" and started.weights == {"control": 0.8, "challenger": 0.2}
    assert experiments.start(spec) == started  # starting it again changes nothing
    assert experiments.running_for("churn") == started
    clock.now += timedelta(hours=1)
    changed = experiments.set_weights("churn-v4", {"control": 0.5, "challenger": 0.5}, "step")
    assert changed.version == started.version + 1
    assert changed.weights_at(clock.now - timedelta(minutes=1)) == started.weights
    assert changed.weights_at(clock.now) == {"control": 0.5, "challenger": 0.5}
    decided = experiments.decide("churn-v4", "canary-step", "guards held", share=0.5)
    assert decided.decisions[-1]["share"] == 0.5
    clock.now += timedelta(hours=1)
    stopped = experiments.stop("churn-v4", "challenger won", winner="challenger")
    assert (stopped.status, stopped.winner, stopped.stopped_at) == (
        "stopped",
        "challenger",
        clock.now,
    )
    reread = store(tmp_path, clock).get("churn-v4")
    assert reread == stopped and experiments.version("churn-v4") == stopped.version
    assert experiments.running_for("churn") is None
    with pytest.raises(ExperimentInputError, match="stopped at 2026-12-01 02:00 UTC"):
        experiments.set_weights("churn-v4", {"control": 1.0, "challenger": 0.0}, "x")


def test_bad_changes_are_refused(tmp_path: Path) -> None:
    experiments = store(tmp_path, Clock())
    experiments.start(load_experiment(SPEC))
    with pytest.raises(
        ExperimentInputError, match=r"unknown: \['next'\], missing: \['challenger'\]"
    ):
        experiments.set_weights("churn-v4", {"control": 0.5, "next": 0.5}, "x")
    with pytest.raises(ExperimentInputError, match="sum to 1"):
        experiments.set_weights("churn-v4", {"control": 0.5, "challenger": 0.6}, "x")
    with pytest.raises(ExperimentInputError, match="already splits the traffic of model 'churn'"):
        experiments.start(load_experiment({**SPEC, "name": "other"}))
    with pytest.raises(ExperimentInputError, match="exists already"):
        experiments.start(load_experiment({**SPEC, "alpha": 0.01}))
    with pytest.raises(ExperimentInputError, match="is not an arm"):
        experiments.stop("churn-v4", "x", winner="nobody")
    with pytest.raises(UnknownObjectError, match=r"experiments: churn-v4"):
        experiments.get("nope")


def test_a_canary_starts_at_its_first_step(tmp_path: Path) -> None:
    spec = load_experiment(
        {"name": "c", "model": "m", "arms": [{"name": "a", "model": "m/1"},
         {"name": "b", "model": "m/2"}], "canary": ["10% for 5m", "100%"]}
    )  # fmt: skip
    assert store(tmp_path, Clock()).start(spec).weights == {"a": 0.9, "b": 0.1}
