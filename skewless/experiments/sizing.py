"""How many users an experiment on a conversion rate needs, and the power it has now.

Both use the normal approximation on Cohen's h, the arcsine-transformed difference of the two
rates, ``h = 2 asin(sqrt(p_t)) - 2 asin(sqrt(p_c))``, whose standard error is
``sqrt(1/n_c + 1/n_t)`` whatever the rates. The two-sided power at sizes ``n_c`` and ``n_t`` is

    Φ(|h| sqrt(n) - z_{1-alpha/2}) + Φ(-|h| sqrt(n) - z_{1-alpha/2}),  n = n_c n_t / (n_c + n_t)

exactly as ``statsmodels.stats.power.NormalIndPower().power(proportion_effectsize(p_t, p_c),
n_c, alpha, ratio=n_t / n_c)``; :func:`sample_size` solves it for equal arms as
``NormalIndPower().solve_power`` does and rounds up (the tests check both against statsmodels).
"""

from __future__ import annotations

import math
import numbers

from scipy import optimize, special

from skewless.errors import ExperimentInputError
from skewless.experiments._inputs import check_alpha, check_count, check_probability
from skewless.experiments.results import PowerResult, SampleSize

__all__ = ["cohens_h", "power", "sample_size"]


def cohens_h(control_rate: float, treatment_rate: float) -> float:
    """Cohen's h of two rates: ``2 asin(sqrt(treatment_rate)) - 2 asin(sqrt(control_rate))``
    (``statsmodels.stats.proportion.proportion_effectsize(treatment_rate, control_rate)``).

    Args:
        control_rate: a rate in [0, 1].
        treatment_rate: a rate in [0, 1].

    Returns:
        The signed effect size.

    Example:
        >>> round(cohens_h(0.10, 0.12), 4)
        0.064
    """
    return 2.0 * math.asin(math.sqrt(treatment_rate)) - 2.0 * math.asin(math.sqrt(control_rate))


def _two_sided_power(effect_size: float, effective_n: float, alpha: float) -> float:
    """The power of a two-sided z-test of a standardized effect with ``effective_n`` users."""
    crit = -float(special.ndtri(alpha / 2.0))
    shift = abs(effect_size) * math.sqrt(effective_n)
    return float(special.ndtr(shift - crit)) + float(special.ndtr(-shift - crit))


def _treatment_rate(baseline_rate: float, min_detectable_lift: float) -> float:
    """``baseline_rate * (1 + lift)``, checked to be a different rate in [0, 1]."""
    baseline = check_probability(baseline_rate, "baseline_rate", low_open=True, high_open=True)
    lift = min_detectable_lift
    if isinstance(lift, bool) or not isinstance(lift, numbers.Real) or not math.isfinite(lift):
        raise ExperimentInputError(
            f"min_detectable_lift must be a finite relative lift such as 0.05, got {lift!r}"
        )
    if lift == 0:
        raise ExperimentInputError(
            "min_detectable_lift is 0: no sample size detects no change; pass a relative "
            "lift such as 0.05 (5%)"
        )
    treatment = baseline * (1.0 + float(lift))
    if not 0.0 <= treatment <= 1.0:
        raise ExperimentInputError(
            f"baseline_rate {baseline} with min_detectable_lift {lift} makes a treatment rate "
            f"of {treatment:g}, outside [0, 1]: pass a smaller lift"
        )
    return treatment


def sample_size(
    baseline_rate: float,
    min_detectable_lift: float,
    alpha: float = 0.05,
    power: float = 0.8,
) -> SampleSize:
    """The users per arm a two-sided test needs to detect a relative lift of a conversion rate.

    The treatment rate is ``baseline_rate * (1 + min_detectable_lift)``; the answer is the
    smallest whole number of users per arm (both arms the same size) at which the power of the
    module's formula reaches ``power``: ``NormalIndPower().solve_power(effect_size=|h|,
    alpha=alpha, power=power)`` rounded up, h being Cohen's h of the two rates.

    Args:
        baseline_rate: the control's expected conversion rate, in (0, 1).
        min_detectable_lift: the smallest relative change worth detecting (0.05 is +5%;
            negative for a drop).
        alpha: the two-sided significance level, in (0, 1).
        power: the probability of detecting the lift when it is real, in (alpha, 1).

    Returns:
        A :class:`~skewless.experiments.results.SampleSize` (``per_arm``, ``total``, ...).

    Raises:
        ExperimentInputError: a rate or level outside its range, a lift of 0 or one that
            makes the treatment rate leave [0, 1], or a power not above alpha.

    Example:
        >>> sample_size(0.10, 0.10).per_arm
        14745
    """
    alpha = check_alpha(alpha)
    target = check_alpha(power, "power", "0.8")
    if target <= alpha:
        raise ExperimentInputError(
            f"power ({target}) must exceed alpha ({alpha}): a test has power alpha with no "
            "users at all; ask for a power such as 0.8"
        )
    treatment = _treatment_rate(baseline_rate, min_detectable_lift)
    h = abs(cohens_h(baseline_rate, treatment))
    crit = -float(special.ndtri(alpha / 2.0)) - float(special.ndtri(1.0 - target))
    # one tail alone needs n_eff = (crit / h)²; the opposite tail only adds power
    upper = 2.0 * (crit / h) ** 2

    def shortfall(per_arm: float) -> float:
        return _two_sided_power(h, per_arm / 2.0, alpha) - target

    exact = upper
    if shortfall(upper) > 0.0:
        exact = float(optimize.brentq(shortfall, upper * 1e-12, upper, xtol=1e-12, rtol=1e-15))
    per_arm = max(1, math.ceil(exact))
    return SampleSize(
        per_arm=per_arm,
        total=2 * per_arm,
        baseline_rate=float(baseline_rate),
        treatment_rate=treatment,
        effect_size=h,
        alpha=alpha,
        power=target,
    )


def power(
    baseline_rate: float,
    min_detectable_lift: float,
    control_total: int,
    treatment_total: int,
    alpha: float = 0.05,
) -> PowerResult:
    """The power a two-sided test has at its current sizes to detect a relative lift.

    Useful while an experiment runs (or after an inconclusive one): the chance that arms of
    ``control_total`` and ``treatment_total`` users show a significant difference if the
    treatment rate truly is ``baseline_rate * (1 + min_detectable_lift)``. The formula is the
    module's, as ``NormalIndPower().power(|h|, control_total, alpha,
    ratio=treatment_total / control_total)``.

    Args:
        baseline_rate: the control's conversion rate, in (0, 1).
        min_detectable_lift: the relative change to detect (0.05 is +5%).
        control_total: users of the control so far (at least 1).
        treatment_total: users of the treatment so far (at least 1).
        alpha: the two-sided significance level, in (0, 1).

    Returns:
        A :class:`~skewless.experiments.results.PowerResult`.

    Raises:
        ExperimentInputError: a rate or level outside its range, a lift of 0 or one that
            makes the treatment rate leave [0, 1], or a total that is not a positive count.

    Example:
        >>> round(power(0.10, 0.10, 14745, 14745).power, 3)
        0.8
    """
    alpha = check_alpha(alpha)
    treatment = _treatment_rate(baseline_rate, min_detectable_lift)
    n_c = check_count(control_total, "control_total")
    n_t = check_count(treatment_total, "treatment_total")
    for name, total in (("control_total", n_c), ("treatment_total", n_t)):
        if total == 0:
            raise ExperimentInputError(f"{name} is 0: power needs at least one user per arm")
    h = abs(cohens_h(baseline_rate, treatment))
    return PowerResult(
        power=_two_sided_power(h, 1.0 / (1.0 / n_c + 1.0 / n_t), alpha),
        control_total=n_c,
        treatment_total=n_t,
        baseline_rate=float(baseline_rate),
        treatment_rate=treatment,
        effect_size=h,
        alpha=alpha,
    )
