"""The analysis of an experiment (skewless/experiments/analysis.py) on prediction logs written by
the real ``PredictionLogWriter`` and feedback recorded by ``record_feedback``."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from statsmodels.stats.proportion import confint_proportions_2indep, proportions_ztest

from experiments.experiment_logs import Row, Traffic, write_traffic
from skewless.config import RepoConfig
from skewless.errors import ExperimentInputError
from skewless.experiments import proportion_test, sequential_test
from skewless.experiments.analysis import analyze_experiment, wilson_interval
from skewless.experiments.records import ExperimentRecord, ExperimentStore
from skewless.experiments.spec import load_experiment
from skewless.registry import Registry
from skewless.serving.feedback import record_feedback

START = datetime(2026, 3, 1, tzinfo=UTC)
NOW = START + timedelta(hours=48)
ARMS = [
    {"name": "control", "model": "churn@production", "weight": 0.5},
    {"name": "challenger", "model": "churn/2", "weight": 0.5},
]


def start_experiment(root: Path, **spec: Any) -> ExperimentRecord:
    registry = Registry(RepoConfig(project="p", repo_path=root))
    data = {"name": "exp", "model": "churn", "arms": ARMS, **spec}
    return ExperimentStore(registry, lambda: START).start(load_experiment(data))


def counts(rows: list[Row], arm: str, until: datetime | None = None) -> tuple[int, int]:
    """(conversions, labelled rows) of ``arm``'s answered rows, as written."""
    kept = [
        r
        for r in rows
        if r.outcome is not None
        and r.assignment in ("sticky", "bandit")
        and r.arm == arm
        and (until is None or r.time < until)
    ]
    return sum(bool(r.outcome) for r in kept), len(kept)


@pytest.fixture
def population(tmp_path: Path) -> tuple[Path, ExperimentRecord, list[Row]]:
    """20,000 users: the champion converts 10% of them, the challenger 14%."""
    record = start_experiment(tmp_path)
    rows = write_traffic(
        tmp_path,
        "exp",
        [Traffic("control", 10_000, 0.10), Traffic("challenger", 10_000, 0.14, version=2)],
        START,
        timedelta(hours=40),
        seed=1,
    )
    return tmp_path, record, rows


def test_the_better_challenger_wins(population: tuple[Path, ExperimentRecord, list[Row]]) -> None:
    root, record, rows = population
    result = analyze_experiment(record, root, now=NOW)
    assert (result.decision, result.winner, result.method) == (
        "promote challenger",
        "challenger",
        "sequential",
    )
    control, challenger = result.arm("control"), result.arm("challenger")
    assert (control.conversions, control.n) == counts(rows, "control")
    assert (challenger.conversions, challenger.n) == counts(rows, "challenger")
    assert control.logged == control.n == 10_000 and challenger.versions == (2,)
    assert challenger.difference == pytest.approx(challenger.rate - control.rate)
    assert challenger.lift == pytest.approx(challenger.rate / control.rate - 1)
    assert challenger.ci[0] > 0 and challenger.p_value < 1e-6
    assert challenger.lift_ci[0] > 0.10 and challenger.lift_ci[1] < 0.70  # around the true +40%
    assert control.rate_ci == pytest.approx(wilson_interval(control.conversions, control.n, 0.05))
    assert result.bucket == "hour" and len(result.series["challenger"]) == 48


def test_a_sequential_analysis_takes_every_hour_as_a_look(
    population: tuple[Path, ExperimentRecord, list[Row]],
) -> None:
    root, record, rows = population
    result = analyze_experiment(record, root, now=NOW)
    previous = None
    for hour, point in enumerate(result.series["challenger"], start=1):
        until = START + timedelta(hours=hour)
        (c_c, n_c), (c_t, n_t) = counts(rows, "control", until), counts(rows, "challenger", until)
        assert (point.control_n, point.treatment_n) == (n_c, n_t)
        if n_c == 0 or n_t == 0:
            assert point.p_value is None
            continue
        previous = sequential_test(c_c, n_c, c_t, n_t, previous=previous)
        assert point.p_value == pytest.approx(previous.p_value, rel=1e-12)
        assert point.ci == pytest.approx(previous.ci, rel=1e-12)
    assert previous is not None and previous.looks >= 40
    final = result.arm("challenger")
    assert final.p_value == previous.p_value and final.ci == previous.ci


def test_header_and_shadow_rows_do_not_change_the_result(
    population: tuple[Path, ExperimentRecord, list[Row]],
) -> None:
    root, record, _ = population
    spec = load_experiment(
        {
            **record.spec.to_dict(),
            "arms": [*ARMS, {"name": "next", "model": "churn/3", "shadow": True}],
        }
    )
    record = replace(record, spec=spec)
    before = analyze_experiment(record, root, now=NOW)
    write_traffic(
        root,
        "exp",
        [  # the header sends people who always convert to the challenger, never to control
            Traffic("challenger", 3_000, 1.0, version=2, assignment="header"),
            Traffic("control", 3_000, 0.0, assignment="header"),
            Traffic("next", 5_000, 0.9, version=3, assignment="shadow"),
        ],
        START,
        timedelta(hours=40),
        seed=2,
    )
    after = analyze_experiment(record, root, now=NOW)
    assert [a.to_dict() for a in after.arms if a.role != "shadow"] == [
        a.to_dict() for a in before.arms if a.role != "shadow"
    ]
    assert after.series == before.series and after.decision == before.decision
    assert after.excluded == {"header": 6_000, "shadow": 5_000, "other": 0}
    shadow = after.arm("next")
    assert (shadow.role, shadow.logged, shadow.n, shadow.rate, shadow.decision) == (
        "shadow",
        5_000,
        0,
        None,
        "shadow",
    )
    assert any("x-experiment-group" in note for note in after.notes)


def _exact(tmp_path: Path, analysis: str) -> Callable[[], Any]:
    record = start_experiment(tmp_path, analysis=analysis)
    write_traffic(
        tmp_path,
        "exp",
        [
            Traffic("control", 8_000, 0.1000, exact=True),
            Traffic("challenger", 8_000, 0.1125, version=2, exact=True),
        ],
        START,
        timedelta(hours=30),
        seed=3,
    )
    return lambda: analyze_experiment(record, tmp_path, now=NOW)


def test_fixed_and_sequential_read_the_same_data_differently(tmp_path: Path) -> None:
    fixed = _exact(tmp_path / "fixed", "fixed")()
    sequential = _exact(tmp_path / "sequential", "sequential")()
    f, s = fixed.arm("challenger"), sequential.arm("challenger")
    assert (f.conversions, f.n, s.conversions, s.n) == (900, 8000, 900, 8000)
    # the fixed-horizon z-test, read once: significant; statsmodels agrees
    _, p_value = proportions_ztest([900, 800], [8000, 8000])
    low, high = confint_proportions_2indep(900, 8000, 800, 8000, method="wald", compare="diff")
    assert f.p_value == pytest.approx(p_value, rel=1e-9)
    assert f.ci == pytest.approx((low, high), rel=1e-9)
    assert f.p_value == proportion_test(800, 8000, 900, 8000).p_value
    assert (fixed.method, fixed.decision, fixed.winner) == (
        "fixed",
        "promote challenger",
        "challenger",
    )
    # the same counts under the always-valid test: not yet, keep it running
    assert (sequential.decision, sequential.winner) == ("continue", None)
    assert s.p_value > 0.05 and s.ci[0] < 0 < s.ci[1]
    assert s.ci[1] - s.ci[0] > f.ci[1] - f.ci[0]
    assert any("fixed-horizon" in note for note in fixed.notes)


def test_fallback_rows_count_for_the_champion(tmp_path: Path) -> None:
    record = start_experiment(tmp_path)
    write_traffic(
        tmp_path,
        "exp",
        [
            Traffic("control", 400, 0.1, exact=True),
            Traffic("challenger", 400, 0.2, version=2, exact=True),
            Traffic("challenger", 100, 0.5, version=1, assignment="fallback", exact=True),
        ],
        START,
        timedelta(hours=10),
    )
    result = analyze_experiment(record, tmp_path, now=NOW)
    control, challenger = result.arm("control"), result.arm("challenger")
    assert (control.n, control.conversions, control.fallbacks, control.logged) == (
        500,
        90,
        100,
        500,
    )
    assert (challenger.n, challenger.conversions) == (400, 80)
    assert any("count for the champion" in note for note in result.notes)


def test_rows_without_feedback_and_outside_the_window_are_not_counted(tmp_path: Path) -> None:
    record = start_experiment(tmp_path)
    rows = write_traffic(
        tmp_path,
        "exp",
        [Traffic("control", 1_000, 0.1, labelled=0.5), Traffic("challenger", 1_000, 0.1)],
        START - timedelta(hours=5),
        timedelta(hours=10),
        seed=4,
    )
    result = analyze_experiment(record, tmp_path, now=NOW)
    inside = [r for r in rows if r.time >= START]
    control = result.arm("control")
    assert (control.conversions, control.n) == counts(inside, "control")
    assert control.logged == sum(1 for r in inside if r.arm == "control")
    assert control.n < control.logged
    assert any("have no feedback yet" in note for note in result.notes)
    stopped = replace(record, status="stopped", stopped_at=START + timedelta(hours=2))
    early = analyze_experiment(stopped, tmp_path, now=NOW)
    window = [r for r in inside if r.time < START + timedelta(hours=2)]
    assert early.arm("challenger").n == counts(window, "challenger")[1]
    assert early.end == START + timedelta(hours=2) and len(early.series["challenger"]) == 2


def test_two_challengers_share_alpha_and_long_windows_step_by_day(tmp_path: Path) -> None:
    arms = [
        {"name": "control", "model": "churn@production", "weight": 0.4},
        {"name": "b", "model": "churn/2", "weight": 0.3},
        {"name": "c", "model": "churn/3", "weight": 0.3},
    ]
    record = start_experiment(tmp_path, arms=arms, analysis="fixed")
    write_traffic(
        tmp_path,
        "exp",
        [
            Traffic("control", 3_000, 0.10, exact=True),
            Traffic("b", 3_000, 350 / 3000, version=2, exact=True),
            Traffic("c", 3_000, 0.15, version=3, exact=True),
        ],
        START,
        timedelta(days=9),
    )
    result = analyze_experiment(record, tmp_path, now=START + timedelta(days=10))
    assert result.comparison_alpha == 0.025 and result.bucket == "day"
    assert len(result.series["b"]) == 10
    b = result.arm("b")
    expected = proportion_test(300, 3000, 350, 3000, alpha=0.025)
    assert b.p_value == expected.p_value and b.ci == expected.ci
    assert b.decision == "no significant difference"  # p = 0.038: under 0.05, not 0.025
    assert (result.decision, result.winner) == ("promote challenger", "c")


def test_an_experiment_without_traffic_has_not_enough_data(tmp_path: Path) -> None:
    result = analyze_experiment(start_experiment(tmp_path), tmp_path, now=NOW)
    assert (result.decision, result.winner) == ("not enough data", None)
    assert result.arm("challenger").n == 0 and result.arm("challenger").p_value is None
    assert any("no prediction log" in note for note in result.notes)
    assert result.to_dict()["arms"][1]["decision"] == "not enough data"


def test_labels_that_are_not_outcomes_are_refused(tmp_path: Path) -> None:
    record = start_experiment(tmp_path)
    write_traffic(
        tmp_path, "exp", [Traffic("control", 10, 0.5, labelled=0.0)], START, timedelta(hours=1)
    )
    from skewless.serving.logs_read import read_prediction_logs

    ids = read_prediction_logs(tmp_path, "churn").column("request_id").to_pylist()
    record_feedback(tmp_path, "churn", [{"request_id": i, "label": "maybe"} for i in ids])
    with pytest.raises(ExperimentInputError, match="'maybe' is not a conversion outcome"):
        analyze_experiment(record, tmp_path, now=NOW)


def test_the_analysis_is_json(population: tuple[Path, ExperimentRecord, list[Row]]) -> None:
    import json

    root, record, _ = population
    data = json.loads(analyze_experiment(record, root, now=NOW).to_json())
    assert data["window"] == {"start": START.isoformat(), "end": NOW.isoformat()}
    assert [a["name"] for a in data["arms"]] == ["control", "challenger"]
    assert data["series"][0]["arm"] == "challenger" and len(data["series"][0]["points"]) == 48
    assert data["record"]["spec"]["name"] == "exp"
    assert all(math.isfinite(v) for v in data["arms"][1]["ci"])


@pytest.mark.parametrize(("conversions", "total"), [(0, 10), (10, 100), (97, 100), (1234, 9876)])
def test_the_wilson_interval_is_statsmodels(conversions: int, total: int) -> None:
    from statsmodels.stats.proportion import proportion_confint

    expected = proportion_confint(conversions, total, alpha=0.05, method="wilson")
    assert wilson_interval(conversions, total, 0.05) == pytest.approx(expected, rel=1e-9)
