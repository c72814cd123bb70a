"""The results of an experiment's statistics: small frozen records with a JSON-ready ``to_dict``.

Every test result carries a ``recommendation``, one of four fixed phrases:

======================== ===================================================================
``"promote challenger"`` significant, and the treatment (the challenger) does better
``"keep champion"``      significant, and the treatment does worse
``"no significant        a fixed-horizon test that is not significant: at the planned sample
difference"``            size keep the champion; before it, keep collecting (and never stop
                         on a peek: use :func:`~skewless.experiments.sequential_test`)
``"continue"``           a sequential test that is not significant yet: keep the experiment
                         running, it may be read again at any time
======================== ===================================================================

"Better" is a positive difference (treatment minus control), which is a positive lift whenever
the lift is defined (a control rate or mean of 0 leaves the lift undefined, ``nan``, and the
difference still decides).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any, Literal

from skewless.errors import ExperimentInputError

__all__ = [
    "CONTINUE",
    "KEEP_CHAMPION",
    "NO_SIGNIFICANT_DIFFERENCE",
    "PROMOTE_CHALLENGER",
    "MeanResult",
    "PowerResult",
    "ProportionResult",
    "SampleSize",
    "SequentialResult",
    "recommend",
]

PROMOTE_CHALLENGER = "promote challenger"
KEEP_CHAMPION = "keep champion"
NO_SIGNIFICANT_DIFFERENCE = "no significant difference"
CONTINUE = "continue"


def recommend(significant: bool, difference: float, *, sequential: bool) -> str:
    """The recommendation of a test from its verdict and the sign of its difference.

    Args:
        significant: whether the test rejected "no difference" at its alpha.
        difference: treatment minus control.
        sequential: whether the test may be read again (``"continue"`` when not significant)
            or is fixed-horizon (``"no significant difference"``).

    Returns:
        One of the four phrases of this module.
    """
    if significant and difference > 0:
        return PROMOTE_CHALLENGER
    if significant and difference < 0:
        return KEEP_CHAMPION
    return CONTINUE if sequential else NO_SIGNIFICANT_DIFFERENCE


def _plain(value: object) -> object:
    """A JSON-ready value: tuples become lists, ``nan`` becomes None."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, tuple):
        return [_plain(item) for item in value]
    return value


class _Record:
    """``to_dict`` for the frozen dataclasses below."""

    def to_dict(self) -> dict[str, object]:
        """The fields as a JSON-ready dict: the interval as a two-item list, ``nan`` (an
        undefined lift) as None."""
        return {f.name: _plain(getattr(self, f.name)) for f in fields(self)}  # type: ignore[arg-type]


@dataclass(frozen=True)
class ProportionResult(_Record):
    """A fixed-horizon two-proportion z-test (:func:`~skewless.experiments.proportion_test`).

    Attributes:
        control_rate: control conversions / control users.
        treatment_rate: treatment conversions / treatment users.
        difference: treatment rate - control rate.
        lift: difference / control rate (``nan`` when the control rate is 0).
        z: the pooled z statistic (0 when both rates are 0 or both are 1).
        p_value: two-sided p-value of the pooled z-test.
        ci: the Wald interval ``(low, high)`` of the difference at level 1 - alpha.
        alpha: the significance level.
        significant: ``p_value < alpha``.
        recommendation: see the module's table.
    """

    control_rate: float
    treatment_rate: float
    difference: float
    lift: float
    z: float
    p_value: float
    ci: tuple[float, float]
    alpha: float
    significant: bool
    recommendation: str


@dataclass(frozen=True)
class MeanResult(_Record):
    """A Welch t-test of two means, optionally CUPED-adjusted
    (:func:`~skewless.experiments.mean_test`).

    Attributes:
        control_mean: mean of the control values (before any CUPED adjustment).
        treatment_mean: mean of the treatment values (before any CUPED adjustment).
        difference: treatment mean - control mean; with CUPED, the difference of the adjusted
            means (the raw difference minus theta times the difference of the pre-period means).
        lift: difference / control mean (``nan`` when the control mean is 0).
        t: the Welch t statistic of the (adjusted) values.
        df: the Welch-Satterthwaite degrees of freedom (``nan`` when both arms are constant).
        p_value: two-sided p-value.
        ci: the Welch interval ``(low, high)`` of the (adjusted) difference at level 1 - alpha.
        alpha: the significance level.
        significant: ``p_value < alpha``.
        recommendation: see the module's table.
        cuped: whether the values were CUPED-adjusted by a pre-period covariate.
        theta: the CUPED coefficient cov(Y, X) / var(X) (0 without CUPED).
        variance_reduction: 1 - (standard error with CUPED / without)², the share of the
            variance of the estimated difference that CUPED removed (0 without CUPED).
    """

    control_mean: float
    treatment_mean: float
    difference: float
    lift: float
    t: float
    df: float
    p_value: float
    ci: tuple[float, float]
    alpha: float
    significant: bool
    recommendation: str
    cuped: bool
    theta: float
    variance_reduction: float


@dataclass(frozen=True)
class SequentialResult(_Record):
    """An always-valid mSPRT read of an experiment at its current size
    (:func:`~skewless.experiments.sequential_test`,
    :func:`~skewless.experiments.sequential_mean_test`).

    Attributes:
        metric: ``"proportion"`` or ``"mean"``.
        control_estimate: the control's conversion rate or mean.
        treatment_estimate: the treatment's conversion rate or mean.
        control_total: users (or values) of the control so far.
        treatment_total: users (or values) of the treatment so far.
        difference: treatment estimate - control estimate.
        lift: difference / control estimate (``nan`` when that is 0).
        p_value: the always-valid p-value: the smallest 1 / likelihood ratio over every look
            so far (capped at 1).
        ci: the confidence sequence ``(low, high)``: the intersection of every look's
            always-valid interval of the difference at level 1 - alpha.
        alpha: the significance level.
        tau: the standard deviation of the normal mixture, in standard deviations of one user.
        looks: how many times the experiment has been read, this look included.
        significant: ``p_value < alpha``.
        recommendation: see the module's table (``"continue"`` while not significant).
    """

    metric: Literal["proportion", "mean"]
    control_estimate: float
    treatment_estimate: float
    control_total: int
    treatment_total: int
    difference: float
    lift: float
    p_value: float
    ci: tuple[float, float]
    alpha: float
    tau: float
    looks: int
    significant: bool
    recommendation: str

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> SequentialResult:
        """The result :meth:`to_dict` saved (e.g. between two looks of a server), to pass as
        the next look's ``previous``.

        Args:
            data: the dict ``to_dict`` returned, possibly through JSON.

        Returns:
            The result.

        Raises:
            ExperimentInputError: a field is missing or of the wrong kind.
        """
        names = [f.name for f in fields(cls)]
        missing = [name for name in names if not isinstance(data, dict) or name not in data]
        if missing:
            raise ExperimentInputError(
                f"saved sequential result lacks {missing}: pass the dict to_dict returned"
            )
        values: dict[str, Any] = dict(data)
        try:
            low, high = values["ci"]
            values["ci"] = (float(low), float(high))
            values["lift"] = math.nan if values["lift"] is None else values["lift"]
            return cls(**{name: values[name] for name in names})
        except (TypeError, ValueError) as error:
            raise ExperimentInputError(
                f"saved sequential result is malformed ({error}): pass the dict to_dict returned"
            ) from None


@dataclass(frozen=True)
class SampleSize(_Record):
    """The users needed per arm to detect a relative lift
    (:func:`~skewless.experiments.sample_size`).

    Attributes:
        per_arm: users per arm, rounded up.
        total: users over both arms (``2 * per_arm``).
        baseline_rate: the control's expected conversion rate.
        treatment_rate: ``baseline_rate * (1 + min_detectable_lift)``.
        effect_size: Cohen's h of the two rates (its absolute value).
        alpha: the two-sided significance level.
        power: the power asked for.
    """

    per_arm: int
    total: int
    baseline_rate: float
    treatment_rate: float
    effect_size: float
    alpha: float
    power: float


@dataclass(frozen=True)
class PowerResult(_Record):
    """The power of a two-proportion test at given sizes (:func:`~skewless.experiments.power`).

    Attributes:
        power: the probability that the two-sided test is significant when the lift is real.
        control_total: users of the control.
        treatment_total: users of the treatment.
        baseline_rate: the control's conversion rate.
        treatment_rate: ``baseline_rate * (1 + lift)``.
        effect_size: Cohen's h of the two rates (its absolute value).
        alpha: the two-sided significance level.
    """

    power: float
    control_total: int
    treatment_total: int
    baseline_rate: float
    treatment_rate: float
    effect_size: float
    alpha: float
