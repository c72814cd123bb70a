"""The drift tests: one statistic per column, each as Evidently 0.7 defines it.

Every function takes what it needs already prepared (sorted finite values for numerical
columns, aligned count vectors for categories) so that one column's data is sorted or counted
once and shared by its test, its picture and its quantiles. The numerical tests also take the
reference as a weighted sample (sorted values and integer weights, as a stored profile's
quantile sketch gives it) with its standard deviation known. The statistics agree with SciPy
(``scipy.stats``, ``scipy.spatial.distance``) to 1e-9 relative; the tests check it on random data.

========== ===================================== ============ =========================
name       statistic                              threshold    drifted when
========== ===================================== ============ =========================
ks         two-sample Kolmogorov-Smirnov D        0.05         p-value <= threshold
chisquare  chi-square of current counts vs        0.05         p-value < threshold
           reference proportions
z          two-proportion z statistic             0.05         p-value < threshold
wasserstein Wasserstein-1 / max(std(ref), 0.001)  0.1          statistic >= threshold
jensenshannon Jensen-Shannon distance (natural    0.1          statistic >= threshold
           log) of the binned shares
psi        population stability index             0.1          statistic >= threshold
kl_div     Kullback-Leibler divergence ref||cur   0.1          statistic >= threshold
========== ===================================== ============ =========================
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt
from scipy import stats

__all__ = [
    "BIN_ABOVE_DISTINCT",
    "DEFAULT_THRESHOLDS",
    "P_VALUE_TESTS",
    "TEST_NAMES",
    "BinnedShares",
    "StatResult",
    "aligned_shares",
    "binned_shares",
    "category_shares",
    "chisquare",
    "distinct_count",
    "fill_zeroes",
    "histogram_counts",
    "is_drifted",
    "jensenshannon",
    "kl_div",
    "ks",
    "psi",
    "sturges_edges",
    "value_counts",
    "wasserstein",
    "z_test",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
TestName = Literal["ks", "chisquare", "z", "wasserstein", "jensenshannon", "psi", "kl_div"]

DEFAULT_THRESHOLDS: dict[str, float] = {
    "ks": 0.05,
    "chisquare": 0.05,
    "z": 0.05,
    "wasserstein": 0.1,
    "jensenshannon": 0.1,
    "psi": 0.1,
    "kl_div": 0.1,
}
TEST_NAMES: tuple[str, ...] = tuple(sorted(DEFAULT_THRESHOLDS))
P_VALUE_TESTS = frozenset({"ks", "chisquare", "z"})

# ks_2samp's method="auto" is exact up to this many values per sample, asymptotic beyond.
_KS_EXACT_MAX_N = 10_000
# Evidently bins a numerical column (for psi, kl_div, jensenshannon) when its reference has
# more distinct values than this; below, each value is its own category.
BIN_ABOVE_DISTINCT = 20
_WASSERSTEIN_MIN_STD = 0.001


@dataclass(frozen=True)
class StatResult:
    """A test's outcome on one column: its statistic, p-value (tests that have one), verdict."""

    test: str
    statistic: float
    p_value: float | None
    threshold: float
    drifted: bool


def is_drifted(test: str, statistic: float, p_value: float | None, threshold: float) -> bool:
    """Evidently's verdict: ``ks`` drifts at p <= threshold, ``chisquare`` and ``z`` at
    p < threshold, the distances at statistic >= threshold."""
    if test == "ks":
        return p_value is not None and p_value <= threshold
    if test in P_VALUE_TESTS:
        return p_value is not None and p_value < threshold
    return bool(statistic >= threshold)


def distinct_count(sorted_values: FloatArray) -> int:
    """The number of distinct values of a sorted array."""
    if sorted_values.size == 0:
        return 0
    return int(np.count_nonzero(sorted_values[1:] != sorted_values[:-1])) + 1


# -- numerical: two sorted samples -------------------------------------------------------------
def _merged_cdfs(
    ref: FloatArray, cur: FloatArray, ref_weights: IntArray | None = None
) -> tuple[FloatArray, FloatArray]:
    """Both samples merged in order, and F_ref - F_cur at each merged value but the last.

    With ``ref_weights`` each reference value counts that many times. Within a run of equal
    values the difference is only right at the run's last element; the Wasserstein sum weighs
    the others by a zero gap, and ``ks`` reads only run ends.
    """
    n, m = ref.size, cur.size
    # a reference value follows every current value up to and including it
    at = np.searchsorted(cur, ref, side="right")
    at += np.arange(n, dtype=at.dtype)
    from_ref = np.zeros(n + m, dtype=bool)
    from_ref[at] = True
    merged = np.empty(n + m, dtype=np.float64)
    merged[at] = ref
    merged[~from_ref] = cur
    ref_below = np.cumsum(from_ref[:-1], dtype=np.int64)
    cur_below = np.arange(1, n + m, dtype=np.int64)
    cur_below -= ref_below
    total = n
    if ref_weights is not None:
        steps = np.zeros(n + m, dtype=np.int64)
        steps[from_ref] = ref_weights
        ref_below = np.cumsum(steps[:-1], dtype=np.int64)
        total = int(ref_weights.sum())
    diff = ref_below / total
    diff -= cur_below / m
    return merged, diff


def wasserstein(
    ref: FloatArray,
    cur: FloatArray,
    ref_weights: IntArray | None = None,
    ref_std: float | None = None,
) -> float:
    """``scipy.stats.wasserstein_distance(ref, cur, u_weights=ref_weights) / max(std(ref),
    0.001)`` (sorted inputs); ``ref_std`` (ddof 0) when the reference is a weighted sample."""
    merged, diff = _merged_cdfs(ref, cur, ref_weights)
    np.abs(diff, out=diff)
    distance = float(np.dot(diff, np.diff(merged)))
    std = float(np.std(ref)) if ref_std is None else ref_std
    return distance / max(std, _WASSERSTEIN_MIN_STD)


def ks(
    ref: FloatArray, cur: FloatArray, ref_weights: IntArray | None = None
) -> tuple[float, float]:
    """``scipy.stats.ks_2samp(ref, cur)`` (two-sided, method "auto"): D and its p-value.

    With ``ref_weights`` the reference is the sample holding each value that many times: its
    rows are the weights' sum.
    """
    n, m = (ref.size if ref_weights is None else int(ref_weights.sum())), cur.size
    if max(n, m) <= _KS_EXACT_MAX_N:
        sample = ref if ref_weights is None else np.repeat(ref, ref_weights)
        result = stats.ks_2samp(sample, cur)
        return float(result.statistic), float(result.pvalue)
    merged, diff = _merged_cdfs(ref, cur, ref_weights)
    run_end = merged[1:] != merged[:-1]
    inner = diff[run_end]
    # the last merged value ends a run where both CDFs are 1
    d = max(float(inner.max(initial=0.0)), float(-inner.min(initial=0.0)))
    d = min(max(d, 0.0), 1.0)
    big, small = float(max(n, m)), float(min(n, m))
    en = big * small / (big + small)
    p = float(stats.kstwo.sf(d, np.round(en)))
    return d, min(max(p, 0.0), 1.0)


@dataclass(frozen=True)
class BinnedShares:
    """Shares of the reference and current rows per bin or per value, as Evidently bins them."""

    reference: FloatArray
    current: FloatArray
    edges: FloatArray | None  # bin edges when binned, else None (one share per value)
    values: FloatArray | None  # the values when not binned


def sturges_edges(first: float, last: float, rows: int) -> FloatArray:
    """``np.histogram_bin_edges(values, bins="sturges")`` of ``rows`` values from ``first`` to
    ``last`` (their min and max)."""
    if first == last:
        first, last = first - 0.5, last + 0.5
    width = (last - first) / (math.log2(rows) + 1.0)
    bins = max(1, math.ceil((last - first) / width)) if width else 1
    return np.linspace(first, last, bins + 1, endpoint=True, dtype=np.float64)


def histogram_counts(sorted_values: FloatArray, edges: FloatArray) -> IntArray:
    """``np.histogram(values, edges)[0]`` of a sorted array (last bin closed on the right)."""
    below = np.searchsorted(sorted_values, edges[:-1], side="left")
    up_to_last = np.searchsorted(sorted_values, edges[-1:], side="right")
    return np.diff(np.concatenate([below, up_to_last])).astype(np.int64)


def value_counts(sorted_values: FloatArray) -> tuple[FloatArray, IntArray]:
    """The distinct values of a sorted array and how often each occurs."""
    if sorted_values.size == 0:
        return sorted_values[:0], np.zeros(0, dtype=np.int64)
    starts = np.flatnonzero(np.r_[True, sorted_values[1:] != sorted_values[:-1]])
    counts = np.diff(np.r_[starts, sorted_values.size]).astype(np.int64)
    return sorted_values[starts], counts


def aligned_shares(
    ref_values: FloatArray, ref_counts: IntArray, cur_values: FloatArray, cur_counts: IntArray
) -> BinnedShares:
    """One share per distinct value of either side (each side's values sorted and distinct,
    with their counts), as shares of each side's rows."""
    values = np.union1d(ref_values, cur_values)
    ref_aligned = np.zeros(values.size, dtype=np.int64)
    cur_aligned = np.zeros(values.size, dtype=np.int64)
    ref_aligned[np.searchsorted(values, ref_values)] = ref_counts
    cur_aligned[np.searchsorted(values, cur_values)] = cur_counts
    return BinnedShares(
        ref_aligned / ref_counts.sum(), cur_aligned / cur_counts.sum(), None, values
    )


def binned_shares(ref: FloatArray, cur: FloatArray) -> BinnedShares:
    """Evidently's ``get_binned_data`` for a numerical column (sorted inputs), without the
    zero filling: Sturges bins over both samples when the reference has more than 20
    distinct values, else one share per distinct value of either sample."""
    if distinct_count(ref) > BIN_ABOVE_DISTINCT:
        first, last = min(float(ref[0]), float(cur[0])), max(float(ref[-1]), float(cur[-1]))
        edges = sturges_edges(first, last, ref.size + cur.size)
        return BinnedShares(
            histogram_counts(ref, edges) / ref.size,
            histogram_counts(cur, edges) / cur.size,
            edges,
            None,
        )
    return aligned_shares(*value_counts(ref), *value_counts(cur))


# -- shares and counts -------------------------------------------------------------------------
def category_shares(ref_counts: IntArray, cur_counts: IntArray) -> tuple[FloatArray, FloatArray]:
    """Counts aligned on the same categories, as shares of each side's non-null rows."""
    return ref_counts / ref_counts.sum(), cur_counts / cur_counts.sum()


def fill_zeroes(shares: FloatArray) -> FloatArray:
    """Evidently's fill for empty bins (psi, kl_div): zeros become 0.0001, or the smallest
    non-zero share / 10**6 when that share is 0.0001 or less."""
    out = shares.astype(np.float64, copy=True)
    nonzero = out[out != 0]
    if nonzero.size == 0:
        return out
    smallest = float(nonzero.min())
    out[out == 0] = smallest / 10**6 if smallest <= 0.0001 else 0.0001
    return out


def _rel_entr(x: FloatArray, y: FloatArray) -> FloatArray:
    """``scipy.special.rel_entr``: x log(x/y), 0 where x is 0, inf where only y is 0."""
    with np.errstate(divide="ignore", invalid="ignore"):
        out = x * np.log(x / y)
    out = np.where(x == 0, 0.0, out)
    return np.where((x > 0) & (y == 0), np.inf, out)


def jensenshannon(ref_shares: FloatArray, cur_shares: FloatArray) -> float:
    """``scipy.spatial.distance.jensenshannon(ref, cur)`` (natural log), as Evidently calls it
    on the unfilled shares."""
    p = ref_shares / ref_shares.sum()
    q = cur_shares / cur_shares.sum()
    mid = (p + q) / 2.0
    js = float(np.sum(_rel_entr(p, mid))) + float(np.sum(_rel_entr(q, mid)))
    return math.sqrt(max(js / 2.0, 0.0))


def psi(ref_shares: FloatArray, cur_shares: FloatArray) -> float:
    """Population stability index of the zero-filled shares: sum((r - c) * ln(r / c))."""
    r, c = fill_zeroes(ref_shares), fill_zeroes(cur_shares)
    return float(np.sum((r - c) * np.log(r / c)))


def kl_div(ref_shares: FloatArray, cur_shares: FloatArray) -> float:
    """``scipy.stats.entropy(ref, cur)`` of the zero-filled shares: KL(reference || current)."""
    r, c = fill_zeroes(ref_shares), fill_zeroes(cur_shares)
    return float(np.sum(_rel_entr(r / r.sum(), c / c.sum())))


def chisquare(ref_counts: IntArray, cur_counts: IntArray) -> tuple[float, float]:
    """``scipy.stats.chisquare(cur, ref * n_cur / n_ref)``: statistic and p-value. A category
    absent from the reference makes the statistic infinite and the p-value 0."""
    expected = ref_counts * (cur_counts.sum() / ref_counts.sum())
    observed = cur_counts.astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = (observed - expected) ** 2 / expected
    terms = np.where((observed == expected), 0.0, terms)
    statistic = float(np.sum(terms))
    dof = ref_counts.size - 1
    p = float(stats.chi2.sf(statistic, dof)) if dof > 0 else 1.0
    return statistic, p


def z_test(ref_counts: IntArray, cur_counts: IntArray) -> tuple[float, float]:
    """Two-proportion z-test (pooled, two-sided) of the first category against the others,
    the categories sorted, as Evidently's ``z`` test: z statistic and p-value. A column with
    the same single value on both sides has z 0 and p-value 1."""
    if ref_counts.size <= 1:
        return 0.0, 1.0
    n1, n2 = int(ref_counts.sum()), int(cur_counts.sum())
    p1 = float(n1 - ref_counts[0]) / n1
    p2 = float(n2 - cur_counts[0]) / n2
    pooled = (p1 * n1 + p2 * n2) / (n1 + n2)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = (p1 - p2) / np.sqrt(pooled * (1 - pooled) * (1.0 / n1 + 1.0 / n2))
    if not np.isfinite(z):
        return 0.0, 1.0
    return float(z), float(2 * (1 - stats.norm.cdf(abs(z))))
