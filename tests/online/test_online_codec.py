"""Entity-key and payload encoding shared by every online store."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from skewless import Entity, FeatureView, Field, FileSource
from skewless.errors import EntityFrameError
from skewless.online.codec import ViewCodec, encode_key, encode_key_columns, key_encoder
from skewless.types import (
    Array,
    Bool,
    Bytes,
    Float32,
    Float64,
    Int32,
    Int64,
    String,
    UnixTimestamp,
)

# -- entity keys ---------------------------------------------------------------------------


def test_key_bytes_are_pinned() -> None:
    # Stores written by one version must be readable by the next: the bytes are a format.
    assert encode_key((1001,)).hex() == "0100000000000003e9"
    assert encode_key(("1001",)) == b"\x021001"
    assert encode_key((-1,)).hex() == "01ffffffffffffffff"
    assert encode_key(("eu", 7)) == b"\x02\x02eu" + bytes.fromhex("010000000000000007")
    assert encode_key((b"\x00",)) == b"\x03\x00"
    assert encode_key((True,)) == b"\x06\x01"
    assert encode_key((datetime(1970, 1, 1, 0, 0, 1, tzinfo=UTC),)).hex() == "0700000000000f4240"


@pytest.mark.parametrize(
    ("a", "b"),
    [
        (1001, "1001"),
        (1, True),
        (0, False),
        (1.5, 1),
        (b"a", "a"),
        ("a", "A"),
        (2**63, 2**63 - 1),
    ],
)
def test_distinct_values_give_distinct_keys(a: object, b: object) -> None:
    assert encode_key((a,)) != encode_key((b,))


@pytest.mark.parametrize(
    "same",
    [np.int64(1001), np.int32(1001), np.uint16(1001), 1001.0, np.float64(1001.0), np.float32(1001)],
)
def test_numpy_ints_and_integral_floats_are_the_int(same: object) -> None:
    assert encode_key((same,)) == encode_key((1001,))


def test_naive_datetime_means_utc() -> None:
    naive = datetime(2024, 1, 2, 3, 4, 5, 6)
    assert encode_key((naive,)) == encode_key((naive.replace(tzinfo=UTC),))
    assert encode_key((pd.Timestamp(naive),)) == encode_key((naive,))
    assert encode_key((np.datetime64(naive),)) == encode_key((naive,))


@pytest.mark.parametrize("missing", [None, math.nan, np.float64("nan"), pd.NA, pd.NaT])
def test_a_null_part_makes_the_key_null(missing: object) -> None:
    assert encode_key((missing,)) is None
    assert encode_key((1, missing)) is None
    assert key_encoder(1)(missing) is None


def test_unsupported_key_values_are_rejected() -> None:
    with pytest.raises(EntityFrameError, match="not supported"):
        encode_key(([1, 2],))


def test_compound_parts_cannot_run_into_each_other() -> None:
    assert encode_key(("a", "bc")) != encode_key(("ab", "c"))
    assert encode_key((b"x", 1)) != encode_key((b"x\x01", 1))


_key_value = st.one_of(
    st.integers(-(2**64), 2**64),
    st.text(max_size=5),
    st.binary(max_size=5),
    st.floats(allow_nan=False),
    st.booleans(),
)


def _canonical(value: object) -> object:
    """The identity a key part stands for: integral floats are their integer."""
    if isinstance(value, bool):
        return ("bool", value)
    if isinstance(value, float) and value.is_integer() and abs(value) < 2.0**63:
        return ("num", int(value))
    if isinstance(value, int | float):
        return ("num" if isinstance(value, int) else "float", value)
    return (type(value).__name__, value)


@settings(max_examples=300)
@given(
    a=st.lists(_key_value, min_size=1, max_size=3), b=st.lists(_key_value, min_size=1, max_size=3)
)
def test_keys_are_equal_exactly_when_values_are(a: list, b: list) -> None:
    same = len(a) == len(b) and [_canonical(x) for x in a] == [_canonical(y) for y in b]
    assert (encode_key(a) == encode_key(b)) == same


_arrow_columns = st.sampled_from(
    [
        (pa.int64(), st.integers(-(2**63), 2**63 - 1)),
        (pa.int32(), st.integers(-(2**31), 2**31 - 1)),
        (pa.uint64(), st.integers(0, 2**64 - 1)),
        (pa.string(), st.text(max_size=4)),
        (pa.binary(), st.binary(max_size=4)),
        (pa.float64(), st.floats(allow_nan=False, width=64)),
        (pa.bool_(), st.booleans()),
        (
            pa.timestamp("us", "UTC"),
            st.datetimes(
                min_value=datetime(1900, 1, 1),
                max_value=datetime(2200, 1, 1),
                timezones=st.just(UTC),
            ),
        ),
        (
            pa.timestamp("ns"),
            st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2200, 1, 1)),
        ),
    ]
)


@settings(max_examples=150)
@given(data=st.data(), kinds=st.lists(_arrow_columns, min_size=1, max_size=3), n=st.integers(0, 6))
def test_arrow_columns_encode_like_python_values(data: st.DataObject, kinds: list, n: int) -> None:
    columns, python = [], []
    for arrow_type, values in kinds:
        column = data.draw(st.lists(st.one_of(st.none(), values), min_size=n, max_size=n))
        if pa.types.is_timestamp(arrow_type) and arrow_type.unit == "ns":
            column = [v if v is None else v.replace(microsecond=v.microsecond) for v in column]
        columns.append(pa.array(column, arrow_type))
        python.append(pa.array(column, arrow_type).to_pylist())
    expected = [encode_key(row) for row in zip(*python, strict=True)] if n else []
    assert encode_key_columns(columns) == expected
    chunked = [pa.chunked_array([c[: n // 2], c[n // 2 :]], c.type) for c in columns]
    assert encode_key_columns(chunked) == expected


# -- payloads ------------------------------------------------------------------------------

ALL_TYPES = {
    "i32": Int32,
    "i64": Int64,
    "f32": Float32,
    "f64": Float64,
    "s": String,
    "b": Bool,
    "raw": Bytes,
    "at": UnixTimestamp,
    "ai": Array(Int64),
    "af": Array(Float32),
    "ad": Array(Float64),
    "as_": Array(String),
    "ab": Array(Bool),
    "araw": Array(Bytes),
    "aat": Array(UnixTimestamp),
}


def _view(types: dict) -> FeatureView:
    return FeatureView(
        name="every_type",
        entities=[Entity(name="user", join_keys=["user_id"])],
        schema=[Field(name=n, dtype=t) for n, t in types.items()],
        source=FileSource(path="x.parquet"),
    )


_times = st.datetimes(
    min_value=datetime(1900, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)
)
_floats = st.floats(width=64)
_float32s = st.floats(width=32)
_VALUES = {
    Int32: st.integers(-(2**31), 2**31 - 1),
    Int64: st.integers(-(2**63), 2**63 - 1),
    Float32: _float32s,
    Float64: _floats,
    String: st.text(max_size=6),
    Bool: st.booleans(),
    Bytes: st.binary(max_size=6),
    UnixTimestamp: _times,
}


def _strategy(dtype) -> st.SearchStrategy:
    if isinstance(dtype, Array):
        return st.lists(st.one_of(st.none(), _VALUES[dtype.base_type]), max_size=3)
    return _VALUES[dtype]


def _same(a: object, b: object) -> bool:
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and isinstance(b, float):
        return (math.isnan(a) and math.isnan(b)) or a == b
    return type(a) is type(b) and a == b


@settings(max_examples=120)
@given(data=st.data(), n=st.integers(1, 5))
def test_every_type_round_trips_exactly(data: st.DataObject, n: int) -> None:
    codec = ViewCodec(_view(ALL_TYPES))
    columns, expected = [], []
    for dtype in ALL_TYPES.values():
        values = data.draw(st.lists(st.one_of(st.none(), _strategy(dtype)), min_size=n, max_size=n))
        column = pa.array(values, dtype.to_arrow())
        columns.append(column)
        expected.append(column.to_pylist())
    payloads = codec.encode_payloads(columns)
    decode = codec.decoder(list(ALL_TYPES))
    for i, payload in enumerate(payloads):
        got = list(decode(payload))
        want = [col[i] for col in expected]
        assert _same(got, want), (got, want)
    # A subset in another order decodes the same values.
    names = list(ALL_TYPES)[::-2]
    subset = codec.decoder(names)
    for i, payload in enumerate(payloads):
        want = [expected[list(ALL_TYPES).index(name)][i] for name in names]
        assert _same(list(subset(payload)), want)


def test_decoded_types_are_the_declared_ones() -> None:
    codec = ViewCodec(_view(ALL_TYPES))
    when = datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=UTC)
    row = {
        "i32": 1, "i64": 2**62, "f32": 0.1, "f64": 0.1, "s": "x", "b": True, "raw": b"\xff",
        "at": when, "ai": [1], "af": [0.5], "ad": [0.25], "as_": ["a"], "ab": [False],
        "araw": [b"\x00"], "aat": [when],
    }  # fmt: skip
    columns = [pa.array([row[n]], t.to_arrow()) for n, t in ALL_TYPES.items()]
    got = dict(
        zip(
            ALL_TYPES,
            codec.decoder(list(ALL_TYPES))(codec.encode_payloads(columns)[0]),
            strict=True,
        )
    )
    assert got["f32"] == float(np.float32(0.1)) != 0.1  # the float32 value, exactly
    assert got["f64"] == 0.1
    assert got["raw"] == b"\xff" and got["araw"] == [b"\x00"]
    assert got["at"] == when and got["at"].tzinfo is not None and got["aat"] == [when]
    assert got["i64"] == 2**62 and got["b"] is True and got["ab"] == [False]


def test_non_finite_floats_survive_and_plain_rows_stay_plain_json() -> None:
    codec = ViewCodec(_view({"f": Float64, "af": Array(Float32), "n": Int64}))
    columns = [
        pa.array([1.5, math.nan, None], pa.float64()),
        pa.array([[1.0], [2.0], [math.inf, None, -math.inf]], pa.list_(pa.float32())),
        pa.array([1, 2, 3]),
    ]
    payloads = codec.encode_payloads(columns)
    assert payloads[0] == b"[1.5,[1.0],1]"
    assert payloads[1].startswith(b"!") and payloads[2].startswith(b"!")
    decode = codec.decoder(["f", "af", "n"])
    assert math.isnan(decode(payloads[1])[0])
    assert decode(payloads[2]) == [None, [math.inf, None, -math.inf], 3]
    assert codec.decoder(["n"])(payloads[2]) == [3]


def test_encode_rows_skips_null_keys_and_times() -> None:
    codec = ViewCodec(_view({"n": Int64}))
    ts = pa.array([1, 2, None, 4], pa.timestamp("us", "UTC"))
    batch = pa.record_batch(
        {
            "user_id": pa.array([10, None, 30, 40]),
            "__event_ts": ts,
            "__created_ts": pa.array([None, 5, 6, 7], pa.timestamp("us", "UTC")),
            "n": pa.array([1, 2, 3, None]),
        }
    )
    rows = codec.encode_rows(batch)
    assert rows == [(encode_key((10,)), 1, None, b"[1]"), (encode_key((40,)), 4, 7, b"[null]")]


def test_encode_rows_reads_timestamps_of_any_unit_as_microseconds() -> None:
    codec = ViewCodec(_view({"n": Int64}))
    when = datetime(2024, 1, 1, tzinfo=UTC) + timedelta(microseconds=7)
    batch = pa.table(
        {
            "user_id": [1],
            "__event_ts": pa.array([when], pa.timestamp("ns", "UTC")),
            "__created_ts": pa.array([when], pa.timestamp("ms", "UTC")),
            "n": [1],
        }
    )
    (row,) = codec.encode_rows(batch)
    assert row[1] == int(when.timestamp()) * 1_000_000 + 7
    assert row[2] == int(when.timestamp()) * 1_000_000


def test_decoder_rejects_unknown_features_and_is_compiled_once() -> None:
    codec = ViewCodec(_view({"a": Int64, "b": String}))
    assert codec.decoder(["b"]) is codec.decoder(("b",))
    with pytest.raises(KeyError, match="nope"):
        codec.decoder(["nope"])
