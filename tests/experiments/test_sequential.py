"""The mSPRT: its closed form against numerical integration of the mixture, and simulations of
experiments read at 10 looks each, where peeking with the fixed-horizon test goes wrong and the
sequential test does not."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy import integrate, stats

from skewless.errors import ExperimentInputError
from skewless.experiments import (
    SequentialResult,
    proportion_test,
    sequential_mean_test,
    sequential_test,
)

ALPHA = 0.05
LOOKS = 10
STEP = 200  # users per arm added between two looks


def mixture_ratio(difference: float, variance: float, theta0: float, tau_abs: float) -> float:
    """The mSPRT likelihood ratio by definition: the likelihood of the estimate averaged over
    theta ~ N(theta0, tau_abs²), over its likelihood at theta0, integrated numerically."""

    def weighted(theta: float) -> float:
        likelihood = stats.norm.pdf(difference, theta, math.sqrt(variance))
        return float(likelihood * stats.norm.pdf(theta, theta0, tau_abs))

    width = 12 * tau_abs
    mixed, _ = integrate.quad(weighted, theta0 - width, theta0 + width, points=[difference])
    return mixed / float(stats.norm.pdf(difference, theta0, math.sqrt(variance)))


@pytest.mark.parametrize(
    ("counts", "tau"),
    [((100, 1000, 130, 1000), 0.1), ((40, 800, 55, 1200), 0.05), ((512, 5000, 490, 5000), 0.3)],
)
def test_p_value_and_interval_are_those_of_the_normal_mixture(
    counts: tuple[int, int, int, int], tau: float
) -> None:
    c, n_c, t, n_t = counts
    result = sequential_test(c, n_c, t, n_t, tau=tau)
    p_c, p_t, pooled = c / n_c, t / n_t, (c + t) / (n_c + n_t)
    n_eff = n_c * n_t / (n_c + n_t)
    null_variance = pooled * (1 - pooled) * (1 / n_c + 1 / n_t)
    ratio = mixture_ratio(p_t - p_c, null_variance, 0.0, tau * math.sqrt(null_variance * n_eff))
    assert result.p_value == pytest.approx(min(1.0, 1.0 / ratio), rel=1e-7)
    # at either end of the confidence sequence the evidence against theta0 is exactly 1/alpha
    variance = p_c * (1 - p_c) / n_c + p_t * (1 - p_t) / n_t
    tau_abs = tau * math.sqrt(variance * n_eff)
    for end in result.ci:
        assert mixture_ratio(p_t - p_c, variance, end, tau_abs) == pytest.approx(
            1 / ALPHA, rel=1e-7
        )


def cumulative_conversions(rng: np.random.Generator, experiments: int, rate: float) -> np.ndarray:
    """Conversions so far at each look, one row per experiment."""
    return rng.binomial(STEP, rate, size=(experiments, LOOKS)).cumsum(axis=1)


def peek(
    control_rate: float, treatment_rate: float, experiments: int, seed: int
) -> dict[str, float]:
    """Run ``experiments`` experiments, read at each of 10 looks with both tests; the share of
    experiments each test called significant at any look (and the fixed test at the last look
    only), and the share whose confidence sequence ever missed the true difference."""
    rng = np.random.default_rng(seed)
    control = cumulative_conversions(rng, experiments, control_rate)
    treatment = cumulative_conversions(rng, experiments, treatment_rate)
    true_difference = treatment_rate - control_rate
    sequential_hits = fixed_hits = final_hits = missed = 0
    for row in range(experiments):
        previous: SequentialResult | None = None
        fixed_any, covered = False, True
        for look in range(LOOKS):
            n = STEP * (look + 1)
            c, t = int(control[row, look]), int(treatment[row, look])
            previous = sequential_test(c, n, t, n, alpha=ALPHA, previous=previous)
            covered &= previous.ci[0] <= true_difference <= previous.ci[1]
            fixed = proportion_test(c, n, t, n, alpha=ALPHA)
            fixed_any |= fixed.significant
        assert previous is not None and previous.looks == LOOKS
        sequential_hits += previous.significant  # the running minimum: any look significant
        fixed_hits += fixed_any
        final_hits += fixed.significant
        missed += not covered
    return {
        "sequential": sequential_hits / experiments,
        "fixed_any_look": fixed_hits / experiments,
        "fixed_last_look": final_hits / experiments,
        "sequence_missed": missed / experiments,
    }


def test_a_a_experiments_read_ten_times() -> None:
    """2,000 A/A experiments at a 10% conversion rate, 200 to 2,000 users per arm, read at 10
    looks. Stopping at the first significant fixed-horizon look declares about one experiment
    in five a winner (each look is another chance for noise to cross 1.96); the mSPRT's
    running p-value crosses alpha in fewer than alpha of them, however many looks."""
    shares = peek(0.10, 0.10, experiments=2_000, seed=1)
    assert shares["sequential"] <= ALPHA + 0.01, shares  # 0.014 in this run
    assert shares["sequence_missed"] <= ALPHA + 0.01, shares
    assert shares["fixed_any_look"] > 2.5 * ALPHA, shares  # 0.195 in this run
    # read once, at its horizon, the fixed test is right: the excess comes from peeking alone
    assert abs(shares["fixed_last_look"] - ALPHA) < 0.015, shares


def test_a_real_effect_is_found_while_peeking() -> None:
    """A +30% lift (10% -> 13%): the mSPRT finds it in about half of the experiments by 2,000
    users per arm, paying for its validity against the fixed test read once at that horizon
    (0.84 in this run), and its confidence sequence keeps the true difference in at least
    1 - alpha of them."""
    shares = peek(0.10, 0.13, experiments=1_000, seed=2)
    assert 0.45 <= shares["sequential"] <= shares["fixed_last_look"], shares
    assert shares["fixed_last_look"] > 0.8, shares
    assert shares["sequence_missed"] <= ALPHA + 0.015, shares


def test_a_a_experiments_on_means_read_ten_times() -> None:
    rng = np.random.default_rng(3)
    experiments, hits = 1_000, 0
    for _ in range(experiments):
        control = rng.lognormal(0.0, 1.0, STEP * LOOKS)
        treatment = rng.lognormal(0.0, 1.0, STEP * LOOKS)
        previous: SequentialResult | None = None
        for look in range(1, LOOKS + 1):
            n = STEP * look
            previous = sequential_mean_test(control[:n], treatment[:n], previous=previous)
        assert previous is not None
        hits += previous.significant
    assert hits / experiments <= ALPHA + 0.01, hits / experiments


def test_previous_carries_the_running_minimum_and_the_intersection() -> None:
    first = sequential_test(100, 1000, 150, 1000)
    # the effect then fades: alone, the second look is weaker than the first
    alone = sequential_test(205, 2000, 250, 2000)
    second = sequential_test(205, 2000, 250, 2000, previous=first)
    assert alone.p_value > first.p_value
    assert second.p_value == first.p_value and second.looks == 2
    assert second.ci == (max(first.ci[0], alone.ci[0]), min(first.ci[1], alone.ci[1]))
    assert second.significant and second.recommendation == "promote challenger"


def test_recommendations() -> None:
    assert sequential_test(100, 1000, 110, 1000).recommendation == "continue"
    assert sequential_test(1300, 10_000, 1000, 10_000).recommendation == "keep champion"
    assert sequential_test(0, 500, 0, 500).p_value == 1.0


def test_a_result_survives_json_between_looks() -> None:
    first = sequential_test(0, 1000, 30, 1000)
    assert math.isnan(first.lift)
    saved = json.loads(json.dumps(first.to_dict(), allow_nan=False))
    restored = SequentialResult.from_dict(saved)
    assert restored.ci == first.ci and math.isnan(restored.lift)
    assert sequential_test(5, 2000, 60, 2000, previous=restored).looks == 2
    with pytest.raises(ExperimentInputError, match=r"lacks \['tau'\]"):
        SequentialResult.from_dict({k: v for k, v in saved.items() if k != "tau"})


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda p: sequential_test(10, 100, 10, 100, tau=0.2, previous=p), "keep both fixed"),
        (lambda p: sequential_test(10, 100, 10, 100, alpha=0.1, previous=p), "keep both fixed"),
        (lambda p: sequential_test(10, 90, 10, 200, previous=p), "pass cumulative counts"),
        (lambda p: sequential_mean_test([1.0, 2.0], [2.0, 3.0], previous=p), "a proportion test"),
        (lambda p: sequential_test(10, 100, 10, 100, previous={"looks": 1}), "SequentialResult"),
        (lambda p: sequential_test(10, 100, 10, 100, tau=0), "tau must be positive"),
        (lambda p: sequential_test(10, 100, 10, 100, tau=math.inf), "tau must be a positive"),
        (lambda p: sequential_test(10, 100, 101, 100), "exceeds treatment_total"),
    ],
)
def test_bad_looks_are_one_line_errors(call: object, message: str) -> None:
    first = sequential_test(10, 100, 10, 100)
    with pytest.raises(ExperimentInputError, match=message):
        call(first)  # type: ignore[operator]
