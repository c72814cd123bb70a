"""The entity frame on its way into an engine (engine-neutral, Arrow only).

Example:
    >>> import pyarrow as pa
    >>> ts = pa.chunked_array([pa.array([1_999], pa.timestamp("ns"))])
    >>> utc_micros(ts).type
    TimestampType(timestamp[us, tz=UTC])
    >>> utc_micros(ts).cast(pa.int64()).to_pylist()
    [1]
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from skewless.errors import EntityFrameError

__all__ = ["ENTITY_TIME", "UTC_MICROS", "key_family", "row_numbers", "utc_micros"]

ENTITY_TIME = "event_timestamp"
UTC_MICROS = pa.timestamp("us", tz="UTC")


def utc_micros(column: pa.ChunkedArray | pa.Array) -> pa.ChunkedArray:
    """Timestamps of any unit and zone as ``timestamp[us, tz=UTC]``, truncated toward the past.

    A naive timestamp means UTC. Dates become midnight UTC.
    """
    if isinstance(column, pa.Array):
        column = pa.chunked_array([column], column.type)
    kind = column.type
    if pa.types.is_date(kind):
        return column.cast(pa.timestamp("us")).cast(UTC_MICROS)
    if not pa.types.is_timestamp(kind):
        raise EntityFrameError(
            f"column {ENTITY_TIME!r} holds {kind}, not timestamps: convert it, e.g. "
            "pandas.to_datetime(df['event_timestamp'], utc=True)"
        )
    if kind.unit == "ns":
        column = pc.floor_temporal(column, unit="microsecond")
    return column.cast(pa.timestamp("us", tz=kind.tz)).cast(UTC_MICROS)


def row_numbers(n: int) -> pa.Array:
    """0..n-1 as int64: the entity frame's order, carried through a join."""
    return pa.array(np.arange(n, dtype=np.int64))


def key_family(kind: pa.DataType) -> str:
    """Coarse type family of a join-key column: keys of one family compare by value."""
    if pa.types.is_dictionary(kind):
        return key_family(kind.value_type)
    if pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_decimal(kind):
        return "number"
    if pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_string_view(kind):
        return "string"
    if pa.types.is_binary(kind) or pa.types.is_large_binary(kind) or pa.types.is_binary_view(kind):
        return "bytes"
    if pa.types.is_timestamp(kind) or pa.types.is_date(kind):
        return "time"
    return str(kind)
