"""Checks of the counts, values and settings given to the experiment statistics.

Each check raises :class:`~skewless.errors.ExperimentInputError` with one line naming the
argument, what was wrong with it and what to pass instead.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from skewless.errors import ExperimentInputError

__all__ = ["check_alpha", "check_count", "check_counts", "check_probability", "check_values"]


def check_alpha(alpha: float, name: str = "alpha", example: str = "0.05") -> float:
    """``alpha`` (or another level, named ``name``) as a float strictly between 0 and 1."""
    if isinstance(alpha, bool) or not isinstance(alpha, numbers.Real):
        raise ExperimentInputError(f"{name} must be a number between 0 and 1, got {alpha!r}")
    value = float(alpha)
    if not 0.0 < value < 1.0:
        raise ExperimentInputError(
            f"{name} must be strictly between 0 and 1 (e.g. {example}), got {alpha!r}"
        )
    return value


def check_probability(value: float, name: str, *, low_open: bool, high_open: bool) -> float:
    """``value`` as a float in [0, 1], the ends excluded as asked."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or math.isnan(value):
        raise ExperimentInputError(f"{name} must be a rate between 0 and 1, got {value!r}")
    number = float(value)
    too_low = number <= 0.0 if low_open else number < 0.0
    too_high = number >= 1.0 if high_open else number > 1.0
    if too_low or too_high:
        ends = ("(" if low_open else "[") + "0, 1" + (")" if high_open else "]")
        raise ExperimentInputError(f"{name} must be in {ends}, got {value!r}")
    return number


def check_count(value: int, name: str) -> int:
    """``value`` as a non-negative int (a whole float such as 10.0 is accepted)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ExperimentInputError(f"{name} must be a whole number of users, got {value!r}")
    if isinstance(value, numbers.Integral) or (math.isfinite(value) and float(value).is_integer()):
        number = int(value)
    else:
        raise ExperimentInputError(f"{name} must be a whole number of users, got {value!r}")
    if number < 0:
        raise ExperimentInputError(f"{name} must not be negative, got {number}")
    return number


def check_counts(
    control_conversions: int,
    control_total: int,
    treatment_conversions: int,
    treatment_total: int,
) -> tuple[int, int, int, int]:
    """The four counts of a two-proportion comparison, each checked and consistent."""
    checked = (
        check_count(control_conversions, "control_conversions"),
        check_count(control_total, "control_total"),
        check_count(treatment_conversions, "treatment_conversions"),
        check_count(treatment_total, "treatment_total"),
    )
    for arm, conversions, total in (("control", *checked[:2]), ("treatment", *checked[2:])):
        if total == 0:
            raise ExperimentInputError(
                f"{arm}_total is 0: an arm needs at least one user before it can be compared"
            )
        if conversions > total:
            raise ExperimentInputError(
                f"{arm}_conversions ({conversions}) exceeds {arm}_total ({total}): "
                "pass the number of converted users and the number of users of the arm"
            )
    return checked


def check_values(values: Sequence[float] | npt.ArrayLike, name: str) -> npt.NDArray[np.float64]:
    """``values`` as a 1-D float array of at least two finite values."""
    try:
        array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise ExperimentInputError(
            f"{name} must be a sequence of numbers, got {type(values).__name__}"
        ) from None
    if array.ndim != 1:
        raise ExperimentInputError(
            f"{name} must be one-dimensional (one value per user), got shape {array.shape}"
        )
    if array.size < 2:
        raise ExperimentInputError(
            f"{name} has {array.size} value(s): a variance needs at least 2 per arm"
        )
    if not np.all(np.isfinite(array)):
        raise ExperimentInputError(
            f"{name} holds NaN or infinite values: drop or fill them before testing"
        )
    return array
