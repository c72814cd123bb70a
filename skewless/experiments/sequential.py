"""Always-valid tests for experiments read repeatedly: the mixture sequential probability ratio
test (mSPRT) with a normal mixture, as in Johari, Koomen, Pekelis and Walsh, "Always Valid
Inference: Continuous Monitoring of A/B Tests" (Operations Research, 2022), the method of
Optimizely's Stats Engine.

The estimated difference ``d`` of the two arms is approximately normal around the true
difference ``θ`` with variance ``V``. Against "no difference" (``θ = 0``), the mSPRT weighs every
alternative by a normal mixture ``θ ~ N(0, τ_abs²)`` and measures the evidence by the likelihood
ratio

    Λ = sqrt(V / (V + τ_abs²)) exp(τ_abs² d² / (2 V (V + τ_abs²)))
      = (1 + r)^(-1/2) exp(r / (1 + r) · z² / 2),   z = d / sqrt(V),  r = τ_abs² / V.

Under no difference Λ is a martingale of mean 1, so by Ville's inequality the chance that it
*ever* reaches ``1/alpha``, at any look, is at most alpha. The always-valid p-value is the
smallest ``1/Λ`` over the looks so far; the confidence sequence at a look is the set of ``θ0``
whose ratio is below ``1/alpha``,

    d ± sqrt(V (1 + 1/r) (2 ln(1/alpha) + ln(1 + r))),

intersected with those of the earlier looks. Both stay valid however often the experiment is
read and whenever it is stopped.

The mixture's scale ``tau`` is given in standard deviations of one user's metric, so that
``r = tau² n_eff`` with ``n_eff = n_c n_t / (n_c + n_t)`` (half the users per arm for equal
arms) and one default serves every metric. The significance boundary on ``|z|`` is
``sqrt((1 + 1/r)(2 ln(1/alpha) + ln(1 + r)))``: at alpha 0.05 it is lowest, 3.04, at r ≈ 8, and
grows slowly past it (3.18 at r = 50, 3.5 at r = 500) but fast before it (3.66 at r = 1).
The default ``tau = 0.1`` puts the lowest boundary at about 1,600 users per arm and keeps it
below 3.5 up to 100,000 per arm: an experiment rarely decides before a thousand users, and a
mixture too wide costs far less than one too narrow. For experiments of millions of users
chasing effects of a hundredth of a standard deviation, a smaller ``tau`` (0.02) is better.

For proportions the p-value uses the pooled variance ``p (1 - p)(1/n_c + 1/n_t)`` (as the
fixed-horizon z-test does; no conversions, or only conversions, in both arms give p-value 1)
and the confidence sequence the unpooled one; for means both use Welch's
``s_c²/n_c + s_t²/n_t``. Variances are estimated at each look, as in Stats Engine; the normal
approximation wants a few dozen users (and a few conversions) per arm before the first read.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from typing import Literal

import numpy.typing as npt

from skewless.errors import ExperimentInputError
from skewless.experiments._inputs import check_alpha, check_counts, check_values
from skewless.experiments.results import SequentialResult, recommend

__all__ = ["DEFAULT_TAU", "sequential_mean_test", "sequential_test"]

DEFAULT_TAU = 0.1
"""The normal mixture's standard deviation, in standard deviations of one user's metric."""

Values = Sequence[float] | npt.ArrayLike


def _check_tau(tau: float) -> float:
    if isinstance(tau, bool) or not isinstance(tau, numbers.Real) or not math.isfinite(tau):
        raise ExperimentInputError(f"tau must be a positive number such as 0.1, got {tau!r}")
    if tau <= 0:
        raise ExperimentInputError(f"tau must be positive (the default is 0.1), got {tau!r}")
    return float(tau)


def _check_previous(
    previous: SequentialResult | None,
    metric: str,
    totals: tuple[int, int],
    alpha: float,
    tau: float,
) -> None:
    """``previous`` must be an earlier look at the same experiment, read the same way."""
    if previous is None:
        return
    if not isinstance(previous, SequentialResult):
        raise ExperimentInputError(
            "previous must be the SequentialResult of the experiment's last look, got "
            f"{type(previous).__name__}"
        )
    if previous.metric != metric:
        raise ExperimentInputError(
            f"previous is a {previous.metric} test and this look a {metric} test: pass the "
            "last look of the same test"
        )
    if (previous.alpha, previous.tau) != (alpha, tau):
        raise ExperimentInputError(
            f"previous was read with alpha={previous.alpha}, tau={previous.tau} and this look "
            f"with alpha={alpha}, tau={tau}: keep both fixed for the whole experiment"
        )
    if totals[0] < previous.control_total or totals[1] < previous.treatment_total:
        raise ExperimentInputError(
            f"the totals ({totals[0]}, {totals[1]}) are smaller than at the previous look "
            f"({previous.control_total}, {previous.treatment_total}): pass cumulative counts"
        )


def _msprt(
    difference: float,
    null_variance: float,
    variance: float,
    effective_n: float,
    tau: float,
    alpha: float,
) -> tuple[float, float, float]:
    """This look's ``1/Λ`` (capped at 1) and its always-valid interval of the difference."""
    r = tau * tau * effective_n
    if null_variance > 0.0:
        z_squared = difference * difference / null_variance
        log_ratio = -0.5 * math.log1p(r) + r / (1.0 + r) * z_squared / 2.0
        p_value = math.exp(-log_ratio) if log_ratio > 0.0 else 1.0
    else:
        p_value = 1.0 if difference == 0.0 else 0.0
    half_width = math.sqrt(
        variance * (1.0 + 1.0 / r) * (2.0 * math.log(1.0 / alpha) + math.log1p(r))
    )
    return p_value, difference - half_width, difference + half_width


def _result(
    metric: Literal["proportion", "mean"],
    estimates: tuple[float, float],
    totals: tuple[int, int],
    variances: tuple[float, float],
    alpha: float,
    tau: float,
    previous: SequentialResult | None,
) -> SequentialResult:
    control, treatment = estimates
    n_c, n_t = totals
    difference = treatment - control
    p_value, low, high = _msprt(
        difference, variances[0], variances[1], n_c * n_t / (n_c + n_t), tau, alpha
    )
    looks = 1
    if previous is not None:
        looks = previous.looks + 1
        p_value = min(p_value, previous.p_value)
        merged = (max(low, previous.ci[0]), min(high, previous.ci[1]))
        # an empty intersection means the normal approximation failed somewhere; the latest
        # interval is then the best available
        if merged[0] <= merged[1]:
            low, high = merged
    significant = p_value < alpha
    return SequentialResult(
        metric=metric,
        control_estimate=control,
        treatment_estimate=treatment,
        control_total=n_c,
        treatment_total=n_t,
        difference=difference,
        lift=difference / control if control != 0 else math.nan,
        p_value=p_value,
        ci=(low, high),
        alpha=alpha,
        tau=tau,
        looks=looks,
        significant=significant,
        recommendation=recommend(significant, difference, sequential=True),
    )


def sequential_test(
    control_conversions: int,
    control_total: int,
    treatment_conversions: int,
    treatment_total: int,
    alpha: float = 0.05,
    tau: float = DEFAULT_TAU,
    previous: SequentialResult | None = None,
) -> SequentialResult:
    """Read a conversion-rate experiment at any time, as often as wanted (mSPRT, see the module).

    Call it at each look with the cumulative counts so far. Passing the previous look's result
    as ``previous`` carries the running minimum of the p-value and the intersection of the
    confidence sequence; without it the result is this look's alone (still valid at this look,
    only not monotone over looks).

    Args:
        control_conversions: converted users of the control so far.
        control_total: users of the control so far.
        treatment_conversions: converted users of the treatment so far.
        treatment_total: users of the treatment so far.
        alpha: the significance level for the whole experiment, in (0, 1).
        tau: the normal mixture's standard deviation in standard deviations of one user
            (0.1; see the module for why).
        previous: the result of the experiment's previous look, or None at the first.

    Returns:
        A :class:`~skewless.experiments.results.SequentialResult` with ``metric="proportion"``.

    Raises:
        ExperimentInputError: a count is negative, conversions exceed their total, a total is
            0, alpha is not in (0, 1), tau is not positive, or ``previous`` belongs to another
            test (another metric, alpha or tau, or larger totals).

    Example:
        >>> first = sequential_test(100, 1000, 130, 1000)
        >>> round(first.p_value, 3), first.recommendation
        (0.388, 'continue')
        >>> later = sequential_test(400, 4000, 520, 4000, previous=first)
        >>> later.looks, round(later.p_value, 4), later.recommendation
        (2, 0.001, 'promote challenger')
    """
    alpha = check_alpha(alpha)
    tau = _check_tau(tau)
    c_conv, n_c, t_conv, n_t = check_counts(
        control_conversions, control_total, treatment_conversions, treatment_total
    )
    _check_previous(previous, "proportion", (n_c, n_t), alpha, tau)
    p_c, p_t = c_conv / n_c, t_conv / n_t
    pooled = (c_conv + t_conv) / (n_c + n_t)
    null_variance = pooled * (1.0 - pooled) * (1.0 / n_c + 1.0 / n_t)
    variance = p_c * (1.0 - p_c) / n_c + p_t * (1.0 - p_t) / n_t
    return _result(
        "proportion", (p_c, p_t), (n_c, n_t), (null_variance, variance), alpha, tau, previous
    )


def sequential_mean_test(
    control_values: Values,
    treatment_values: Values,
    alpha: float = 0.05,
    tau: float = DEFAULT_TAU,
    previous: SequentialResult | None = None,
) -> SequentialResult:
    """Read an experiment on a mean (revenue, time spent) at any time (mSPRT, see the module).

    Call it at each look with every value collected so far.

    Args:
        control_values: the metric of each control user so far (at least 2 finite values).
        treatment_values: the metric of each treatment user so far (at least 2).
        alpha: the significance level for the whole experiment, in (0, 1).
        tau: the normal mixture's standard deviation in standard deviations of one user.
        previous: the result of the experiment's previous look, or None at the first.

    Returns:
        A :class:`~skewless.experiments.results.SequentialResult` with ``metric="mean"``.

    Raises:
        ExperimentInputError: an arm has fewer than 2 values or a NaN, alpha is not in (0, 1),
            tau is not positive, or ``previous`` belongs to another test.

    Example:
        >>> result = sequential_mean_test([3.0, 4.0, 5.0, 4.0], [5.0, 6.0, 5.5, 6.5])
        >>> result.difference, result.recommendation
        (1.75, 'continue')
    """
    alpha = check_alpha(alpha)
    tau = _check_tau(tau)
    control = check_values(control_values, "control_values")
    treatment = check_values(treatment_values, "treatment_values")
    n_c, n_t = control.size, treatment.size
    _check_previous(previous, "mean", (n_c, n_t), alpha, tau)
    variance = float(control.var(ddof=1)) / n_c + float(treatment.var(ddof=1)) / n_t
    return _result(
        "mean",
        (float(control.mean()), float(treatment.mean())),
        (n_c, n_t),
        (variance, variance),
        alpha,
        tau,
        previous,
    )
