"""Profiles against exact numpy/scipy figures on random data, merges, the sketch's bounds and
the format 1 statistics."""

from __future__ import annotations

import itertools
import math
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import scipy.stats
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.spatial.distance import jensenshannon

from skewless.dataset_stats import column_stats
from skewless.errors import ProfileError
from skewless.monitoring.profile import ColumnProfile, Profile
from skewless.monitoring.profile_build import build_profile, equal_width_bins

floats = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False)
float_cells = st.one_of(floats, st.none(), st.just(math.nan), st.just(math.inf), st.just(-math.inf))
EDGES = [-1e5, -10.0, -1.0, 0.0, 0.5, 1.0, 10.0, 1e5]


def finite(values: list[Any]) -> np.ndarray:
    out = np.array([v for v in values if v is not None], dtype=np.float64)
    return out[np.isfinite(out)]


def close(a: float | None, b: float, scale: float) -> bool:
    return a is not None and abs(a - b) <= 1e-9 * max(abs(b), scale, 1.0)


@settings(max_examples=60, deadline=None)
@given(st.lists(float_cells, min_size=1, max_size=300), st.integers(1, 50))
def test_exact_figures_equal_numpy(values: list[Any], batch_rows: int) -> None:
    profile = build_profile(
        pa.table({"x": pa.array(values, pa.float64())}), bins={"x": EDGES}, batch_rows=batch_rows
    )
    x = profile["x"]
    exact = finite(values)
    assert x.rows == len(values) == profile.rows
    assert x.count == exact.size
    assert x.nulls == sum(v is None or (isinstance(v, float) and math.isnan(v)) for v in values)
    assert x.infinite == sum(v is not None and math.isinf(v) for v in values)
    assert x.distinct_count == np.unique(exact).size
    if np.unique(exact).size <= 100:
        u, c = np.unique(exact, return_counts=True)
        assert x.value_counts == {float(a): int(b) for a, b in zip(u, c, strict=True)}
    else:
        assert x.value_counts is None
    assert x.histogram is not None
    counts, _ = np.histogram(exact[(exact >= EDGES[0]) & (exact <= EDGES[-1])], bins=EDGES)
    assert list(x.histogram.counts) == counts.tolist()
    assert x.histogram.below == int((exact < EDGES[0]).sum())
    assert x.histogram.above == int((exact > EDGES[-1]).sum())
    if exact.size == 0:
        assert x.mean is None and x.min is None and math.isnan(x.quantiles([0.5])[0])
        return
    scale = float(np.abs(exact).max())
    assert x.min == exact.min() and x.max == exact.max()
    assert close(x.mean, float(exact.mean()), scale)
    assert close(x.variance(), float(exact.var()), scale**2)
    if exact.size > 1:
        assert close(x.std(ddof=1), float(exact.std(ddof=1)), scale)
    # below its k values the sketch holds every value: its quantiles are exact order statistics
    assert x.quantiles([0.0, 1.0]) == [exact.min(), exact.max()]


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.one_of(st.integers(-5, 5), st.none()), min_size=1, max_size=200),
    st.lists(st.one_of(st.sampled_from(["a", "b", "c", "é", ""]), st.none()), min_size=1),
)
def test_integers_strings_and_bools(ints: list[int | None], strings: list[str | None]) -> None:
    n = min(len(ints), len(strings))
    ints, strings = ints[:n], strings[:n]
    bools = [None if v is None else v > 0 for v in ints]
    table = pa.table(
        {
            "i": pa.array(ints, pa.int64()),
            "s": pa.array(strings, pa.string()),
            "b": pa.array(bools, pa.bool_()),
        }
    )
    profile = build_profile(table, batch_rows=7)
    exact = finite([float(v) if v is not None else None for v in ints])
    assert profile["i"].count == exact.size and profile["i"].distinct_count == len(set(exact))
    present = [s for s in strings if s is not None]
    expected = {v: present.count(v) for v in set(present)}
    assert profile["s"].kind == "categorical" and profile["s"].categories == expected
    assert profile["s"].nulls == n - len(present) and profile["s"].other == 0
    present_b = [b for b in bools if b is not None]
    want_b = {
        k: v for k, v in {"true": sum(present_b), "false": present_b.count(False)}.items() if v
    }
    assert profile["b"].kind == "bool" and profile["b"].categories == want_b


def random_table(rng: np.random.Generator, rows: int) -> pa.Table:
    x = rng.normal(size=rows)
    x[rng.random(rows) < 0.05] = np.nan
    return pa.table(
        {
            "x": x,
            "g": rng.gamma(2.0, 3.0, rows),
            "i": rng.integers(0, 20, rows),
            "s": pa.array(rng.choice(["a", "b", "c", "d"], rows)),
            "b": rng.random(rows) < 0.3,
        }
    )


def assert_same(a: Profile, b: Profile) -> None:
    assert a.rows == b.rows and list(a.columns) == list(b.columns)
    for name, x in a.columns.items():
        y = b.columns[name]
        assert (x.kind, x.count, x.nulls, x.infinite, x.min, x.max) == (
            y.kind, y.count, y.nulls, y.infinite, y.min, y.max,
        )  # fmt: skip
        assert x.histogram == y.histogram and x.categories == y.categories and x.other == y.other
        assert x.value_counts == y.value_counts
        if x.distinct is not None and y.distinct is not None:
            assert np.array_equal(x.distinct.hashes, y.distinct.hashes)
        if x.mean is not None and y.mean is not None:
            assert math.isclose(x.mean, y.mean, rel_tol=1e-9, abs_tol=1e-12)
            assert math.isclose(x.m2, y.m2, rel_tol=1e-9, abs_tol=1e-9)


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2**32 - 1), st.lists(st.integers(0, 3000), min_size=2, max_size=4))
def test_merging_parts_equals_the_whole_and_is_associative(seed: int, cuts: list[int]) -> None:
    rng = np.random.default_rng(seed)
    table = random_table(rng, 3000)
    bins = equal_width_bins(table, ["x", "g", "i"], 30)
    bounds = [0, *sorted(cuts), 3000]
    parts = [build_profile(table.slice(a, b - a), bins=bins) for a, b in itertools.pairwise(bounds)]
    whole = build_profile(table, bins=bins, batch_rows=500)
    assert_same(Profile.merge_all(parts), whole)
    a, b, c = parts[0], parts[1], Profile.merge_all(parts[2:])
    assert_same(a.merge(b).merge(c), a.merge(b.merge(c)))


def true_rank_error(values: np.ndarray, profile: ColumnProfile, q: np.ndarray) -> float:
    ordered = np.sort(values)
    found = np.array(profile.quantiles(q.tolist()))
    low = np.searchsorted(ordered, found, side="left") / values.size
    high = np.searchsorted(ordered, found, side="right") / values.size
    return float(np.max(np.maximum(0.0, np.maximum(low - q, q - high))))


@pytest.mark.parametrize("seed", range(4))
def test_quantiles_are_within_the_sketch_rank_error(seed: int) -> None:
    rng = np.random.default_rng(seed)
    values = np.concatenate([rng.lognormal(0, 2, 150_000), rng.normal(5, 1, 50_000)])
    rng.shuffle(values)
    q = np.linspace(0.0, 1.0, 201)
    one = build_profile(pa.table({"v": values}), batch_rows=1 << 14)["v"]
    parts = [build_profile(pa.table({"v": part})) for part in np.array_split(values, 5)]
    merged = Profile.merge_all(parts)["v"]
    for profile in (one, merged):
        assert 0 < profile.rank_error < 0.01
        assert true_rank_error(values, profile, q) <= profile.rank_error


@pytest.mark.parametrize("seed", range(4))
def test_wasserstein_from_the_sketch_is_within_its_bound(seed: int) -> None:
    rng = np.random.default_rng(seed)
    reference = rng.gamma(2.0, 2.0, 300_000)
    current = rng.gamma(2.2, 2.0, 50_000) + 0.1
    ref = build_profile(pa.table({"v": reference}))["v"]
    cur = build_profile(pa.table({"v": current}))["v"]
    exact = scipy.stats.wasserstein_distance(reference, current)
    values, weights = ref.weighted_sample()
    assert weights.sum() == reference.size
    one_side = scipy.stats.wasserstein_distance(values, current, u_weights=weights)
    assert abs(one_side - exact) <= ref.wasserstein_bound()
    cv, cw = cur.weighted_sample()
    both = scipy.stats.wasserstein_distance(values, cv, u_weights=weights, v_weights=cw)
    assert abs(both - exact) <= ref.wasserstein_bound() + cur.wasserstein_bound()


def test_histogram_statistics_on_the_stored_bins_are_exact() -> None:
    rng = np.random.default_rng(3)
    reference, current = rng.normal(size=100_000), rng.normal(0.2, 1.1, 20_000)
    edges = np.quantile(reference, np.linspace(0, 1, 11))
    edges[0], edges[-1] = -np.inf, np.inf
    edges = edges[1:-1]
    ref = build_profile(pa.table({"v": reference}), bins={"v": edges.tolist()})["v"]
    cur = build_profile(pa.table({"v": current}), bins={"v": edges.tolist()})["v"]
    assert ref.histogram is not None and cur.histogram is not None

    def shares(h: Any) -> np.ndarray:
        counts = np.array([h.below, *h.counts, h.above], dtype=float)
        return counts / counts.sum()

    full = np.concatenate([[-np.inf], edges, [np.inf]])
    exact_ref = np.histogram(reference, full)[0] / reference.size
    exact_cur = np.histogram(current, full)[0] / current.size
    assert np.array_equal(shares(ref.histogram), exact_ref)
    assert jensenshannon(shares(ref.histogram), shares(cur.histogram)) == jensenshannon(
        exact_ref, exact_cur
    )


def test_categories_past_the_cap_go_to_other() -> None:
    values = [f"v{i % 30}" for i in range(3000)] + ["rare"]
    profile = build_profile(pa.table({"s": values}), top_k=10, batch_rows=100)["s"]
    assert profile.categories is not None and len(profile.categories) == 10
    assert profile.other == 3001 - sum(profile.categories.values())
    assert profile.distinct_count == 31


def test_serialization_round_trip_keeps_every_figure(tmp_path: Path) -> None:
    table = random_table(np.random.default_rng(1), 5000)
    table = table.append_column("t", pa.array(np.arange(5000) * 10**9, pa.timestamp("ns", "UTC")))
    profile = build_profile(table, bins=10)
    again = Profile.load(profile.save(tmp_path / "p.json"))
    assert_same(profile, again)
    assert again["x"].quantiles([0.1, 0.9]) == profile["x"].quantiles([0.1, 0.9])
    assert again["t"].kind == "time" and again["t"].min == "1970-01-01T00:00:00+00:00"
    assert orjson_version(tmp_path / "p.json") == 2


def orjson_version(path: Path) -> int:
    import orjson

    return int(orjson.loads(path.read_bytes())["format_version"])


def test_parquet_is_read_batch_by_batch_with_the_same_profile(tmp_path: Path) -> None:
    table = random_table(np.random.default_rng(2), 10_000)
    pq.write_table(table, tmp_path / "a.parquet", row_group_size=1000)
    from_file = build_profile(tmp_path / "a.parquet", batch_rows=700, bins=8)
    assert_same(from_file, build_profile(table, bins=8))
    assert_same(build_profile(table.to_pandas()), build_profile(table))


def test_format_1_statistics_read_and_say_when_to_re_profile() -> None:
    rng = np.random.default_rng(0)
    table = random_table(rng, 2000)
    stats = {c: column_stats(table.column(c)) for c in table.column_names}
    types = {"x": "Float64", "g": "Float64", "i": "Int64", "s": "String", "b": "Bool"}
    old = Profile.from_dataset_stats(table.num_rows, stats, types)
    new = build_profile(table)
    assert old.format_version == 1
    for name in ("x", "g", "i"):
        assert old[name].count == new[name].count and old[name].nulls == new[name].nulls
        assert math.isclose(old[name].mean or 0, new[name].mean or 0, rel_tol=1e-9)
        assert math.isclose(old[name].variance() or 0, new[name].variance() or 0, rel_tol=1e-9)
        assert old[name].quantiles([0.5]) == [stats[name]["quantiles"]["0.5"]]
    assert old["s"].categories == new["s"].categories and old["b"].kind == "bool"
    with pytest.raises(ProfileError, match="skewless datasets profile NAME"):
        old["x"].quantiles([0.3])
    with pytest.raises(ProfileError, match="skewless datasets profile NAME"):
        old["x"].weighted_sample()
    with pytest.raises(ProfileError, match="skewless datasets profile NAME"):
        old.merge(new)


def test_unreadable_formats_and_mismatched_merges_are_clear() -> None:
    with pytest.raises(ProfileError, match="profile format 7"):
        Profile.from_bytes(b'{"format_version": 7, "rows": 0, "columns": {}}')
    a = build_profile(pa.table({"c": [1.0]}))
    b = build_profile(pa.table({"c": ["x"]}))
    with pytest.raises(ProfileError, match="different types"):
        a.merge(b)
    with pytest.raises(ProfileError, match="different bins"):
        build_profile(pa.table({"c": [1.0]}), bins={"c": [0, 1]}).merge(
            build_profile(pa.table({"c": [1.0]}), bins={"c": [0, 2]})
        )
    with pytest.raises(ProfileError, match="cannot profile columns"):
        build_profile(pa.table({"c": [1.0]}), columns=["d"])


def test_a_column_missing_from_one_part_counts_as_null_there() -> None:
    a = build_profile(pa.table({"x": [1.0, 2.0], "y": [1, 2]}))
    b = build_profile(pa.table({"x": [3.0]}))
    merged = a.merge(b)
    assert merged.rows == 3 and merged["y"].nulls == 1 and merged["y"].count == 2


def test_bin_counts_are_exact_on_the_stored_edges_and_near_elsewhere() -> None:
    rng = np.random.default_rng(5)
    values = rng.normal(size=200_000)
    stored = [-2.0, -1.0, 0.0, 1.0, 2.0]
    profile = build_profile(pa.table({"v": values}), bins={"v": stored})["v"]
    full = np.concatenate([[-np.inf], stored, [np.inf]])
    counts, exact = profile.bin_counts(stored)
    assert exact and counts.tolist() == np.histogram(values, full)[0].tolist()
    other = [-1.5, -0.25, 0.3, 1.7]
    counts, exact = profile.bin_counts(other)
    truth = np.histogram(values, np.concatenate([[-np.inf], other, [np.inf]]))[0]
    assert not exact and math.isclose(counts.sum(), values.size)
    assert np.max(np.abs(counts - truth)) / values.size <= profile.pmf_error


def test_a_record_batch_reader_is_read_once_batch_by_batch() -> None:
    table = random_table(np.random.default_rng(4), 3000)
    reader = pa.RecordBatchReader.from_batches(table.schema, table.to_batches(max_chunksize=400))
    assert_same(build_profile(reader, batch_rows=256), build_profile(table))
    reader = pa.RecordBatchReader.from_batches(table.schema, table.to_batches())
    with pytest.raises(ProfileError, match="two passes"):
        build_profile(reader, bins=10)
