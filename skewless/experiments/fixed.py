"""Fixed-horizon tests of an A/B experiment: two proportions, and two means with optional CUPED.

A fixed-horizon test is valid when it is read once, at a sample size chosen in advance
(:func:`~skewless.experiments.sample_size`). Reading it at every look and stopping at the first
significant one inflates the false-positive rate far above alpha; an experiment read repeatedly
needs :func:`~skewless.experiments.sequential_test`.

The statistics agree with statsmodels and SciPy to 1e-9 relative (the tests check it on random
inputs): the z-test with ``statsmodels.stats.proportion.proportions_ztest``, its interval with
``confint_proportions_2indep(method="wald")``, the t-test and its interval with
``scipy.stats.ttest_ind(treatment, control, equal_var=False)``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
from scipy import special

from skewless.errors import ExperimentInputError
from skewless.experiments._inputs import check_alpha, check_counts, check_values
from skewless.experiments.results import MeanResult, ProportionResult, recommend

__all__ = ["mean_test", "proportion_test"]

FloatArray = npt.NDArray[np.float64]
Values = Sequence[float] | npt.ArrayLike


def _ratio(numerator: float, denominator: float) -> float:
    """``numerator / denominator``, ``nan`` when the denominator is 0 (an undefined lift)."""
    return numerator / denominator if denominator != 0 else math.nan


def proportion_test(
    control_conversions: int,
    control_total: int,
    treatment_conversions: int,
    treatment_total: int,
    alpha: float = 0.05,
) -> ProportionResult:
    """Compare two conversion rates with a two-sided pooled two-proportion z-test.

    With rates ``p_c = c_c / n_c`` and ``p_t = c_t / n_t`` and the pooled rate
    ``p = (c_c + c_t) / (n_c + n_t)``, the statistic is
    ``z = (p_t - p_c) / sqrt(p (1 - p) (1/n_c + 1/n_t))`` and the p-value ``2 Φ(-|z|)``, as
    ``statsmodels.stats.proportion.proportions_ztest``. When both rates are 0 or both are 1
    there is no evidence of a difference: z is 0 and the p-value 1. The interval is the Wald
    interval ``(p_t - p_c) ± z_{1-alpha/2} sqrt(p_c (1 - p_c)/n_c + p_t (1 - p_t)/n_t)``
    (unpooled), as ``confint_proportions_2indep(..., method="wald")``.

    Args:
        control_conversions: converted users of the control (the champion).
        control_total: users of the control.
        treatment_conversions: converted users of the treatment (the challenger).
        treatment_total: users of the treatment.
        alpha: the significance level, strictly between 0 and 1; the interval has level
            1 - alpha.

    Returns:
        A :class:`~skewless.experiments.results.ProportionResult`.

    Raises:
        ExperimentInputError: a count is negative or not whole, conversions exceed their
            total, a total is 0, or alpha is not in (0, 1).

    Example:
        >>> result = proportion_test(100, 1000, 130, 1000)
        >>> round(result.difference, 3), round(result.lift, 2), round(result.p_value, 4)
        (0.03, 0.3, 0.0355)
        >>> result.significant, result.recommendation
        (True, 'promote challenger')
    """
    alpha = check_alpha(alpha)
    c_conv, c_total, t_conv, t_total = check_counts(
        control_conversions, control_total, treatment_conversions, treatment_total
    )
    control_rate = c_conv / c_total
    treatment_rate = t_conv / t_total
    difference = treatment_rate - control_rate
    pooled = (c_conv + t_conv) / (c_total + t_total)
    null_variance = pooled * (1.0 - pooled) * (1.0 / c_total + 1.0 / t_total)
    if null_variance > 0.0:
        z = difference / math.sqrt(null_variance)
        p_value = min(1.0, 2.0 * float(special.ndtr(-abs(z))))
    else:
        z, p_value = 0.0, 1.0
    standard_error = math.sqrt(
        control_rate * (1.0 - control_rate) / c_total
        + treatment_rate * (1.0 - treatment_rate) / t_total
    )
    half_width = -float(special.ndtri(alpha / 2.0)) * standard_error
    significant = p_value < alpha
    return ProportionResult(
        control_rate=control_rate,
        treatment_rate=treatment_rate,
        difference=difference,
        lift=_ratio(difference, control_rate),
        z=z,
        p_value=p_value,
        ci=(difference - half_width, difference + half_width),
        alpha=alpha,
        significant=significant,
        recommendation=recommend(significant, difference, sequential=False),
    )


def _welch(
    control: FloatArray, treatment: FloatArray, alpha: float
) -> tuple[float, float, float, float, float, float]:
    """Welch's test of ``mean(treatment) - mean(control)``: the difference, its standard error,
    t, the Welch-Satterthwaite df, the two-sided p-value and the interval's half-width.

    Two constant arms leave no variance to test against: an equal pair has p-value 1, an
    unequal pair p-value 0, the df is undefined (nan) and the interval shrinks to the
    difference.
    """
    n_c, n_t = control.size, treatment.size
    difference = float(treatment.mean()) - float(control.mean())
    share_c = float(control.var(ddof=1)) / n_c
    share_t = float(treatment.var(ddof=1)) / n_t
    variance = share_c + share_t
    if variance == 0.0:
        p_value = 1.0 if difference == 0.0 else 0.0
        t = 0.0 if difference == 0.0 else math.copysign(math.inf, difference)
        return difference, 0.0, t, math.nan, p_value, 0.0
    standard_error = math.sqrt(variance)
    df = variance**2 / (share_c**2 / (n_c - 1) + share_t**2 / (n_t - 1))
    t = difference / standard_error
    p_value = min(1.0, 2.0 * float(special.stdtr(df, -abs(t))))
    half_width = float(special.stdtrit(df, 1.0 - alpha / 2.0)) * standard_error
    return difference, standard_error, t, df, p_value, half_width


def _cuped(
    control: FloatArray,
    treatment: FloatArray,
    covariate: tuple[Values, Values],
) -> tuple[FloatArray, FloatArray, float]:
    """The CUPED-adjusted values ``Y - theta (X - mean(X))`` of both arms and theta, with
    ``theta = cov(Y, X) / var(X)`` and the mean over both arms together."""
    if not isinstance(covariate, tuple | list) or len(covariate) != 2:
        raise ExperimentInputError(
            "covariate must be a pair (control_pre, treatment_pre) of pre-period values, "
            f"got {type(covariate).__name__}"
        )
    control_pre = check_values(covariate[0], "covariate control_pre")
    treatment_pre = check_values(covariate[1], "covariate treatment_pre")
    for arm, values, pre in (
        ("control", control, control_pre),
        ("treatment", treatment, treatment_pre),
    ):
        if pre.size != values.size:
            raise ExperimentInputError(
                f"covariate {arm}_pre has {pre.size} values and {arm}_values {values.size}: "
                "pass one pre-period value per user, in the same order"
            )
    x = np.concatenate([control_pre, treatment_pre])
    y = np.concatenate([control, treatment])
    x_variance = float(x.var(ddof=1))
    if x_variance == 0.0:
        raise ExperimentInputError(
            "the CUPED covariate is constant: pass a pre-period metric that varies between "
            "users, or covariate=None"
        )
    x_mean = float(x.mean())
    theta = float(np.dot(y - y.mean(), x - x_mean)) / (x.size - 1) / x_variance
    return (
        control - theta * (control_pre - x_mean),
        treatment - theta * (treatment_pre - x_mean),
        theta,
    )


def mean_test(
    control_values: Values,
    treatment_values: Values,
    alpha: float = 0.05,
    covariate: tuple[Values, Values] | None = None,
) -> MeanResult:
    """Compare two means with Welch's t-test, optionally reducing variance with CUPED.

    The difference is ``mean(treatment) - mean(control)``, its standard error
    ``sqrt(s_t²/n_t + s_c²/n_c)`` (sample variances, ddof 1), the degrees of freedom
    Welch-Satterthwaite's, and the p-value and interval those of
    ``scipy.stats.ttest_ind(treatment, control, equal_var=False)``.

    With ``covariate=(control_pre, treatment_pre)`` (one pre-period value per user, e.g. the
    same metric over the weeks before the experiment), the values are first CUPED-adjusted:
    ``theta = cov(Y, X) / var(X)`` over both arms together, ``Y' = Y - theta (X - mean(X))``,
    and the same Welch test runs on ``Y'``. The difference and interval are then those of the
    adjusted values (still an unbiased estimate of the effect, since the pre-period cannot be
    affected by the treatment); the interval narrows by the share of variance the covariate
    explains.

    Args:
        control_values: the metric of each control user (at least 2 finite values).
        treatment_values: the metric of each treatment user (at least 2 finite values).
        alpha: the significance level, strictly between 0 and 1.
        covariate: the pre-period values ``(control_pre, treatment_pre)``, aligned with the
            values, or None for no adjustment.

    Returns:
        A :class:`~skewless.experiments.results.MeanResult` (``cuped=True``, ``theta`` and
        ``variance_reduction`` when adjusted).

    Raises:
        ExperimentInputError: an arm has fewer than 2 values or a NaN, alpha is not in (0, 1),
            the covariate is not a pair of arrays aligned with the values, or it is constant.

    Example:
        >>> result = mean_test([3.0, 4.0, 5.0, 4.0], [5.0, 6.0, 5.5, 6.5])
        >>> result.difference, round(result.p_value, 4), result.recommendation
        (1.75, 0.0164, 'promote challenger')
    """
    alpha = check_alpha(alpha)
    control = check_values(control_values, "control_values")
    treatment = check_values(treatment_values, "treatment_values")
    control_mean, treatment_mean = float(control.mean()), float(treatment.mean())
    theta = 0.0
    variance_reduction = 0.0
    if covariate is not None:
        _, raw_error, *_ = _welch(control, treatment, alpha)
        control, treatment, theta = _cuped(control, treatment, covariate)
    difference, standard_error, t, df, p_value, half_width = _welch(control, treatment, alpha)
    if covariate is not None and raw_error > 0.0:
        variance_reduction = 1.0 - (standard_error / raw_error) ** 2
    significant = p_value < alpha
    return MeanResult(
        control_mean=control_mean,
        treatment_mean=treatment_mean,
        difference=difference,
        lift=_ratio(difference, control_mean),
        t=t,
        df=df,
        p_value=p_value,
        ci=(difference - half_width, difference + half_width),
        alpha=alpha,
        significant=significant,
        recommendation=recommend(significant, difference, sequential=False),
        cuped=covariate is not None,
        theta=theta,
        variance_reduction=variance_reduction,
    )
