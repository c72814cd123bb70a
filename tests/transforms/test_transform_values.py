"""Each row building block gives the same values for a list, a Series and one value at a time,
and those values are the ones a slow per-value reference gives, on random inputs."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from skewless.errors import DefinitionError
from skewless.transforms import (
    bucketize,
    cross,
    day_of_week,
    hour_of_day,
    is_weekend,
    safe_ratio,
    stable_hash,
    trend_ratio,
)

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
ZONES = [None, UTC, timezone(timedelta(hours=5, minutes=30)), timezone(-timedelta(hours=8))]


def null(value: Any) -> bool:
    return (
        value is None
        or value is pd.NA
        or value is pd.NaT
        or (isinstance(value, float) and math.isnan(value))
    )


def plain(values: Any) -> list[Any]:
    """A list or Series of results as plain values, None for every kind of null."""
    items = values.tolist() if isinstance(values, pd.Series) else list(values)
    return [None if null(v) else v for v in items]


def same(got: list[Any], want: list[Any]) -> None:
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        assert (g is None and w is None) or (g == w and type(g) is type(w)), (got, want)


def check_shapes(function: Any, columns: list[list[Any]], series: list[list[Any]], want: list[Any]):
    """``function`` on lists, on each Series form, and one row at a time, against ``want``."""
    same(plain(function(*columns)), want)
    for form in series:
        same(plain(function(*form)), want)
    same(
        [None if null(r) else r for r in (function(*row) for row in zip(*columns, strict=True))],
        want,
    )


# -- calendar -----------------------------------------------------------------------------------
stamps = st.lists(
    st.one_of(
        st.none(),
        st.datetimes(
            min_value=datetime(1970, 1, 2),
            max_value=datetime(2200, 1, 1),
            timezones=st.sampled_from(ZONES),
        ),
    ),
    max_size=25,
)


def utc_hours(value: datetime) -> int:
    """Whole hours since the epoch of the instant (naive values read as UTC)."""
    moment = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    return (moment - EPOCH) // timedelta(hours=1)


def ref_day(value: datetime | None) -> int | None:
    # 1970-01-01 was a Thursday (3).
    return None if value is None else (utc_hours(value) // 24 + 3) % 7


def ref_hour(value: datetime | None) -> int | None:
    return None if value is None else utc_hours(value) % 24


def timestamp_forms(values: list[datetime | None]) -> list[pd.Series]:
    """The Series an on-demand function may see: objects, and Arrow's UTC timestamps."""
    utc = [None if v is None else (v if v.tzinfo else v.replace(tzinfo=UTC)) for v in values]
    return [
        pd.Series(values, dtype=object),
        pa.array(utc, pa.timestamp("us", "UTC")).to_pandas(),
        pd.Series(pd.to_datetime(pd.Series(utc, dtype=object), utc=True)).dt.tz_convert(
            "Asia/Tokyo"
        ),
    ]


@settings(max_examples=150)
@given(values=stamps)
def test_calendar_blocks_agree_with_the_reference(values: list[datetime | None]) -> None:
    forms = timestamp_forms(values)
    days = [ref_day(v) for v in values]
    check_shapes(day_of_week, [values], [[f] for f in forms], days)
    check_shapes(hour_of_day, [values], [[f] for f in forms], [ref_hour(v) for v in values])
    weekend = [None if d is None else d in (5, 6) for d in days]
    check_shapes(is_weekend, [values], [[f] for f in forms], weekend)
    # pandas' own dayofweek/hour on UTC agree too.
    utc = forms[1]
    same(plain(utc.dt.day_of_week.astype("Int64")), days)


def test_calendar_refuses_non_datetimes() -> None:
    with pytest.raises(TypeError, match="expected a datetime"):
        day_of_week(["2024-01-01"])
    with pytest.raises(TypeError, match="expected datetimes"):
        hour_of_day(pd.Series(["2024-01-01"]))


# -- ratios -------------------------------------------------------------------------------------
numbers = st.one_of(
    st.none(),
    st.just(float("nan")),
    st.just(0),
    st.just(0.0),
    st.just(-0.0),
    st.integers(-(10**12), 10**12),
    st.floats(allow_nan=False, allow_infinity=True),
)


def ref_ratio(top: Any, bottom: Any, default: float | None) -> float | None:
    if null(top):
        return None
    if null(bottom) or float(bottom) == 0.0:
        return default
    quotient = float(top) / float(bottom)
    return None if math.isnan(quotient) else quotient


def number_forms(*columns: list[Any]) -> list[list[pd.Series]]:
    """Each column as float64, object and (when it can be) Arrow-read Series."""
    forms = [[pd.Series(c, dtype="float64") for c in columns]]
    forms.append([pd.Series(c, dtype=object) for c in columns])
    forms.append(
        [pa.array([None if null(v) else float(v) for v in c]).to_pandas() for c in columns]
    )
    return forms


@settings(max_examples=200)
@given(
    data=st.lists(st.tuples(numbers, numbers), max_size=25),
    default=st.sampled_from([None, 0.0, 1, -1.5]),
)
def test_safe_ratio_agrees_with_the_reference(
    data: list[tuple[Any, Any]], default: float | None
) -> None:
    tops = [t for t, _ in data]
    bottoms = [b for _, b in data]
    fallback = None if default is None else float(default)
    want = [ref_ratio(t, b, fallback) for t, b in data]
    ratio = lambda a, b: safe_ratio(a, b, default=default)  # noqa: E731
    check_shapes(ratio, [tops, bottoms], number_forms(tops, bottoms), want)
    check_shapes(
        trend_ratio,
        [tops, bottoms],
        number_forms(tops, bottoms),
        [ref_ratio(t, b, None) for t, b in data],
    )
    # The seed's pandas formula (short / long.replace(0, nan)) gives the same where defined.
    if default is None:
        top, bottom = pd.Series(tops, dtype="float64"), pd.Series(bottoms, dtype="float64")
        same(plain(top / bottom.replace(0, float("nan"))), want)


@settings(max_examples=100)
@given(data=st.lists(st.tuples(st.one_of(st.none(), st.integers(-50, 50)), numbers), max_size=20))
def test_safe_ratio_of_nullable_ints_and_broadcast_scalars(data: list[tuple[Any, Any]]) -> None:
    ints = [t for t, _ in data]
    want = [ref_ratio(t, 4, None) for t in ints]
    same(plain(safe_ratio(pd.Series(ints, dtype="Int64"), 4)), want)
    same(plain(safe_ratio(ints, 4)), want)
    same(
        plain(safe_ratio(8, pd.Series(ints, dtype="Int64"))), [ref_ratio(8, t, None) for t in ints]
    )


def test_safe_ratio_refuses_text_and_mismatched_lengths() -> None:
    with pytest.raises(TypeError, match="expected a number"):
        safe_ratio(["1.5"], [1.0])
    with pytest.raises(TypeError, match="expected numbers"):
        safe_ratio(pd.Series(["1.5"], dtype=object), 1.0)
    with pytest.raises(ValueError, match="different lengths"):
        safe_ratio([1.0, 2.0], [1.0])


# -- bucketing ----------------------------------------------------------------------------------
edges_strategy = st.lists(
    st.one_of(st.integers(-100, 100).map(float), st.sampled_from([-math.inf, math.inf])),
    min_size=2,
    max_size=6,
    unique=True,
).map(sorted)


def ref_bucket(value: Any, edges: list[float], labels: list[Any] | None) -> Any:
    if null(value):
        return None
    for i in range(len(edges) - 1):
        if edges[i] < float(value) <= edges[i + 1]:
            return i if labels is None else labels[i]
    return None


@settings(max_examples=200)
@given(
    values=st.lists(
        st.one_of(numbers, st.sampled_from([-100, 0, 100, 25.0, -math.inf, math.inf])),
        max_size=25,
    ),
    edges=edges_strategy,
    named=st.booleans(),
)
def test_bucketize_agrees_with_the_reference_and_pandas_cut(
    values: list[Any], edges: list[float], named: bool
) -> None:
    labels = [f"b{i}" for i in range(len(edges) - 1)] if named else None
    want = [ref_bucket(v, edges, labels) for v in values]
    check_shapes(lambda v: bucketize(v, edges, labels), [values], number_forms(values), want)
    as_floats = pd.Series(values, dtype="float64")
    cut = pd.cut(as_floats, bins=edges, labels=False, right=True)
    same(plain(cut.astype("Int64")), [ref_bucket(v, edges, None) for v in values])


def test_bucketize_refuses_bad_boundaries_and_labels() -> None:
    with pytest.raises(DefinitionError, match="strictly increasing"):
        bucketize([1.0], [0, 5, 5])
    with pytest.raises(DefinitionError, match="at least two"):
        bucketize([1.0], [0])
    with pytest.raises(DefinitionError, match="need as many labels"):
        bucketize([1.0], [0, 5, 10], labels=["a"])


# -- crosses ------------------------------------------------------------------------------------
parts = st.one_of(
    st.none(),
    st.text(max_size=5),
    st.integers(-1000, 1000),
    st.floats(allow_nan=True, allow_infinity=True, width=64),
    st.booleans(),
)


def ref_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, int):
        return format(value, "d")
    if abs(value) != math.inf and value == math.floor(value):
        return format(int(value), "d")
    return repr(value)


def ref_cross(row: tuple[Any, ...], separator: str, buckets: int | None) -> Any:
    if any(null(v) for v in row):
        return None
    text = separator.join(ref_text(v) for v in row)
    return text if buckets is None else stable_hash(text, buckets)


@settings(max_examples=200)
@given(
    rows=st.integers(1, 3).flatmap(
        lambda k: st.lists(st.tuples(*[parts] * k), max_size=15).map(lambda r: (k, r))
    ),
    separator=st.sampled_from(["_x_", "|", ""]),
    buckets=st.sampled_from([None, 1, 7, 1000]),
)
def test_cross_agrees_with_the_reference(
    rows: tuple[int, list[tuple[Any, ...]]], separator: str, buckets: int | None
) -> None:
    k, data = rows
    columns = [[r[i] for r in data] for i in range(k)]
    want = [ref_cross(r, separator, buckets) for r in data]
    forms = [[pd.Series(c, dtype=object) for c in columns]]

    def crossed(*values: Any) -> Any:
        return cross(*values, separator=separator, hash_buckets=buckets)

    check_shapes(crossed, columns, forms, want)


def test_cross_of_a_float_held_int_column_matches_the_int_column() -> None:
    as_ints = cross(["a", "b", "c"], [1, None, 3])
    as_floats = cross(pd.Series(["a", "b", "c"]), pa.array([1, None, 3]).to_pandas())
    assert plain(as_floats) == as_ints == ["a_x_1", None, "c_x_3"]


def test_stable_hash_is_fixed() -> None:
    # The documented formula, written out: a change here changes every hashed feature.
    import hashlib

    digest = hashlib.blake2b(b"young_x_f", digest_size=8).digest()
    assert stable_hash("young_x_f", 1000) == int.from_bytes(digest, "big") % 1000 == 821


def test_cross_refuses_bad_arguments() -> None:
    with pytest.raises(DefinitionError, match="at least one"):
        cross()
    with pytest.raises(DefinitionError, match="positive int"):
        cross(["a"], hash_buckets=0)


typed_columns = st.sampled_from(["int", "float", "str", "bool"]).flatmap(
    lambda kind: st.tuples(
        st.just(kind),
        st.lists(
            st.one_of(
                st.none(),
                {
                    "int": st.integers(-5, 5),
                    "float": st.floats(-3, 3, allow_nan=False).map(lambda f: round(f, 1)),
                    "str": st.sampled_from(["a", "b", "", "1"]),
                    "bool": st.booleans(),
                }[kind],
            ),
            min_size=12,
            max_size=12,
        ),
    )
)


def typed_forms(kind: str, values: list[Any]) -> list[pd.Series]:
    """The Series a typed column can arrive as in mode="pandas" (and by hand)."""
    forms = [pd.Series(values, dtype=object), pa.array(values).to_pandas()]
    forms.append(
        pd.Series(
            values,
            dtype={"int": "Int64", "float": "float64", "str": "str", "bool": "boolean"}[kind],
        )
    )
    return forms


@settings(max_examples=150)
@given(
    parts=st.lists(typed_columns, min_size=1, max_size=3),
    buckets=st.sampled_from([None, 5]),
)
def test_cross_of_typed_series_agrees_with_the_reference(
    parts: list[tuple[str, list[Any]]], buckets: int | None
) -> None:
    columns = [values for _, values in parts]
    want = [ref_cross(row, "_x_", buckets) for row in zip(*columns, strict=True)]
    all_forms = [typed_forms(kind, values) for kind, values in parts]
    for i in range(3):
        got = cross(*[forms[i] for forms in all_forms], hash_buckets=buckets)
        same(plain(got), want)
    same(plain(cross(*columns, hash_buckets=buckets)), want)
