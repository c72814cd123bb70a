"""Each drift statistic against SciPy (the oracle) on random samples of many shapes."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats
from scipy.spatial import distance

from skewless.monitoring import stat_tests as t

RTOL = 1e-9
SHAPES = ("normal", "lognormal", "discrete", "ties", "uniform", "constant")


def sample(rng: np.random.Generator, shape: str, n: int, shift: float) -> np.ndarray:
    if shape == "normal":
        return rng.normal(shift, 1.0 + abs(shift), n)
    if shape == "lognormal":
        return rng.lognormal(shift, 1.0, n)
    if shape == "discrete":
        return rng.integers(0, 4 + int(abs(shift) * 3), n).astype(np.float64)
    if shape == "ties":
        return np.round(rng.normal(shift, 2.0, n), 1)
    if shape == "uniform":
        return rng.uniform(shift, shift + 10.0, n)
    return np.full(n, 3.0 + shift)


samples = st.tuples(
    st.integers(0, 2**32 - 1),
    st.sampled_from(SHAPES),
    st.sampled_from(SHAPES),
    st.one_of(st.integers(1, 12), st.integers(13, 3_000), st.integers(10_001, 30_000)),
    st.one_of(st.integers(1, 12), st.integers(13, 3_000), st.integers(10_001, 30_000)),
    st.sampled_from([0.0, 0.05, 0.5, 2.0]),
)


def draw(spec: tuple[int, str, str, int, int, float]) -> tuple[np.ndarray, np.ndarray]:
    seed, ref_shape, cur_shape, n, m, shift = spec
    rng = np.random.default_rng(seed)
    return sample(rng, ref_shape, n, 0.0), sample(rng, cur_shape, m, shift)


def close(a: float, b: float) -> bool:
    return bool(np.isclose(a, b, rtol=RTOL, atol=1e-300)) or (math.isinf(a) and a == b)


# -- numerical -----------------------------------------------------------------------------------
@settings(max_examples=300, deadline=None)
@given(samples)
def test_normed_wasserstein_equals_scipy(spec: tuple[int, str, str, int, int, float]) -> None:
    ref, cur = draw(spec)
    expected = stats.wasserstein_distance(ref, cur) / max(np.std(ref), 0.001)
    got = t.wasserstein(np.sort(ref), np.sort(cur))
    assert np.isclose(got, expected, rtol=RTOL, atol=1e-12), (got, expected)


@settings(max_examples=300, deadline=None)
@given(samples)
def test_ks_equals_scipy_ks_2samp(spec: tuple[int, str, str, int, int, float]) -> None:
    ref, cur = draw(spec)
    expected = stats.ks_2samp(ref, cur)
    d, p = t.ks(np.sort(ref), np.sort(cur))
    assert close(d, float(expected.statistic)), (d, expected.statistic)
    assert np.isclose(p, float(expected.pvalue), rtol=RTOL, atol=1e-300), (p, expected.pvalue)


def evidently_binned(ref: np.ndarray, cur: np.ndarray, fill: bool) -> tuple[np.ndarray, np.ndarray]:
    """Evidently 0.7's ``get_binned_data`` for a numerical column, written out with pandas."""
    r, c = pd.Series(ref), pd.Series(cur)
    if r.nunique() > 20:
        bins = np.histogram_bin_edges(pd.concat([r, c]).to_numpy(), bins="sturges")
        rp = np.histogram(r, bins)[0] / len(r)
        cp = np.histogram(c, bins)[0] / len(c)
    else:
        keys = list(set(r.unique()) | set(c.unique()))
        rv, cv = r.value_counts(), c.value_counts()
        rp = np.array([rv.get(k, 0) / len(r) for k in keys])
        cp = np.array([cv.get(k, 0) / len(c) for k in keys])
    if fill:
        for arr in (rp, cp):
            small = min(arr[arr != 0])
            np.place(arr, arr == 0, small / 10**6 if small <= 0.0001 else 0.0001)
    return rp, cp


def binned(ref: np.ndarray, cur: np.ndarray) -> t.BinnedShares:
    return t.binned_shares(np.sort(ref), np.sort(cur))


@settings(max_examples=200, deadline=None)
@given(samples)
def test_jensenshannon_equals_scipy_on_evidently_bins(
    spec: tuple[int, str, str, int, int, float],
) -> None:
    ref, cur = draw(spec)
    rp, cp = evidently_binned(ref, cur, fill=False)
    shares = binned(ref, cur)
    assert sorted(shares.reference) == pytest.approx(sorted(rp), rel=RTOL, abs=0)
    got = t.jensenshannon(shares.reference, shares.current)
    assert np.isclose(got, distance.jensenshannon(rp, cp), rtol=RTOL, atol=1e-12)


@settings(max_examples=200, deadline=None)
@given(samples)
def test_psi_and_kl_div_equal_their_definitions(
    spec: tuple[int, str, str, int, int, float],
) -> None:
    ref, cur = draw(spec)
    rp, cp = evidently_binned(ref, cur, fill=True)
    shares = binned(ref, cur)
    expected_psi = float(np.sum((rp - cp) * np.log(rp / cp)))
    assert np.isclose(t.psi(shares.reference, shares.current), expected_psi, rtol=RTOL, atol=1e-12)
    expected_kl = float(stats.entropy(rp, cp))
    got_kl = t.kl_div(shares.reference, shares.current)
    assert np.isclose(got_kl, expected_kl, rtol=RTOL, atol=1e-12)


def test_binning_follows_numpy_histogram_edges_and_closes_the_last_bin() -> None:
    rng = np.random.default_rng(3)
    ref, cur = rng.normal(size=5000), rng.normal(0.3, 1, 4000)
    shares = binned(ref, cur)
    edges = np.histogram_bin_edges(np.concatenate([ref, cur]), bins="sturges")
    assert shares.edges is not None and np.array_equal(shares.edges, edges)
    assert shares.reference.sum() == pytest.approx(1.0)
    assert shares.current.sum() == pytest.approx(1.0)


# -- categories --------------------------------------------------------------------------------
counts = st.tuples(
    st.integers(0, 2**32 - 1),
    st.integers(1, 30),
    st.sampled_from([5, 40, 800, 5_000, 200_000]),
    st.sampled_from([5, 40, 800, 5_000, 200_000]),
    st.booleans(),
)


def draw_counts(spec: tuple[int, int, int, int, bool]) -> tuple[np.ndarray, np.ndarray]:
    """Counts of k categories on both sides (a category may be absent from either side,
    never from both)."""
    seed, k, n, m, skewed = spec
    rng = np.random.default_rng(seed)
    w = rng.dirichlet(np.ones(k) * (0.3 if skewed else 3.0))
    ref = rng.multinomial(n, w)
    cur = rng.multinomial(m, rng.dirichlet(w * 50 + 0.01))
    keep = (ref + cur) > 0
    ref, cur = ref[keep], cur[keep]
    if ref.sum() == 0:
        ref[0] = 1
    if cur.sum() == 0:
        cur[0] = 1
    return ref.astype(np.int64), cur.astype(np.int64)


@settings(max_examples=300, deadline=None)
@given(counts)
def test_category_distances_equal_scipy(spec: tuple[int, int, int, int, bool]) -> None:
    ref, cur = draw_counts(spec)
    rp, cp = t.category_shares(ref, cur)
    assert np.isclose(
        t.jensenshannon(rp, cp), distance.jensenshannon(rp, cp), rtol=RTOL, atol=1e-12
    )
    frp, fcp = t.fill_zeroes(rp), t.fill_zeroes(cp)
    assert np.isclose(t.kl_div(rp, cp), stats.entropy(frp, fcp), rtol=RTOL, atol=1e-12)


@settings(max_examples=300, deadline=None)
@given(counts)
def test_chisquare_equals_scipy_chisquare(spec: tuple[int, int, int, int, bool]) -> None:
    ref, cur = draw_counts(spec)
    statistic, p = t.chisquare(ref, cur)
    if ref.size < 2:
        assert p == 1.0
        return
    f_exp = ref * (cur.sum() / ref.sum())
    with np.errstate(divide="ignore", invalid="ignore"):
        expected = stats.chisquare(cur, f_exp)
    assert close(statistic, float(expected.statistic)), (statistic, expected.statistic)
    assert np.isclose(p, float(expected.pvalue), rtol=RTOL, atol=1e-300)


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 5_000), st.integers(0, 5_000), st.integers(0, 5_000), st.integers(0, 5_000))
def test_z_test_equals_the_uncorrected_two_by_two_chisquare(a: int, b: int, c: int, d: int) -> None:
    """The pooled two-proportion z-test is the 2x2 chi-square without continuity correction:
    z^2 is its statistic and the p-values are equal."""
    ref, cur = np.array([a, b], dtype=np.int64), np.array([c, d], dtype=np.int64)
    if ref.sum() == 0 or cur.sum() == 0:
        return
    z, p = t.z_test(ref, cur)
    if a + c == 0 or b + d == 0:  # one category on both sides
        assert (z, p) == (0.0, 1.0)
        return
    expected = stats.chi2_contingency(np.array([ref, cur]), correction=False)
    assert np.isclose(z * z, expected.statistic, rtol=RTOL, atol=1e-12)
    assert np.isclose(p, expected.pvalue, rtol=1e-7, atol=1e-14)


# -- verdicts ----------------------------------------------------------------------------------
def test_verdicts_follow_evidently() -> None:
    assert t.is_drifted("ks", 0.3, 0.05, 0.05)
    assert not t.is_drifted("chisquare", 3.0, 0.05, 0.05)
    assert t.is_drifted("z", 3.0, 0.049, 0.05)
    assert t.is_drifted("wasserstein", 0.1, None, 0.1)
    assert not t.is_drifted("jensenshannon", 0.0999, None, 0.1)
    assert t.TEST_NAMES == (
        "chisquare",
        "jensenshannon",
        "kl_div",
        "ks",
        "psi",
        "wasserstein",
        "z",
    )
    assert t.DEFAULT_THRESHOLDS["psi"] == 0.1 and t.DEFAULT_THRESHOLDS["ks"] == 0.05
