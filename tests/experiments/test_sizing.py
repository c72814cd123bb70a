"""Sample sizes and power against statsmodels' NormalIndPower on Cohen's h."""

from __future__ import annotations

import math

import numpy as np
import pytest
from statsmodels.stats.power import NormalIndPower
from statsmodels.stats.proportion import proportion_effectsize

from skewless.errors import ExperimentInputError
from skewless.experiments import power, sample_size
from skewless.experiments.sizing import cohens_h


def random_designs(count: int, seed: int) -> list[tuple[float, float, float, float]]:
    """Baselines from 0.5% to 90%, lifts of either sign from 1% to 100%, usual levels."""
    rng = np.random.default_rng(seed)
    designs = []
    while len(designs) < count:
        baseline = float(rng.choice([rng.uniform(0.005, 0.05), rng.uniform(0.05, 0.9)]))
        lift = float(rng.choice([-1, 1]) * np.exp(rng.uniform(np.log(0.01), np.log(1.0))))
        if not 0.0 <= baseline * (1 + lift) <= 1.0:
            continue
        alpha = float(rng.choice([0.01, 0.05, 0.1]))
        target = float(rng.choice([0.5, 0.8, 0.9, 0.95]))
        designs.append((baseline, lift, alpha, target))
    return designs


def test_cohens_h_equals_statsmodels_proportion_effectsize() -> None:
    for baseline, lift, _, _ in random_designs(100, 1):
        treatment = baseline * (1 + lift)
        assert cohens_h(baseline, treatment) == pytest.approx(
            proportion_effectsize(treatment, baseline), rel=1e-12
        )


def test_sample_size_equals_statsmodels_solve_power_rounded_up() -> None:
    solver = NormalIndPower()
    for baseline, lift, alpha, target in random_designs(300, 2):
        got = sample_size(baseline, lift, alpha=alpha, power=target)
        h = abs(proportion_effectsize(baseline * (1 + lift), baseline))
        expected = solver.solve_power(effect_size=h, alpha=alpha, power=target, ratio=1.0)
        assert got.per_arm == max(1, math.ceil(expected)), (baseline, lift, alpha, target)
        assert got.total == 2 * got.per_arm
        assert got.treatment_rate == pytest.approx(baseline * (1 + lift))
        # the smallest size with enough power: one user fewer per arm falls short
        assert power(baseline, lift, got.per_arm, got.per_arm, alpha).power >= target
        if got.per_arm > 1:
            short = power(baseline, lift, got.per_arm - 1, got.per_arm - 1, alpha).power
            assert short < target


def test_known_sample_sizes() -> None:
    # 10% baseline, +10% relative (10% -> 11%), alpha 0.05, power 0.8: h = 0.0326
    assert sample_size(0.10, 0.10).per_arm == 14745
    # a bigger lift needs fewer users, more power needs more
    assert sample_size(0.10, 0.20).per_arm < sample_size(0.10, 0.10).per_arm
    assert sample_size(0.10, 0.10, power=0.9).per_arm > sample_size(0.10, 0.10).per_arm
    # 50% -> 100%: h = pi / 2, and 2 (1.95996 + 0.84162)² / h² = 6.36
    assert sample_size(0.5, 1.0).per_arm == 7
    assert sample_size(0.10, -0.10).per_arm > 0


def test_power_equals_statsmodels_at_unequal_sizes() -> None:
    solver = NormalIndPower()
    rng = np.random.default_rng(3)
    for baseline, lift, alpha, _ in random_designs(300, 4):
        n_c, n_t = int(rng.integers(1, 200_000)), int(rng.integers(1, 200_000))
        got = power(baseline, lift, n_c, n_t, alpha=alpha)
        h = abs(proportion_effectsize(baseline * (1 + lift), baseline))
        expected = solver.power(effect_size=h, nobs1=n_c, alpha=alpha, ratio=n_t / n_c)
        assert got.power == pytest.approx(float(expected), rel=1e-9, abs=1e-15)
        assert alpha <= got.power <= 1.0


def test_power_grows_with_users() -> None:
    powers = [power(0.05, 0.1, n, n).power for n in (100, 1_000, 10_000, 100_000)]
    assert powers == sorted(powers) and powers[0] < 0.1 and powers[-1] > 0.99


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"baseline_rate": 0.0, "min_detectable_lift": 0.1}, r"baseline_rate must be in \(0, 1\)"),
        ({"baseline_rate": 1.2, "min_detectable_lift": 0.1}, r"baseline_rate must be in \(0, 1\)"),
        ({"baseline_rate": 0.1, "min_detectable_lift": 0}, "min_detectable_lift is 0"),
        ({"baseline_rate": 0.6, "min_detectable_lift": 1.0}, "treatment rate of 1.2, outside"),
        ({"baseline_rate": 0.1, "min_detectable_lift": -1.5}, "outside"),
        ({"baseline_rate": 0.1, "min_detectable_lift": float("nan")}, "finite relative lift"),
        ({"baseline_rate": 0.1, "min_detectable_lift": 0.1, "power": 1.0}, "power must be"),
        ({"baseline_rate": 0.1, "min_detectable_lift": 0.1, "power": 0.04}, "must exceed alpha"),
        ({"baseline_rate": 0.1, "min_detectable_lift": 0.1, "alpha": 0.0}, "alpha must be"),
    ],
)
def test_bad_designs_are_one_line_errors(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ExperimentInputError, match=message):
        sample_size(**kwargs)


def test_power_needs_users_in_both_arms() -> None:
    with pytest.raises(ExperimentInputError, match="control_total is 0"):
        power(0.1, 0.1, 0, 100)
    with pytest.raises(ExperimentInputError, match="treatment_total must not be negative"):
        power(0.1, 0.1, 100, -1)
