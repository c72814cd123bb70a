"""Column statistics and fingerprints against independent pandas/Python computations."""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from skewless.dataset_stats import (
    HISTOGRAM_BINS,
    OTHER,
    QUANTILES,
    TOP_CATEGORIES,
    column_stats,
    entity_fingerprint,
)

floats = st.floats(min_value=-1e9, max_value=1e9, allow_nan=False, allow_infinity=False)
float_cells = st.one_of(floats, st.none(), st.just(math.nan), st.just(math.inf), st.just(-math.inf))
int_cells = st.one_of(st.integers(min_value=-(2**62), max_value=2**62), st.none())


def chunked(values: list[Any], kind: pa.DataType, cut: int) -> pa.ChunkedArray:
    """``values`` as a chunked array split at ``cut`` (chunking must not matter)."""
    cut = min(cut, len(values))
    return pa.chunked_array([pa.array(values[:cut], kind), pa.array(values[cut:], kind)], kind)


def check_numeric(stats: dict[str, Any], finite: list[float], nulls: int, infinite: int) -> None:
    series = pd.Series(finite, dtype="float64")
    assert stats["kind"] == "numeric"
    assert stats["count"] == len(finite)
    assert stats["nulls"] == nulls
    assert stats["infinite"] == infinite
    if not finite:
        assert stats["mean"] is None and stats["min"] is None and stats["max"] is None
        assert stats["histogram"] == {"edges": [], "counts": []}
        assert set(stats["quantiles"].values()) == {None}
        return
    assert stats["min"] == min(finite) and stats["max"] == max(finite)
    assert stats["mean"] == math.fsum(finite) / len(finite)
    if len(finite) > 1:
        assert stats["std"] == pytest.approx(series.std(), rel=1e-6, abs=1e-6)
    else:
        assert stats["std"] is None
    for q in QUANTILES:
        expected = series.quantile(q)  # pandas: linear interpolation, like numpy's default
        assert stats["quantiles"][f"{q:g}"] == pytest.approx(expected, rel=1e-9, abs=1e-6)
    edges, counts = stats["histogram"]["edges"], stats["histogram"]["counts"]
    assert len(edges) == len(counts) + 1
    assert len(counts) == (1 if min(finite) == max(finite) else HISTOGRAM_BINS)
    assert sum(counts) == len(finite)
    assert edges == sorted(edges)
    assert edges[0] <= min(finite) and max(finite) <= edges[-1]


@settings(max_examples=150)
@given(st.lists(float_cells, max_size=60), st.integers(min_value=0, max_value=60))
def test_float_stats(values: list[float | None], cut: int) -> None:
    stats = column_stats(chunked(values, pa.float64(), cut))
    finite = [v for v in values if v is not None and math.isfinite(v)]
    nulls = sum(v is None or math.isnan(v) for v in values)
    infinite = sum(v is not None and math.isinf(v) for v in values)
    check_numeric(stats, finite, nulls, infinite)


@settings(max_examples=150)
@given(st.lists(int_cells, max_size=60), st.integers(min_value=0, max_value=60))
def test_int_stats(values: list[int | None], cut: int) -> None:
    stats = column_stats(chunked(values, pa.int64(), cut))
    present = [v for v in values if v is not None]
    assert stats["count"] == len(present)
    assert stats["nulls"] == len(values) - len(present)
    if present:  # exact, even past 2**53
        assert stats["min"] == min(present) and stats["max"] == max(present)
        assert isinstance(stats["min"], int)
        mean = math.fsum(float(v) for v in present) / len(present)
        assert stats["mean"] == mean
        assert sum(stats["histogram"]["counts"]) == len(present)


def test_histogram_counts_follow_the_edges() -> None:
    rng = np.random.default_rng(7)
    values = rng.normal(10, 3, 500).tolist()
    stats = column_stats(pa.array(values))
    edges, counts = stats["histogram"]["edges"], stats["histogram"]["counts"]
    expected = [0] * HISTOGRAM_BINS
    for v in values:
        i = next(i for i in range(HISTOGRAM_BINS) if v < edges[i + 1] or i == HISTOGRAM_BINS - 1)
        expected[i] += 1
    assert counts == expected


@settings(max_examples=100)
@given(
    st.lists(st.one_of(st.text(alphabet="abcdefghij", max_size=2), st.none()), max_size=200),
    st.integers(min_value=0, max_value=200),
)
def test_categorical_stats(values: list[str | None], cut: int) -> None:
    stats = column_stats(chunked(values, pa.string(), cut))
    counter = Counter(v for v in values if v is not None)
    ranked = sorted(counter.items(), key=lambda kv: (-kv[1], kv[0]))
    expected = dict(ranked[:TOP_CATEGORIES])
    if len(ranked) > TOP_CATEGORIES:
        expected[OTHER] = sum(c for _, c in ranked[TOP_CATEGORIES:])
    assert stats == {
        "kind": "categorical",
        "count": sum(counter.values()),
        "nulls": values.count(None),
        "categories": expected,
    }
    assert list(stats["categories"]) == list(expected)  # most frequent first


def test_many_categories_keep_the_top_and_sum_the_rest() -> None:
    values = [f"v{i:03d}" for i in range(80) for _ in range(80 - i)]
    stats = column_stats(pa.array(values, pa.large_string()))
    assert len(stats["categories"]) == TOP_CATEGORIES + 1
    assert stats["categories"]["v000"] == 80
    assert stats["categories"][OTHER] == sum(80 - i for i in range(TOP_CATEGORIES, 80))
    assert sum(stats["categories"].values()) == len(values)


def test_bool_time_and_other_columns() -> None:
    assert column_stats(pa.array([True, False, True, None]))["categories"] == {
        "true": 2,
        "false": 1,
    }
    times = pa.array([0, None, 86_400_000_000], pa.timestamp("us", tz="UTC"))
    assert column_stats(times) == {
        "kind": "time",
        "count": 2,
        "nulls": 1,
        "min": "1970-01-01T00:00:00+00:00",
        "max": "1970-01-02T00:00:00+00:00",
    }
    lists = pa.array([[1.0], None, []], pa.list_(pa.float64()))
    assert column_stats(lists) == {"kind": "other", "count": 2, "nulls": 1}


frames = st.lists(
    st.tuples(st.integers(min_value=0, max_value=5), st.sampled_from(["a", "b", "c"])),
    min_size=2,
    max_size=20,
)


@settings(max_examples=100)
@given(frames, st.randoms(use_true_random=False))
def test_fingerprint_is_order_sensitive_and_layout_blind(rows: list[Any], rnd: Any) -> None:
    ids, notes = [r[0] for r in rows], [r[1] for r in rows]
    table = pa.table({"user_id": ids, "note": notes})
    digest = entity_fingerprint(table)
    assert len(digest) == 64 and digest == entity_fingerprint(table)
    assert entity_fingerprint(table.select(["note", "user_id"])) == digest
    two_chunks = pa.concat_tables([table.slice(0, 1), table.slice(1)])
    assert entity_fingerprint(two_chunks) == digest
    meta = table.replace_schema_metadata({"pandas": "{}"})
    assert entity_fingerprint(meta) == digest
    order = list(range(len(rows)))
    rnd.shuffle(order)
    shuffled = table.take(order)
    same_rows = [rows[i] for i in order] == rows
    assert (entity_fingerprint(shuffled) == digest) == same_rows


def test_fingerprint_normalizes_time_units_and_string_kinds() -> None:
    stamps = pd.to_datetime(["2024-01-01T00:00:00Z", "2024-01-02T00:00:00Z"], utc=True)
    nano = pa.table({"t": pa.array(stamps.as_unit("ns")), "s": pa.array(["x", "y"])})
    micro = pa.table(
        {"t": pa.array(stamps.as_unit("us")), "s": pa.array(["x", "y"], pa.large_string())}
    )
    assert entity_fingerprint(nano) == entity_fingerprint(micro)
    assert entity_fingerprint(nano) != entity_fingerprint(nano.slice(0, 1))
