"""The fixed-horizon tests against statsmodels and SciPy (the oracles) on random inputs."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats
from statsmodels.stats.proportion import confint_proportions_2indep, proportions_ztest
from statsmodels.stats.weightstats import CompareMeans, DescrStatsW

from skewless.errors import ExperimentInputError
from skewless.experiments import mean_test, proportion_test

RTOL = 1e-9


def close(a: float, b: float) -> bool:
    return bool(np.isclose(a, b, rtol=RTOL, atol=1e-300))


# -- proportions ---------------------------------------------------------------------------------
@st.composite
def arms(draw: st.DrawFn) -> tuple[int, int, int, int, float]:
    """Two arms of any size from 1 user to a million, their rates anywhere in [0, 1] (0 and
    100% included), and an alpha."""
    sizes = st.one_of(st.integers(1, 12), st.integers(13, 5_000), st.integers(5_001, 1_000_000))
    n_c, n_t = draw(sizes), draw(sizes)
    rates = st.one_of(st.just(0.0), st.just(1.0), st.floats(0.0, 1.0), st.floats(0.0, 0.02))
    c = min(n_c, round(draw(rates) * n_c))
    t = min(n_t, round(draw(rates) * n_t))
    alpha = draw(st.sampled_from([0.001, 0.01, 0.05, 0.1, 0.2]))
    return c, n_c, t, n_t, alpha


@settings(max_examples=500, deadline=None)
@given(arms())
def test_proportion_test_equals_statsmodels(spec: tuple[int, int, int, int, float]) -> None:
    c, n_c, t, n_t, alpha = spec
    result = proportion_test(c, n_c, t, n_t, alpha=alpha)
    assert result.difference == t / n_t - c / n_c
    low, high = confint_proportions_2indep(
        t, n_t, c, n_c, method="wald", compare="diff", alpha=alpha
    )
    assert close(result.ci[0], float(low)) and close(result.ci[1], float(high)), (
        result.ci,
        low,
        high,
    )
    assert result.ci[0] <= result.difference <= result.ci[1]
    pooled = (c + t) / (n_c + n_t)
    if pooled in (0.0, 1.0):  # statsmodels divides 0 by 0 here
        assert (result.z, result.p_value, result.significant) == (0.0, 1.0, False)
        return
    z, p = proportions_ztest([t, c], [n_t, n_c])
    assert close(result.z, float(z)), (result.z, z)
    assert close(result.p_value, float(p)), (result.p_value, p)
    assert result.significant == (float(p) < alpha)


@pytest.mark.parametrize(
    ("counts", "z", "p_value", "ci"),
    [
        ((0, 50, 0, 80), 0.0, 1.0, (0.0, 0.0)),  # no conversions at all
        ((50, 50, 80, 80), 0.0, 1.0, (0.0, 0.0)),  # everybody converts
        ((1, 1, 1, 1), 0.0, 1.0, (0.0, 0.0)),  # one user per arm
    ],
)
def test_no_variance_at_all_means_no_evidence(
    counts: tuple[int, int, int, int], z: float, p_value: float, ci: tuple[float, float]
) -> None:
    result = proportion_test(*counts)
    assert (result.z, result.p_value, result.ci) == (z, p_value, ci)
    assert result.recommendation == "no significant difference"


def test_zero_and_full_rates_need_no_division_by_zero() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        opposite = proportion_test(0, 40, 40, 40)
        from_zero = proportion_test(0, 1000, 30, 1000)
    assert opposite.ci == (1.0, 1.0) and opposite.p_value < 1e-15
    assert math.isnan(from_zero.lift) and from_zero.difference == 0.03
    assert from_zero.recommendation == "promote challenger"  # the difference decides
    assert from_zero.to_dict()["lift"] is None


def test_recommendations_follow_significance_and_direction() -> None:
    better = proportion_test(100, 1000, 140, 1000)
    worse = proportion_test(140, 1000, 100, 1000)
    even = proportion_test(100, 1000, 104, 1000)
    assert (better.significant, better.lift > 0, better.recommendation) == (
        True,
        True,
        "promote challenger",
    )
    assert (worse.significant, worse.recommendation) == (True, "keep champion")
    assert (even.significant, even.recommendation) == (False, "no significant difference")
    assert better.lift == pytest.approx(0.4)


def test_identical_arms_have_p_value_one_and_a_symmetric_interval() -> None:
    result = proportion_test(123, 1000, 123, 1000)
    assert result.p_value == 1.0 and result.difference == 0.0
    assert result.ci[0] == -result.ci[1] < 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((-1, 10, 1, 10), "control_conversions must not be negative"),
        ((1, 10, 1, -10), "treatment_total must not be negative"),
        ((11, 10, 1, 10), r"control_conversions \(11\) exceeds control_total \(10\)"),
        ((1, 10, 5, 4), r"treatment_conversions \(5\) exceeds treatment_total \(4\)"),
        ((0, 0, 1, 10), "control_total is 0: an arm needs at least one user"),
        ((1, 10, 0, 0), "treatment_total is 0"),
        ((1.5, 10, 1, 10), "control_conversions must be a whole number of users, got 1.5"),
        (("3", 10, 1, 10), "control_conversions must be a whole number"),
        ((True, 10, 1, 10), "control_conversions must be a whole number"),
    ],
)
def test_bad_counts_are_one_line_errors(args: tuple[int, int, int, int], message: str) -> None:
    with pytest.raises(ExperimentInputError, match=message) as raised:
        proportion_test(*args)
    assert "\n" not in str(raised.value)
    assert isinstance(raised.value, ValueError)


@pytest.mark.parametrize("alpha", [0, 1, -0.1, 1.5, math.nan, "0.05", None])
def test_alpha_must_be_inside_zero_one(alpha: object) -> None:
    with pytest.raises(ExperimentInputError, match="alpha must be"):
        proportion_test(1, 10, 2, 10, alpha=alpha)  # type: ignore[arg-type]
    with pytest.raises(ExperimentInputError, match="alpha must be"):
        mean_test([1.0, 2.0], [1.0, 3.0], alpha=alpha)  # type: ignore[arg-type]


def test_whole_floats_and_numpy_ints_are_counts() -> None:
    as_float = proportion_test(10.0, 100.0, 20.0, 100.0)  # type: ignore[arg-type]
    as_numpy = proportion_test(np.int64(10), np.int64(100), np.int32(20), np.uint16(100))  # type: ignore[arg-type]
    assert as_float == as_numpy == proportion_test(10, 100, 20, 100)


# -- means ---------------------------------------------------------------------------------------
def sample(rng: np.random.Generator, shape: str, n: int, shift: float) -> np.ndarray:
    if shape == "normal":
        return rng.normal(shift, rng.uniform(0.1, 5.0), n)
    if shape == "lognormal":
        return rng.lognormal(shift, 1.0, n)
    if shape == "binary":
        return (rng.random(n) < 0.3 + shift / 10).astype(np.float64)
    return rng.integers(0, 5, n).astype(np.float64) + shift


def test_mean_test_equals_scipy_welch_on_random_samples() -> None:
    rng = np.random.default_rng(20240611)
    shapes = ("normal", "lognormal", "binary", "counts")
    checked = 0
    for _ in range(400):
        n_c = int(rng.choice([2, 3, 5, 20, 300, 5_000]))
        n_t = int(rng.choice([2, 3, 5, 20, 300, 5_000]))
        shape = str(rng.choice(shapes))
        control = sample(rng, shape, n_c, 0.0)
        treatment = sample(rng, shape, n_t, float(rng.choice([0.0, 0.1, 1.0])))
        if rng.random() < 0.1:
            treatment = control.copy()  # identical groups
        if control.var() == 0 and treatment.var() == 0:
            continue
        alpha = float(rng.choice([0.01, 0.05, 0.1]))
        result = mean_test(control, treatment, alpha=alpha)
        expected = stats.ttest_ind(treatment, control, equal_var=False)
        low, high = expected.confidence_interval(confidence_level=1 - alpha)
        assert close(result.t, float(expected.statistic)), (result.t, expected.statistic)
        assert close(result.p_value, float(expected.pvalue)), (result.p_value, expected.pvalue)
        assert close(result.df, float(expected.df))
        assert close(result.ci[0], float(low)) and close(result.ci[1], float(high))
        assert close(result.difference, float(treatment.mean() - control.mean()))
        assert result.significant == (float(expected.pvalue) < alpha)
        checked += 1
    assert checked > 350


def test_mean_interval_equals_statsmodels_compare_means() -> None:
    rng = np.random.default_rng(5)
    for _ in range(50):
        control, treatment = rng.normal(0, 2, 40), rng.normal(0.5, 1, 70)
        result = mean_test(control, treatment, alpha=0.1)
        compare = CompareMeans(DescrStatsW(treatment), DescrStatsW(control))
        low, high = compare.tconfint_diff(alpha=0.1, usevar="unequal")
        assert close(result.ci[0], float(low)) and close(result.ci[1], float(high))


def test_constant_arms() -> None:
    same = mean_test([2.0, 2.0, 2.0], [2.0, 2.0])
    apart = mean_test([2.0, 2.0, 2.0], [3.0, 3.0])
    assert (same.p_value, same.ci, same.recommendation) == (
        1.0,
        (0.0, 0.0),
        "no significant difference",
    )
    assert (apart.p_value, apart.ci, apart.t) == (0.0, (1.0, 1.0), math.inf)
    assert math.isnan(same.df) and apart.lift == 0.5


def test_mean_lift_is_relative_to_the_control_mean() -> None:
    result = mean_test([9.0, 10.0, 11.0], [11.0, 12.0, 13.0])
    assert result.lift == pytest.approx(0.2)
    assert math.isnan(mean_test([-1.0, 1.0], [0.0, 2.0]).lift)
    assert (result.cuped, result.theta, result.variance_reduction) == (False, 0.0, 0.0)


@pytest.mark.parametrize(
    ("control", "treatment", "message"),
    [
        ([1.0], [1.0, 2.0], "control_values has 1 value"),
        ([1.0, 2.0], [], "treatment_values has 0 value"),
        ([1.0, math.nan], [1.0, 2.0], "control_values holds NaN or infinite values"),
        ([[1.0, 2.0]], [1.0, 2.0], "control_values must be one-dimensional"),
        (["a", "b"], [1.0, 2.0], "control_values must be a sequence of numbers"),
    ],
)
def test_bad_values_are_one_line_errors(control: object, treatment: object, message: str) -> None:
    with pytest.raises(ExperimentInputError, match=message):
        mean_test(control, treatment)  # type: ignore[arg-type]
