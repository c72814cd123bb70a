"""Bandit experiments judged by their Beta posteriors (skewless/experiments/posterior.py and the
analysis of a bandit experiment), checked against scipy.stats.beta and numerical integration."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from scipy import integrate, stats

from experiments.experiment_logs import Traffic, write_traffic
from experiments.test_analysis import start_experiment
from skewless.errors import ExperimentInputError
from skewless.experiments.analysis import analyze_experiment
from skewless.experiments.posterior import arm_posteriors

START = datetime(2026, 3, 1, tzinfo=UTC)
DRAWS = 200_000


def _mc_tolerance(p: float) -> float:
    return 4 * math.sqrt(max(p * (1 - p), 1e-6) / DRAWS) + 1e-9


def _probability_best(params: list[tuple[float, float]], i: int) -> float:
    a, b = params[i]

    def density(x: float) -> float:
        others = [stats.beta.cdf(x, aj, bj) for j, (aj, bj) in enumerate(params) if j != i]
        return float(stats.beta.pdf(x, a, b) * math.prod(others))

    return float(integrate.quad(density, 0, 1, limit=200)[0])


def _expected_gain(first: tuple[float, float], second: tuple[float, float]) -> float:
    """E[(X2 - X1)+] for X1 ~ Beta(first), X2 ~ Beta(second)."""
    a1, b1 = first
    mean1 = a1 / (a1 + b1)

    def inner(x: float) -> float:
        below = x * stats.beta.cdf(x, a1, b1) - mean1 * stats.beta.cdf(x, a1 + 1, b1)
        return float(stats.beta.pdf(x, *second) * below)

    return float(integrate.quad(inner, 0, 1, limit=200)[0])


@pytest.mark.parametrize(
    ("conversions", "totals"),
    [([3, 8], [20, 20]), ([0, 1], [5, 3]), ([12, 15], [100, 100]), ([40, 40], [50, 50])],
)
def test_two_arms_agree_with_scipy(conversions: list[int], totals: list[int]) -> None:
    champion, challenger = arm_posteriors(conversions, totals, draws=DRAWS, seed=3)
    params = [(1 + c, 1 + n - c) for c, n in zip(conversions, totals, strict=True)]
    for post, (a, b) in zip((champion, challenger), params, strict=True):
        assert (post.alpha, post.beta) == (a, b)
        assert post.mean == pytest.approx(stats.beta.mean(a, b), rel=1e-12)
        assert post.interval == pytest.approx(stats.beta.ppf([0.025, 0.975], a, b), rel=1e-9)
    beats = _probability_best(params, 1)
    assert challenger.probability_beats_champion == pytest.approx(beats, abs=_mc_tolerance(beats))
    assert challenger.probability_best == challenger.probability_beats_champion
    assert champion.probability_best + challenger.probability_best == pytest.approx(1.0)
    assert champion.expected_loss == pytest.approx(_expected_gain(params[0], params[1]), abs=1e-3)
    assert challenger.expected_loss == pytest.approx(_expected_gain(params[1], params[0]), abs=1e-3)
    assert challenger.difference == pytest.approx(
        stats.beta.mean(*params[1]) - stats.beta.mean(*params[0]), abs=2e-3
    )


def test_three_arms_agree_with_numerical_integration() -> None:
    conversions, totals = [5, 9, 7], [40, 40, 40]
    arms = arm_posteriors(conversions, totals, draws=DRAWS, seed=5)
    params = [(1 + c, 1 + n - c) for c, n in zip(conversions, totals, strict=True)]
    for i, arm in enumerate(arms):
        expected = _probability_best(params, i)
        assert arm.probability_best == pytest.approx(expected, abs=_mc_tolerance(expected))


def test_the_draws_are_seeded() -> None:
    assert arm_posteriors([3, 8], [20, 20], seed=1) == arm_posteriors([3, 8], [20, 20], seed=1)
    assert arm_posteriors([3, 8], [20, 20], seed=1) != arm_posteriors([3, 8], [20, 20], seed=2)


@pytest.mark.parametrize(
    ("conversions", "totals", "message"),
    [
        ([1], [2], "at least 2 arms"),
        ([3, 1], [2, 2], "exceed their total"),
        ([-1, 0], [2, 2], "must not be negative"),
    ],
)
def test_bad_counts_are_refused(conversions: list[int], totals: list[int], message: str) -> None:
    with pytest.raises(ExperimentInputError, match=message):
        arm_posteriors(conversions, totals)


def _bandit(tmp_path: Path, control: float, challenger: float, n: int) -> object:
    record = start_experiment(tmp_path, policy="thompson")
    write_traffic(
        tmp_path,
        "exp",
        [
            Traffic("control", n, control, assignment="bandit", exact=True),
            Traffic("challenger", n, challenger, version=2, assignment="bandit", exact=True),
            Traffic("challenger", 500, 1.0, version=2, assignment="header"),
        ],
        START,
        timedelta(hours=20),
    )
    return analyze_experiment(record, tmp_path, now=START + timedelta(hours=24))


def test_a_bandit_experiment_is_judged_by_its_posteriors(tmp_path: Path) -> None:
    result = _bandit(tmp_path, 0.10, 0.16, 1_000)
    assert (result.method, result.decision, result.winner) == (
        "bayesian",
        "promote challenger",
        "challenger",
    )
    control, challenger = result.arm("control"), result.arm("challenger")
    assert (control.n, control.conversions, challenger.n, challenger.conversions) == (
        1000,
        100,
        1000,
        160,
    )
    assert challenger.p_value is None and challenger.probability_best >= 0.95
    assert challenger.rate_ci == pytest.approx(stats.beta.ppf([0.025, 0.975], 161, 841))
    expected = arm_posteriors([100, 160], [1000, 1000], alpha=0.05, seed=0)
    assert challenger.probability_best == expected[1].probability_best
    assert challenger.ci == expected[1].difference_interval
    assert challenger.difference == pytest.approx(0.06)
    assert result.excluded["header"] == 500
    points = result.series["challenger"]
    assert len(points) == 24 and points[-1].p_value is None and points[-1].ci is not None


def test_a_close_bandit_experiment_continues(tmp_path: Path) -> None:
    result = _bandit(tmp_path, 0.10, 0.11, 100)
    assert (result.decision, result.winner) == ("continue", None)
    assert result.arm("challenger").decision == "continue"
    assert 0.05 < result.arm("challenger").probability_best < 0.95
