"""One column compared: its values read from Arrow, the test chosen and run, its picture.

A numerical column is read once as float64, its nulls, NaN and infinities dropped and
counted, and sorted once; the test, the histogram and the quantiles all read the sorted
arrays. A categorical column is counted by Arrow (``value_counts``), and the two sides'
counts are aligned on the reference's categories followed by the new ones.

The reference side of a numerical column is a :class:`NumericReference`: the sorted values
(:class:`SortedSample`, here) or a stored profile
(:mod:`skewless.monitoring.profile_drift`); both go through :func:`compare_numbers`, so the
test choice, the verdict and the pictures are decided once for both.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Literal, Protocol

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from skewless.errors import DriftInputError
from skewless.monitoring import stat_tests as st
from skewless.monitoring.report import ColumnDrift, Distribution, Quantiles

__all__ = [
    "CategoryCounts",
    "ColumnPlan",
    "NumericReference",
    "SortedSample",
    "align_categories",
    "arrow_counts",
    "categories_drift",
    "compare_column",
    "compare_numbers",
]

QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)
HISTOGRAM_BINS = 30
TOP_CATEGORIES = 20
LISTED_CATEGORIES = 100  # new/missing categories named in a report, at most
# Evidently 0.7 infers an integer column with this many distinct values or fewer as categorical
INTEGER_CARDINALITY_LIMIT = 10
# the default test choice (Evidently's DataDriftPreset)
SMALL_REFERENCE_ROWS = 1000
FEW_DISTINCT_VALUES = 5

Kind = Literal["numerical", "categorical", "integer"]  # "integer": numerical unless few values


@dataclass(frozen=True)
class ColumnPlan:
    """What to do with one column: its kind, the test named for it and the threshold."""

    name: str
    kind: Kind
    test: str | None = None
    threshold: float | None = None


@dataclass(frozen=True)
class CategoryCounts:
    """Category counts of both sides, aligned: the reference's categories, then the new ones."""

    reference: np.ndarray
    current: np.ndarray
    values: pa.Array | np.ndarray
    ref_categories: int  # the first ref_categories entries are the reference's


class NumericReference(Protocol):
    """The reference side of a numerical column, as the tests read it."""

    @property
    def rows(self) -> int:
        """The finite values compared."""
        ...

    @property
    def nulls(self) -> int:
        """Rows left out: null, NaN or infinite."""
        ...

    @property
    def low(self) -> float:
        """The smallest finite value."""
        ...

    @property
    def high(self) -> float:
        """The largest finite value."""
        ...

    @property
    def std(self) -> float:
        """The standard deviation of the finite values (ddof 0)."""
        ...

    @property
    def values(self) -> np.ndarray:
        """Sorted values: the sample itself, or with :attr:`weights` a weighted sample."""
        ...

    @property
    def weights(self) -> np.ndarray | None:
        """Integer weights of :attr:`values` summing to :attr:`rows`, or None (each value once)."""
        ...

    def distinct(self) -> int:
        """The reference's distinct values."""
        ...

    def distinct_with(self, current: np.ndarray) -> int:
        """Distinct values over the reference and the sorted current values, exact up to
        FEW_DISTINCT_VALUES + 1."""
        ...

    def value_counts(self) -> tuple[np.ndarray, np.ndarray]:
        """The distinct values, sorted, and how often each occurs."""
        ...

    def bin_shares(self, edges: np.ndarray) -> np.ndarray:
        """The share of the rows in each bin on ``edges`` (the last bin closed)."""
        ...


class SortedSample:
    """A reference of sorted finite values (every figure exact)."""

    def __init__(self, values: np.ndarray, nulls: int) -> None:
        self._values = values
        self._nulls = nulls

    @property
    def rows(self) -> int:
        return int(self._values.size)

    @property
    def nulls(self) -> int:
        return self._nulls

    @property
    def low(self) -> float:
        return float(self._values[0])

    @property
    def high(self) -> float:
        return float(self._values[-1])

    @cached_property
    def std(self) -> float:
        return float(np.std(self._values))

    @property
    def values(self) -> np.ndarray:
        return self._values

    @property
    def weights(self) -> np.ndarray | None:
        return None

    def distinct(self) -> int:
        return st.distinct_count(self._values)

    def distinct_with(self, current: np.ndarray) -> int:
        return union_distinct(self._values, current)

    def value_counts(self) -> tuple[np.ndarray, np.ndarray]:
        return st.value_counts(self._values)

    def bin_shares(self, edges: np.ndarray) -> np.ndarray:
        counts: np.ndarray = st.histogram_counts(self._values, edges) / self._values.size
        return counts


def compare_column(
    plan: ColumnPlan, reference: pa.ChunkedArray, current: pa.ChunkedArray
) -> ColumnDrift:
    """The drift of one column (plan.kind says how its values are read)."""
    if plan.kind == "categorical" and not _is_number(reference.type):
        ref_values, ref_counts = arrow_counts(reference)
        cur_values, cur_counts = arrow_counts(current)
        counts = align_categories(ref_values, ref_counts, cur_values, cur_counts)
        ref_nulls = len(reference) - int(ref_counts.sum())
        cur_nulls = len(current) - int(cur_counts.sum())
        return categories_drift(plan, counts, ref_nulls, cur_nulls, str(reference.type))
    return compare_numbers(plan, SortedSample(*_finite_sorted(reference)), current)


def compare_numbers(
    plan: ColumnPlan, ref: NumericReference, current: pa.ChunkedArray
) -> ColumnDrift:
    """The drift of a numerical column (or of numbers compared per value) from its reference."""
    cur, cur_nulls = _finite_sorted(current)
    _require_values(plan.name, ref.rows, cur.size)
    kind = plan.kind
    if kind == "integer":
        few = st.distinct_count(cur) <= INTEGER_CARDINALITY_LIMIT and current.null_count == 0
        kind = "categorical" if few else "numerical"
    test = plan.test or _default_test(kind, ref.rows, ref.distinct_with(cur))
    threshold = st.DEFAULT_THRESHOLDS[test] if plan.threshold is None else plan.threshold
    per_value = kind == "categorical" or test in ("chisquare", "z")
    if test in ("ks", "wasserstein"):
        per_value = False
    if per_value:
        counts = _aligned_values(*ref.value_counts(), *st.value_counts(cur))
        result = _category_test(test, counts)
        return _categorical_drift(plan.name, result, threshold, counts, ref.nulls, cur_nulls)
    statistic, p_value = _numeric_test(test, ref, cur)
    return ColumnDrift(
        column=plan.name,
        kind="numerical",
        test=test,
        statistic=statistic,
        threshold=threshold,
        p_value=p_value,
        drifted=st.is_drifted(test, statistic, p_value, threshold),
        reference_rows=ref.rows,
        current_rows=int(cur.size),
        reference_nulls=ref.nulls,
        current_nulls=cur_nulls,
        distribution=_histogram(ref, cur),
        quantiles=Quantiles(QUANTILES, _quantiles(ref.values, ref.weights), _quantiles(cur)),
    )


def _default_test(kind: str, reference_rows: int, distinct: int) -> str:
    """Evidently 0.7's choice (``_get_default_stattest``): values counted over both sides."""
    few = distinct <= FEW_DISTINCT_VALUES
    if reference_rows <= SMALL_REFERENCE_ROWS:
        if kind == "categorical" or few:
            return "chisquare" if distinct > 2 else "z"
        return "ks"
    return "jensenshannon" if kind == "categorical" or few else "wasserstein"


def _require_values(name: str, ref_rows: int, cur_rows: int) -> None:
    for side, rows in (("reference", ref_rows), ("current", cur_rows)):
        if rows == 0:
            raise DriftInputError(
                f"column {name!r} has no values in the {side} data (all null, NaN or "
                "infinite): leave it out with numerical=/categorical=, or fill it"
            )


# -- numerical ---------------------------------------------------------------------------------
def _is_number(t: pa.DataType) -> bool:
    return pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t)


def _finite_sorted(column: pa.ChunkedArray) -> tuple[np.ndarray, int]:
    """The finite values as sorted float64, and how many rows were null, NaN or infinite."""
    values = np.asarray(column.to_numpy(), dtype=np.float64)
    finite = np.isfinite(values)
    kept = values if finite.all() else values[finite]
    out = np.sort(kept)
    return out, int(values.size - out.size)


def union_distinct(ref: np.ndarray, cur: np.ndarray) -> int:
    """Distinct values over both sorted samples, exact up to FEW_DISTINCT_VALUES + 1."""
    many = FEW_DISTINCT_VALUES + 1
    if st.distinct_count(ref) >= many or st.distinct_count(cur) >= many:
        return max(st.distinct_count(ref), st.distinct_count(cur))
    return int(np.union1d(ref, cur).size)


def _numeric_test(test: str, ref: NumericReference, cur: np.ndarray) -> tuple[float, float | None]:
    if test == "wasserstein":
        return st.wasserstein(ref.values, cur, ref.weights, ref.std), None
    if test == "ks":
        return st.ks(ref.values, cur, ref.weights)
    shares = _binned_shares(ref, cur)
    return _distance(test, shares.reference, shares.current), None


def _binned_shares(ref: NumericReference, cur: np.ndarray) -> st.BinnedShares:
    """:func:`stat_tests.binned_shares` of the reference and the sorted current values."""
    if ref.distinct() > st.BIN_ABOVE_DISTINCT:
        first, last = min(ref.low, float(cur[0])), max(ref.high, float(cur[-1]))
        edges = st.sturges_edges(first, last, ref.rows + int(cur.size))
        return st.BinnedShares(
            ref.bin_shares(edges), st.histogram_counts(cur, edges) / cur.size, edges, None
        )
    return st.aligned_shares(*ref.value_counts(), *st.value_counts(cur))


def _distance(test: str, ref_shares: np.ndarray, cur_shares: np.ndarray) -> float:
    if test == "jensenshannon":
        return st.jensenshannon(ref_shares, cur_shares)
    if test == "psi":
        return st.psi(ref_shares, cur_shares)
    return st.kl_div(ref_shares, cur_shares)


def _quantiles(values: np.ndarray, weights: np.ndarray | None = None) -> tuple[float, ...]:
    """``np.quantile(values, QUANTILES)`` (linear) of a sorted array, or with ``weights`` of
    the sample holding each value that many times."""
    rows = values.size if weights is None else int(weights.sum())
    at = np.asarray(QUANTILES) * (rows - 1)
    low = np.floor(at).astype(np.int64)
    high = np.minimum(low + 1, rows - 1)
    frac = at - low
    if weights is not None:
        ends = np.cumsum(weights)
        low = np.searchsorted(ends, low, side="right")
        high = np.searchsorted(ends, high, side="right")
    out = values[low] + (values[high] - values[low]) * frac
    return tuple(float(x) for x in out)


def _histogram(ref: NumericReference, cur: np.ndarray) -> Distribution:
    """HISTOGRAM_BINS equal bins over the reference's range; current values outside it fall
    in one extra bin below and/or above (empty for the reference)."""
    low, high = ref.low, ref.high
    if low == high:
        low, high = low - 0.5, high + 0.5
    edges = np.linspace(low, high, HISTOGRAM_BINS + 1)
    ref_shares = ref.bin_shares(edges)
    cur_counts = st.histogram_counts(cur, edges)
    below = int(np.searchsorted(cur, low, side="left"))
    above = int(cur.size - np.searchsorted(cur, high, side="right"))
    bins, ref_parts, cur_parts = list(edges), list(ref_shares), list(cur_counts / cur.size)
    if below:
        bins.insert(0, float(cur[0]))
        ref_parts.insert(0, 0.0)
        cur_parts.insert(0, below / cur.size)
    if above:
        bins.append(float(cur[-1]))
        ref_parts.append(0.0)
        cur_parts.append(above / cur.size)
    return Distribution(
        reference=tuple(float(c) for c in ref_parts),
        current=tuple(float(c) for c in cur_parts),
        bins=tuple(float(b) for b in bins),
    )


# -- categories --------------------------------------------------------------------------------
def _aligned_values(
    ref_values: np.ndarray, ref_counts: np.ndarray, cur_values: np.ndarray, cur_counts: np.ndarray
) -> CategoryCounts:
    """Per-value counts of both sides (each side's distinct values sorted), aligned."""
    at = np.searchsorted(ref_values, cur_values)
    known = at < ref_values.size
    known[known] = ref_values[at[known]] == cur_values[known]
    cur_aligned = np.zeros(ref_values.size, dtype=np.int64)
    cur_aligned[at[known]] = cur_counts[known]
    return CategoryCounts(
        np.concatenate([ref_counts, np.zeros(int((~known).sum()), dtype=np.int64)]),
        np.concatenate([cur_aligned, cur_counts[~known]]),
        np.concatenate([ref_values, cur_values[~known]]),
        int(ref_values.size),
    )


def arrow_counts(column: pa.ChunkedArray) -> tuple[pa.Array, np.ndarray]:
    """The non-null values of a column and how often each occurs (in order of appearance)."""
    counted = pc.value_counts(column)
    values, counts = counted.field("values"), counted.field("counts")
    valid = values.is_valid()
    values, counts = values.filter(valid), counts.filter(valid)
    if pa.types.is_dictionary(values.type):
        values = values.dictionary_decode()
    return values, np.asarray(counts.to_numpy(zero_copy_only=False), dtype=np.int64)


def align_categories(
    ref_values: pa.Array, ref_counts: np.ndarray, cur_values: pa.Array, cur_counts: np.ndarray
) -> CategoryCounts:
    """Both sides' category counts on the reference's categories, then the new ones."""
    if cur_values.type != ref_values.type:
        cur_values = cur_values.cast(ref_values.type)
    at = pc.index_in(cur_values, value_set=ref_values)
    known = np.asarray(at.is_valid().to_numpy(zero_copy_only=False), dtype=bool)
    positions = np.asarray(at.fill_null(0).to_numpy(zero_copy_only=False), dtype=np.int64)
    cur_aligned = np.zeros(len(ref_values), dtype=np.int64)
    cur_aligned[positions[known]] = cur_counts[known]
    new_mask = pa.array(~known)
    values = pa.concat_arrays([ref_values, cur_values.filter(new_mask)])
    return CategoryCounts(
        np.concatenate([ref_counts, np.zeros(int((~known).sum()), dtype=np.int64)]),
        np.concatenate([cur_aligned, cur_counts[~known]]),
        values,
        len(ref_values),
    )


def categories_drift(
    plan: ColumnPlan, counts: CategoryCounts, ref_nulls: int, cur_nulls: int, type_text: str
) -> ColumnDrift:
    """The drift of a text or boolean column from both sides' aligned category counts."""
    ref_rows, cur_rows = int(counts.reference.sum()), int(counts.current.sum())
    _require_values(plan.name, ref_rows, cur_rows)
    distinct = len(counts.values)
    test = plan.test or _default_test("categorical", ref_rows, distinct)
    if test in ("ks", "wasserstein"):
        raise DriftInputError(
            f"test {test!r} needs numbers, and column {plan.name!r} holds text "
            f"({type_text}): choose jensenshannon, chisquare, z, psi or kl_div for it"
        )
    threshold = st.DEFAULT_THRESHOLDS[test] if plan.threshold is None else plan.threshold
    result = _category_test(test, counts)
    return _categorical_drift(plan.name, result, threshold, counts, ref_nulls, cur_nulls)


def _category_test(test: str, counts: CategoryCounts) -> tuple[str, float, float | None]:
    if test == "chisquare":
        return (test, *st.chisquare(counts.reference, counts.current))
    if test == "z":
        order = _sorted_order(counts.values)
        return (test, *st.z_test(counts.reference[order], counts.current[order]))
    if test in ("ks", "wasserstein"):
        raise AssertionError("numerical tests are handled before")  # pragma: no cover
    ref_shares, cur_shares = st.category_shares(counts.reference, counts.current)
    return test, _distance(test, ref_shares, cur_shares), None


def _sorted_order(values: pa.Array | np.ndarray) -> np.ndarray:
    if isinstance(values, np.ndarray):
        return np.argsort(values, kind="stable")
    return np.asarray(pc.sort_indices(values).to_numpy(zero_copy_only=False), dtype=np.int64)


def _names(values: pa.Array | np.ndarray, at: np.ndarray) -> list[str]:
    if isinstance(values, np.ndarray):
        return [_number_name(float(v)) for v in values[at]]
    return [str(v) for v in values.take(pa.array(at, pa.int64())).to_pylist()]


def _number_name(value: float) -> str:
    return str(int(value)) if value.is_integer() and abs(value) < 2**53 else repr(value)


def _categorical_drift(
    name: str,
    result: tuple[str, float, float | None],
    threshold: float,
    counts: CategoryCounts,
    ref_nulls: int,
    cur_nulls: int,
) -> ColumnDrift:
    test, statistic, p_value = result
    ref_rows, cur_rows = int(counts.reference.sum()), int(counts.current.sum())
    new_at = np.arange(counts.ref_categories, counts.reference.size)
    missing_at = np.flatnonzero(counts.current[: counts.ref_categories] == 0)
    return ColumnDrift(
        column=name,
        kind="categorical",
        test=test,
        statistic=statistic,
        threshold=threshold,
        p_value=p_value,
        drifted=st.is_drifted(test, statistic, p_value, threshold),
        reference_rows=ref_rows,
        current_rows=cur_rows,
        reference_nulls=ref_nulls,
        current_nulls=cur_nulls,
        new_categories=tuple(_names(counts.values, new_at[:LISTED_CATEGORIES])),
        missing_categories=tuple(_names(counts.values, missing_at[:LISTED_CATEGORIES])),
        distribution=_category_bars(counts, ref_rows, cur_rows),
    )


def _category_bars(counts: CategoryCounts, ref_rows: int, cur_rows: int) -> Distribution:
    """The TOP_CATEGORIES categories with the largest share on either side, then "other"."""
    ref_shares = counts.reference / ref_rows
    cur_shares = counts.current / cur_rows
    rank = np.argsort(-np.maximum(ref_shares, cur_shares), kind="stable")
    top = rank[:TOP_CATEGORIES]
    if isinstance(counts.values, np.ndarray):  # numbers read best in their order
        top = top[np.argsort(counts.values[top], kind="stable")]
    names = _names(counts.values, top)
    ref_part, cur_part = list(ref_shares[top]), list(cur_shares[top])
    if rank.size > TOP_CATEGORIES:
        rest = rank[TOP_CATEGORIES:]
        names.append("other" if "other" not in names else "(other)")
        ref_part.append(float(ref_shares[rest].sum()))
        cur_part.append(float(cur_shares[rest].sum()))
    return Distribution(
        reference=tuple(float(x) for x in ref_part),
        current=tuple(float(x) for x in cur_part),
        categories=tuple(names),
    )
