"""One column compared with its stored profile: the reference rows are never read again.

:func:`compare_to_profile` takes the same decisions as
:func:`~skewless.monitoring.column_drift.compare_column` (the default test, the integer
inference, new and missing categories, the pictures) through the same code: a numerical
column's profile is a :class:`~skewless.monitoring.column_drift.NumericReference`
(:class:`ProfileSample`), a text or boolean column's category counts are aligned with the
current ones as the current data's own would be.

What comes from where (docs/monitoring.md, "From a stored profile", says what is exact):

- rows, nulls, min, max and the standard deviation: the profile's exact figures;
- distinct values: the exact ``value_counts`` of a column of at most 100 values, else the
  distinct sketch;
- the sample every numerical test and picture reads: the exact ``value_counts`` of a column
  of at most 100 values (each value weighted by its count), else the quantile sketch's
  weighted sample (per-value counts then sum its weights per value);
- bin shares (Sturges bins, the picture's 30 bins): from ``value_counts`` when kept, else
  :meth:`ColumnProfile.bin_counts`;
- categories: the kept counts, and the profile's ``other`` as one bucket named ``other``.
"""

from __future__ import annotations

from functools import cached_property

import numpy as np
import pyarrow as pa

from skewless.errors import DriftInputError, ProfileError
from skewless.monitoring import stat_tests as st
from skewless.monitoring.column_drift import (
    CategoryCounts,
    ColumnPlan,
    align_categories,
    arrow_counts,
    categories_drift,
    compare_numbers,
    union_distinct,
)
from skewless.monitoring.profile import ColumnProfile
from skewless.monitoring.report import ColumnDrift

__all__ = ["OTHER_BUCKET", "ProfileSample", "compare_to_profile"]

OTHER_BUCKET = "other"
"""The name of the bucket that holds a text column's values beyond the profile's kept ones."""


def compare_to_profile(
    plan: ColumnPlan, reference: ColumnProfile, current: pa.ChunkedArray
) -> ColumnDrift:
    """The drift of one column from its reference profile (plan.kind says how it is read).

    Args:
        plan: the column's name, kind, test and threshold (as ``drift_report`` plans them).
        reference: the column's profile (format 2; a format 1 profile answers text columns).
        current: the column's current values.

    Returns:
        The column's :class:`~skewless.monitoring.ColumnDrift`, of the same shape as from the
        reference rows.

    Raises:
        ProfileError: a numerical column whose profile has no quantile sketch (format 1).
        DriftInputError: a column of a type without a drift test, or without values.
    """
    if reference.kind in ("categorical", "bool"):
        return _compare_categories(plan, reference, current)
    if reference.kind != "numeric":
        raise DriftInputError(
            f"column {plan.name!r} is {reference.type} in the reference profile, which has no "
            "drift test: leave it out, or cast it to numbers or text"
        )
    return compare_numbers(plan, ProfileSample(plan.name, reference), current)


class ProfileSample:
    """A numeric column's profile as the reference of a numerical test.

    Raises:
        ProfileError: the profile has no quantile sketch (format 1).
    """

    def __init__(self, name: str, column: ColumnProfile) -> None:
        if column.sketch is None:
            raise ProfileError(
                f"the reference profile of column {name!r} (format {column.format_version}) has "
                "no quantile sketch: re-profile the dataset with `skewless datasets profile NAME`"
            )
        self._column = column

    @property
    def rows(self) -> int:
        return self._column.count

    @property
    def nulls(self) -> int:
        return self._column.nulls + self._column.infinite

    @property
    def low(self) -> float:
        return float(self._column.min)  # type: ignore[arg-type]

    @property
    def high(self) -> float:
        return float(self._column.max)  # type: ignore[arg-type]

    @property
    def std(self) -> float:
        return self._column.std(0) or 0.0

    @cached_property
    def _sample(self) -> tuple[np.ndarray, np.ndarray]:
        """The exact per-value counts when the profile keeps them, else the sketch's sample."""
        counted = self._column.value_counts
        if counted is not None:
            values = np.array(sorted(counted), dtype=np.float64)
            return values, np.array([counted[v] for v in values.tolist()], dtype=np.int64)
        return self._column.weighted_sample()

    @property
    def values(self) -> np.ndarray:
        return self._sample[0]

    @property
    def weights(self) -> np.ndarray:
        return self._sample[1]

    def distinct(self) -> int:
        counted = self._column.value_counts
        if counted is not None:
            return len(counted)
        estimate = self._column.distinct_count
        return estimate if estimate is not None else st.distinct_count(self.values)

    def distinct_with(self, current: np.ndarray) -> int:
        if self._column.value_counts is not None:
            return union_distinct(self.values, current)
        return max(self.distinct(), st.distinct_count(current))

    def value_counts(self) -> tuple[np.ndarray, np.ndarray]:
        values, weights = self._sample
        if self._column.value_counts is not None:
            return values, weights
        starts = np.flatnonzero(np.r_[True, values[1:] != values[:-1]])
        return values[starts], np.add.reduceat(weights, starts).astype(np.int64)

    def bin_shares(self, edges: np.ndarray) -> np.ndarray:
        if self._column.value_counts is not None:
            values, weights = self._sample
            at = np.searchsorted(values, edges[:-1], side="left")
            at = np.r_[at, np.searchsorted(values, edges[-1:], side="right")]
            below = np.r_[0, np.cumsum(weights)][at]
            exact: np.ndarray = np.diff(below) / self._column.count
            return exact
        counts, _ = self._column.bin_counts(edges.tolist())
        shares: np.ndarray = counts[1:-1] / self._column.count
        return shares


def _compare_categories(
    plan: ColumnPlan, reference: ColumnProfile, current: pa.ChunkedArray
) -> ColumnDrift:
    kept = reference.categories or {}
    names = list(kept)
    if reference.kind == "bool":
        ref_values = pa.array([n == "true" for n in names], pa.bool_())
    else:
        ref_values = pa.array(names, pa.string())
    ref_counts = np.array([kept[n] for n in names], dtype=np.int64)
    cur_values, cur_counts = arrow_counts(current)
    counts = align_categories(ref_values, ref_counts, cur_values, cur_counts)
    if reference.other:
        counts = _with_other_bucket(counts, reference.other, OTHER_BUCKET in kept)
    cur_nulls = len(current) - int(cur_counts.sum())
    return categories_drift(plan, counts, reference.nulls, cur_nulls, reference.type)


def _with_other_bucket(counts: CategoryCounts, other: int, taken: bool) -> CategoryCounts:
    """The reference's values beyond its kept ones as one bucket, which holds the current
    values the kept ones do not: the profile cannot tell a new value from a rare one."""
    k = counts.ref_categories
    assert isinstance(counts.values, pa.Array)
    name = pa.array(["(other)" if taken else OTHER_BUCKET]).cast(counts.values.type)
    return CategoryCounts(
        np.append(counts.reference[:k], other),
        np.append(counts.current[:k], counts.current[k:].sum()),
        pa.concat_arrays([counts.values.slice(0, k), name]),
        k + 1,
    )
