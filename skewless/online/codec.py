"""Engine-neutral encoding of online rows: entity keys and feature payloads.

Every online store (SQLite, Redis) holds the same bytes, so a key written by one process is
found by another and a store can be swapped without re-encoding anything.

**Entity keys.** A key is the ordered tuple of a view's join-key values. Each value becomes a
tag byte and a fixed or length-prefixed body; a compound key is the concatenation of its parts
(variable-length parts other than the last carry a varint length, so the encoding is
unambiguous). Values are encoded by what they *are*, not by their Python class:

- integers (``int``, every numpy integer) → tag ``0x01`` + 8-byte big-endian two's complement,
  so ``numpy.int64(1001)`` and ``1001`` are the same key;
- a float holding an integral value (``1001.0``) is the integer ``1001``: pandas turns an
  integer column with a missing value into floats, and offline joins compare numbers by value,
  so online reads do too; other floats are tag ``0x04`` + IEEE-754 big-endian;
- ``str`` → tag ``0x02`` + UTF-8 (``"1001"`` is never the integer ``1001``);
- ``bytes`` → ``0x03``; ``bool`` → ``0x06`` (never the integer 0/1); datetimes → ``0x07`` +
  microseconds since the epoch (UTC; naive means UTC);
- integers outside int64 → ``0x05`` + their decimal text;
- a null part (``None``, NaN, ``pandas.NA``, NaT) makes the whole key null: it matches nothing.

>>> encode_key((1001,)) == encode_key((1001.0,)) != encode_key(("1001",))
True
>>> encode_key((1001,)).hex()
'0100000000000003e9'
>>> encode_key((None,)) is None
True

**Payloads.** A row's features (all of the view's features, in schema order) are one JSON array
written with orjson. Bytes travel as base64 text, timestamps as integer microseconds (UTC), and
the rare row holding a NaN or infinite float is written as ``!`` + the array with those floats as
the strings ``"NaN"``, ``"Infinity"``, ``"-Infinity"`` (JSON has no such numbers). A
:class:`ViewCodec` compiles, once per view and feature selection, the decoder that turns a
payload back into values of their declared types.
"""

from __future__ import annotations

import binascii
import math
import struct
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from itertools import islice
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from skewless._contracts import OnlineRow
from skewless._types import (
    Array,
    Bytes,
    DType,
    Float32,
    Float64,
    UnixTimestamp,
)
from skewless.definitions import FeatureView
from skewless.errors import EntityFrameError

__all__ = [
    "Decoder",
    "ViewCodec",
    "encode_key",
    "encode_key_columns",
    "key_encoder",
]

Decoder = Callable[[bytes], Sequence[Any]]
"""Turns a stored payload into the selected feature values, in selection order."""

_TAG_INT, _TAG_STR, _TAG_BYTES, _TAG_FLOAT, _TAG_BIGINT, _TAG_BOOL, _TAG_TIME = (
    b"\x01",
    b"\x02",
    b"\x03",
    b"\x04",
    b"\x05",
    b"\x06",
    b"\x07",
)
_INT = struct.Struct(">q")
_FLOAT = struct.Struct(">d")
_INT_MIN, _INT_MAX = -(2**63), 2**63 - 1
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_SPECIAL = 0x21  # b"!": first byte of a payload holding non-finite floats
_ROWS_PER_DUMP = 512
_NONFINITE = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


# -- entity keys ---------------------------------------------------------------------------
def _int_part(value: int) -> bytes:
    if _INT_MIN <= value <= _INT_MAX:
        return _TAG_INT + _INT.pack(value)
    return _TAG_BIGINT + str(value).encode()


def _float_part(value: float) -> bytes | None:
    if value != value:  # NaN: a missing key
        return None
    if value.is_integer() and -(2.0**63) <= value < 2.0**63:
        return _TAG_INT + _INT.pack(int(value))
    return _TAG_FLOAT + _FLOAT.pack(value)


def _time_part(value: datetime) -> bytes:
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    delta = value - _EPOCH
    micros = (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
    return _TAG_TIME + _INT.pack(micros)


def _part(value: Any) -> bytes | None:
    """One key part (tag + body), or None for a null value."""
    kind = type(value)
    if kind is int:
        if _INT_MIN <= value <= _INT_MAX:  # the common case, inlined: reads call this per key
            return _TAG_INT + _INT.pack(value)
        return _TAG_BIGINT + str(value).encode()
    if kind is str:
        return _TAG_STR + value.encode()
    if value is None:
        return None
    if kind is float:
        return _float_part(value)
    if kind is bool or isinstance(value, np.bool_):
        return _TAG_BOOL + (b"\x01" if value else b"\x00")
    if isinstance(value, int | np.integer):
        return _int_part(int(value))
    if isinstance(value, float | np.floating):
        return _float_part(float(value))
    if isinstance(value, str):
        return _TAG_STR + str(value).encode()
    if isinstance(value, bytes | bytearray | memoryview):
        return _TAG_BYTES + bytes(value)
    if isinstance(value, datetime):
        return None if value != value else _time_part(value)  # NaT compares unequal
    if isinstance(value, np.datetime64):
        return (
            None
            if np.isnat(value)
            else _TAG_TIME + _INT.pack(int(value.astype("M8[us]").astype(np.int64)))
        )
    if _is_missing(value):
        return None
    raise EntityFrameError(
        f"entity key value {value!r} of type {type(value).__name__} is not supported: "
        "use int, str, bytes, float, bool or datetime values"
    )


def _is_missing(value: Any) -> bool:
    try:
        import pandas as pd

        return value is pd.NA or value is pd.NaT
    except ImportError:  # pragma: no cover - pandas is a dependency
        return False


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        low = n & 0x7F
        n >>= 7
        if n:
            out.append(low | 0x80)
        else:
            out.append(low)
            return bytes(out)


def _framed(part: bytes) -> bytes:
    """A key part that is followed by another one: variable-length bodies get a length."""
    tag = part[:1]
    if tag in (_TAG_STR, _TAG_BYTES, _TAG_BIGINT):
        return tag + _varint(len(part) - 1) + part[1:]
    return part


def encode_key(values: Sequence[Any]) -> bytes | None:
    """The bytes of one entity key (join-key values in the view's order); None if any is null.

    >>> encode_key(("eu", 7)) == encode_key(("eu", 7.0))
    True
    """
    if len(values) == 1:
        return _part(values[0])
    parts = []
    last = len(values) - 1
    for i, value in enumerate(values):
        part = _part(value)
        if part is None:
            return None
        parts.append(part if i == last else _framed(part))
    return b"".join(parts)


def key_encoder(n_parts: int) -> Callable[[Any], bytes | None]:
    """An encoder for keys of ``n_parts`` join keys.

    A one-part encoder takes the bare value; others take a tuple of values.
    """
    if n_parts == 1:
        return _part
    return encode_key


def encode_key_columns(columns: Sequence[pa.Array | pa.ChunkedArray]) -> list[bytes | None]:
    """Encode the keys of Arrow join-key columns, row by row (None where a key is null).

    Gives exactly :func:`encode_key` of each row's Python values, vectorized per column.

    >>> encode_key_columns([pa.array([1001, None])]) == [encode_key((1001,)), None]
    True
    """
    last = len(columns) - 1
    parts = [_column_parts(col, framed=i != last) for i, col in enumerate(columns)]
    if len(parts) == 1:
        return parts[0]
    return [None if None in row else b"".join(row) for row in zip(*parts, strict=True)]


def _column_parts(column: pa.Array | pa.ChunkedArray, framed: bool) -> list[bytes | None]:
    t = column.type
    if pa.types.is_integer(t) and not pa.types.is_uint64(t):
        return _fixed_parts(_TAG_INT, column)
    if pa.types.is_timestamp(t):
        return _fixed_parts(_TAG_TIME, column.cast(pa.timestamp("us", tz=t.tz)))
    if (pa.types.is_string(t) or pa.types.is_large_string(t)) and not framed:
        return [None if v is None else _TAG_STR + v.encode() for v in column.to_pylist()]
    out: list[bytes | None] = []
    for value in column.to_pylist():
        part = _part(value)
        out.append(None if part is None else _framed(part) if framed else part)
    return out


def _fixed_parts(tag: bytes, column: pa.Array | pa.ChunkedArray) -> list[bytes | None]:
    """Tag + 8-byte big-endian body of each value of an integer (or µs timestamp) column,
    built in one numpy pass; None where the value is null."""
    as_int = column.cast(pa.int64())
    values = as_int.fill_null(0).to_numpy() if as_int.null_count else as_int.to_numpy()
    parts = np.empty((len(values), 9), dtype=np.uint8)
    parts[:, 0] = tag[0]
    parts[:, 1:] = values.astype(">i8").view(np.uint8).reshape(-1, 8)
    out: list[bytes | None] = parts.view("V9").ravel().tolist()
    if as_int.null_count:
        for i in np.flatnonzero(as_int.is_null().to_numpy(zero_copy_only=False)).tolist():
            out[i] = None
    return out


# -- payloads ------------------------------------------------------------------------------
def _is_float(dtype: DType) -> bool:
    return dtype in (Float32, Float64)


def _b64(value: bytes) -> str:
    return binascii.b2a_base64(value, newline=False).decode("ascii")


def _from_micros(value: int) -> datetime:
    return _EPOCH + timedelta(microseconds=value)


def _nonfinite_text(value: Any) -> Any:
    if value.__class__ is float and not math.isfinite(value):
        return "NaN" if value != value else ("Infinity" if value > 0 else "-Infinity")
    return value


def _finite_again(value: Any) -> Any:
    if value.__class__ is str:
        return _NONFINITE[value]
    if value.__class__ is list:
        return [_NONFINITE[v] if v.__class__ is str else v for v in value]
    return value


def _nonfinite(column: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    """True where a float is NaN or infinite; False for finite values and nulls."""
    return pc.and_kleene(pc.is_valid(column), pc.invert(pc.is_finite(column)))


def _column_values(column: pa.Array | pa.ChunkedArray, dtype: DType) -> tuple[list[Any], Any]:
    """JSON-ready values of one feature column and the mask of rows with non-finite floats."""
    if dtype == Bytes:
        return [None if v is None else _b64(v) for v in column.to_pylist()], None
    if dtype == UnixTimestamp:
        micros = column.cast(pa.timestamp("us", tz="UTC")).cast(pa.int64())
        return micros.to_pylist(), None
    if isinstance(dtype, Array):
        base = dtype.base_type
        if base == UnixTimestamp:
            as_int = column.cast(pa.list_(pa.timestamp("us", tz="UTC"))).cast(pa.list_(pa.int64()))
            return as_int.to_pylist(), None
        if base == Bytes:
            values = column.to_pylist()
            return [
                None if v is None else [None if b is None else _b64(b) for b in v] for v in values
            ], None
        if _is_float(base):
            flat = pc.list_flatten(column)
            bad = _nonfinite(flat)
            mask = None
            if pc.any(bad).as_py():
                rows = pc.filter(pc.list_parent_indices(column), bad).to_numpy()
                mask = np.zeros(len(column), dtype=bool)
                mask[rows] = True
            return column.to_pylist(), mask
        return column.to_pylist(), None
    if _is_float(dtype):
        bad = _nonfinite(column)
        mask = bad.to_numpy(zero_copy_only=False) if pc.any(bad).as_py() else None
        return _pylist(column), mask
    return _pylist(column), None


def _pylist(column: pa.Array | pa.ChunkedArray) -> list[Any]:
    """``column.to_pylist()``; through numpy (several times faster) for numbers without nulls,
    which gives the same Python ints and floats."""
    t = column.type
    if column.null_count == 0 and (pa.types.is_integer(t) or pa.types.is_floating(t)):
        values: list[Any] = column.to_numpy().tolist()
        return values
    return column.to_pylist()


def _converter(dtype: DType) -> Callable[[Any], Any] | None:
    """Turns a decoded JSON value (not None) into its declared type; None: no change needed."""
    if dtype == Bytes:
        return binascii.a2b_base64
    if dtype == UnixTimestamp:
        return _from_micros
    if isinstance(dtype, Array):
        inner = _converter(dtype.base_type)
        if inner is not None:
            return lambda values: [None if v is None else inner(v) for v in values]
    return None


class ViewCodec:
    """Encodes a feature view's rows for an online store and decodes them back.

    Payloads hold all of the view's features in schema order; :meth:`decoder` selects and
    converts the requested ones. Built once per view (definitions are immutable).

    Example:
        >>> from skewless import Entity, FeatureView, Field, FileSource
        >>> from skewless.types import Bytes, Int64
        >>> view = FeatureView(name="v", entities=[Entity(name="u", join_keys=["u"])],
        ...     schema=[Field(name="n", dtype=Int64), Field(name="raw", dtype=Bytes)],
        ...     source=FileSource(path="v.parquet"))
        >>> codec = ViewCodec(view)
        >>> payload = codec.encode_payloads([pa.array([7]), pa.array([b"\\x00"])])[0]
        >>> payload
        b'[7,"AA=="]'
        >>> codec.decoder(["raw", "n"])(payload)
        (b'\\x00', 7)
    """

    def __init__(self, view: FeatureView) -> None:
        self.view_name = view.name
        self.join_keys = view.join_keys
        self.feature_names: tuple[str, ...] = view.feature_names
        self.dtypes: tuple[DType, ...] = tuple(f.dtype for f in view.features)
        self._position = {name: i for i, name in enumerate(self.feature_names)}
        self._float_positions = tuple(
            i
            for i, t in enumerate(self.dtypes)
            if _is_float(t) or (isinstance(t, Array) and _is_float(t.base_type))
        )
        self._decoders: dict[tuple[str, ...], Decoder] = {}

    # -- writing ---------------------------------------------------------------------------
    def encode_payloads(self, columns: Sequence[pa.Array | pa.ChunkedArray]) -> list[bytes]:
        """One payload per row from the view's feature columns (schema order)."""
        if len(columns) != len(self.dtypes):
            raise ValueError(
                f"view {self.view_name!r} has {len(self.dtypes)} features, got {len(columns)} "
                "columns"
            )
        converted = [_column_values(c, t) for c, t in zip(columns, self.dtypes, strict=True)]
        lists = [values for values, _ in converted]
        dumps = orjson.dumps
        # A few hundred rows per dump: the row tuples of one part are freed before the next
        # part is built, so a batch never holds enough live tuples to set off the garbage
        # collector (a full pass over the process's objects costs more than the encoding).
        rows = zip(*lists, strict=True)
        payloads: list[bytes] = []
        for _ in range(0, len(lists[0]) if lists else 0, _ROWS_PER_DUMP):
            part = list(islice(rows, _ROWS_PER_DUMP))
            split = _split_rows(dumps(part), len(part))
            payloads += split if split is not None else [dumps(row) for row in part]
        masks = [mask for _, mask in converted if mask is not None]
        if masks:
            special = np.logical_or.reduce(masks) if len(masks) > 1 else masks[0]
            for i in np.flatnonzero(special).tolist():
                row = [_nonfinite_text(v) for v in (values[i] for values in lists)]
                for j in self._float_positions:
                    if row[j].__class__ is list:
                        row[j] = [_nonfinite_text(v) for v in row[j]]
                payloads[i] = b"!" + dumps(row)
        return payloads

    def encode_rows(self, batch: pa.RecordBatch | pa.Table) -> list[OnlineRow]:
        """Online rows of a batch holding the join keys, ``__event_ts``, ``__created_ts`` and
        the view's features. Rows with a null key or event time are left out (they match
        nothing)."""
        return list(self.iter_rows(batch))

    def iter_rows(self, batch: pa.RecordBatch | pa.Table) -> Iterator[OnlineRow]:
        """The rows of :meth:`encode_rows`, encoded now and handed out one at a time (no list
        of row tuples is built: a consumer such as ``executemany`` takes them as they come)."""
        keys = encode_key_columns([batch.column(k) for k in self.join_keys])
        ts = _micros(batch.column("__event_ts"))
        created = _micros(batch.column("__created_ts"))
        payloads = self.encode_payloads([batch.column(f) for f in self.feature_names])
        rows = zip(keys, ts, created, payloads, strict=True)
        if None in keys or None in ts:
            return (r for r in rows if r[0] is not None and r[1] is not None)  # type: ignore[misc]
        return rows  # type: ignore[return-value]

    # -- reading ---------------------------------------------------------------------------
    def decoder(self, features: Sequence[str]) -> Decoder:
        """A function from payload to the values of ``features`` (in that order), compiled
        once per selection."""
        wanted = tuple(features)
        found = self._decoders.get(wanted)
        if found is None:
            found = self._decoders[wanted] = self._compile(wanted)
        return found

    def _compile(self, features: tuple[str, ...]) -> Decoder:
        unknown = [f for f in features if f not in self._position]
        if unknown:
            raise KeyError(f"view {self.view_name!r} has no feature(s) {unknown}")
        index = [self._position[f] for f in features]
        conversions = [
            (j, conv)
            for j, i in enumerate(index)
            if (conv := _converter(self.dtypes[i])) is not None
        ]
        loads = orjson.loads
        float_positions = self._float_positions

        def load(payload: bytes) -> list[Any]:
            if payload[0] != _SPECIAL:
                values: list[Any] = loads(payload)
                return values
            values = loads(payload[1:])
            for i in float_positions:
                values[i] = _finite_again(values[i])
            return values

        if index == list(range(len(self.feature_names))) and not conversions:
            return load
        if not conversions:
            picks = tuple(index)

            def select(payload: bytes) -> Sequence[Any]:
                values = load(payload)
                return [values[i] for i in picks]

            return select

        def convert(payload: bytes) -> Sequence[Any]:
            values = load(payload)
            out = [values[i] for i in index]
            for j, conv in conversions:
                if out[j] is not None:
                    out[j] = conv(out[j])
            return tuple(out)

        return convert

    def arrow_types(self, features: Iterable[str]) -> list[pa.DataType]:
        """The declared Arrow type of each feature."""
        return [self.dtypes[self._position[f]].to_arrow() for f in features]


def _split_rows(blob: bytes, n: int) -> list[bytes] | None:
    """The row arrays of ``[[row],[row],...]`` as separate payloads, or None when a value
    itself holds ``],[`` (a nested array, or a string containing it) and splitting is unsafe.

    One ``orjson.dumps`` of the whole batch is much faster than one per row: each separate
    call takes a fresh output buffer, and touching that memory dominates the cost.
    """
    if n == 0 or blob.count(b"],[") != n - 1:
        return None if n else []
    return [b"[%b]" % part for part in blob[2:-2].split(b"],[")]


def _micros(column: pa.Array | pa.ChunkedArray) -> list[int | None]:
    if not pa.types.is_timestamp(column.type):
        raise TypeError(f"expected a timestamp column, got {column.type}")
    us: list[int | None] = column.cast(pa.timestamp("us", tz="UTC")).cast(pa.int64()).to_pylist()
    return us
