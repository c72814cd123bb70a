"""Statistics and fingerprints of a dataset's rows, computed once when it is saved.

The statistics are the reference later compared with live data to detect drift; see
docs/datasets.md.
"""

from __future__ import annotations

import hashlib
import math
from datetime import datetime
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from skewless._time import to_utc
from skewless._types import dtype_from_arrow
from skewless.errors import SkewlessError
from skewless.offline.entity import ENTITY_TIME

__all__ = [
    "HISTOGRAM_BINS",
    "OTHER",
    "QUANTILES",
    "TOP_CATEGORIES",
    "column_stats",
    "entity_fingerprint",
    "time_range",
    "type_name",
    "utc_times",
]

QUANTILES = (0.01, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99)
"""The quantiles kept per numeric column (numpy's ``linear`` method)."""
HISTOGRAM_BINS = 20
"""Equal-width bins between a numeric column's min and max."""
TOP_CATEGORIES = 50
"""Categories counted one by one; the rest are summed under :data:`OTHER`."""
OTHER = "__other__"

_US_UTC = pa.timestamp("us", tz="UTC")


# -- statistics -------------------------------------------------------------------------------
def column_stats(column: pa.ChunkedArray | pa.Array) -> dict[str, Any]:
    """Statistics of one column, computed once when a dataset is saved.

    Numbers (ints, floats, decimals): ``{"kind": "numeric", "count", "nulls", "infinite",
    "mean", "std", "min", "max", "quantiles": {"0.01": ..., "0.99": ...}, "histogram":
    {"edges": [...], "counts": [...]}}`` over the finite values; NaN counts as null, ±inf is
    counted in ``infinite`` and left out of the rest (see :func:`_histogram` for the bins).
    ``mean`` is from an exactly rounded sum; ``std`` is the sample standard deviation
    (ddof=1), None with fewer than two values. Strings and bools: ``{"kind": "categorical",
    "count", "nulls", "categories": {value: count}}`` with the :data:`TOP_CATEGORIES` most
    frequent values (ties by value) and, when there are more, the rest under :data:`OTHER`.
    Times: ``{"kind": "time", "count", "nulls", "min", "max"}`` (ISO text). Anything else:
    ``{"kind": "other", "count", "nulls"}``.

    >>> column_stats(pa.array([1, 2, None]))["mean"]
    1.5
    """
    if isinstance(column, pa.Array):
        column = pa.chunked_array([column], column.type)
    kind = column.type
    nulls = column.null_count
    if pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_decimal(kind):
        return _numeric_stats(column, nulls)
    if pa.types.is_boolean(kind) or pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return _categorical_stats(column, nulls)
    count = len(column) - nulls
    if pa.types.is_timestamp(kind) or pa.types.is_date(kind):
        bounds = pc.min_max(column)
        low, high = bounds["min"].as_py(), bounds["max"].as_py()
        return {
            "kind": "time",
            "count": count,
            "nulls": nulls,
            "min": _time_text(low),
            "max": _time_text(high),
        }
    return {"kind": "other", "count": count, "nulls": nulls}


def _numeric_stats(column: pa.ChunkedArray, nulls: int) -> dict[str, Any]:
    values = pc.drop_null(column).cast(pa.float64(), safe=False).to_numpy()
    nan = np.isnan(values)
    infinite = np.isinf(values)
    finite = values[~nan & ~infinite]
    count = int(finite.size)
    out: dict[str, Any] = {
        "kind": "numeric",
        "count": count,
        "nulls": nulls + int(nan.sum()),
        "infinite": int(infinite.sum()),
    }
    if count == 0:
        none = dict.fromkeys(("mean", "std", "min", "max"))
        quantiles = {_q(q): None for q in QUANTILES}
        return {**out, **none, "quantiles": quantiles, "histogram": {"edges": [], "counts": []}}
    if pa.types.is_integer(column.type):
        bounds = pc.min_max(column)
        low, high = bounds["min"].as_py(), bounds["max"].as_py()
    else:
        low, high = float(finite.min()), float(finite.max())
    qs = np.quantile(finite, QUANTILES, method="linear")
    return {
        **out,
        "mean": math.fsum(finite) / count,
        "std": float(np.std(finite, ddof=1)) if count > 1 else None,
        "min": low,
        "max": high,
        "quantiles": {_q(q): float(v) for q, v in zip(QUANTILES, qs, strict=True)},
        "histogram": _histogram(finite),
    }


def _histogram(finite: np.ndarray) -> dict[str, list[Any]]:
    """Equal-width bins from min to max (the last one closed); one bin when the values are
    all equal or too close for :data:`HISTOGRAM_BINS` distinct edges."""
    low, high = float(finite.min()), float(finite.max())
    edges = np.linspace(low, high, HISTOGRAM_BINS + 1)
    if low == high or not np.all(np.isfinite(edges)) or np.any(edges[:-1] >= edges[1:]):
        return {"edges": [low, high], "counts": [int(finite.size)]}
    counts, edges = np.histogram(finite, bins=edges)
    return {"edges": [float(e) for e in edges], "counts": [int(c) for c in counts]}


def _categorical_stats(column: pa.ChunkedArray, nulls: int) -> dict[str, Any]:
    counted = pc.value_counts(pc.drop_null(column))
    pairs = [
        (_category(v), int(c))
        for v, c in zip(
            counted.field("values").to_pylist(), counted.field("counts").to_pylist(), strict=True
        )
    ]
    pairs.sort(key=lambda pair: (-pair[1], pair[0]))
    categories = dict(pairs[:TOP_CATEGORIES])
    rest = sum(c for _, c in pairs[TOP_CATEGORIES:])
    if len(pairs) > TOP_CATEGORIES:
        categories[OTHER] = rest
    return {
        "kind": "categorical",
        "count": len(column) - nulls,
        "nulls": nulls,
        "categories": categories,
    }


def _category(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _q(q: float) -> str:
    return f"{q:g}"


# -- fingerprints, times, types ---------------------------------------------------------------
def entity_fingerprint(table: pa.Table) -> str:
    """sha256 of the Arrow IPC stream of ``table``'s columns in sorted name order.

    Row order matters; column order, chunking and schema metadata do not. Times are taken
    as microseconds UTC and large strings as strings first, so a pandas frame and the
    retrieval output that copied it give the same fingerprint.

    >>> a = pa.table({"id": [1, 2], "x": ["a", "b"]})
    >>> entity_fingerprint(a) == entity_fingerprint(a.select(["x", "id"]))
    True
    >>> entity_fingerprint(a) == entity_fingerprint(a.take([1, 0]))
    False
    """
    names = sorted(table.column_names)
    arrays = []
    fields = []
    for name in names:
        column = table.column(name)
        if pa.types.is_timestamp(column.type):
            column = _as_utc(column)
        elif pa.types.is_large_string(column.type):
            column = column.cast(pa.string())
        elif pa.types.is_large_binary(column.type):
            column = column.cast(pa.binary())
        arrays.append(column.combine_chunks())
        fields.append(pa.field(name, column.type))
    schema = pa.schema(fields)
    canonical = pa.Table.from_arrays(arrays, schema=schema)
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, schema) as writer:
        writer.write_table(canonical)
    return hashlib.sha256(sink.getvalue().to_pybytes()).hexdigest()


def utc_times(table: pa.Table) -> pa.ChunkedArray:
    """The rows' ``event_timestamp`` as microseconds UTC."""
    if ENTITY_TIME not in table.column_names:
        raise SkewlessError(
            f"the dataset has no {ENTITY_TIME!r} column: it was not made by a retrieval"
        )
    column = table.column(ENTITY_TIME)
    if pa.types.is_date(column.type):
        column = column.cast(pa.timestamp("us"))
    return _as_utc(column)


def _as_utc(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """Timestamps as microseconds UTC (naive ones mean UTC)."""
    if column.type.tz is None:
        column = column.cast(pa.timestamp("us")).cast(pa.int64()).cast(_US_UTC)
    return column.cast(_US_UTC)


def time_range(table: pa.Table) -> tuple[datetime | None, datetime | None]:
    """The earliest and latest ``event_timestamp`` (UTC); None, None without rows."""
    if ENTITY_TIME not in table.column_names or table.num_rows == 0:
        return None, None
    bounds = pc.min_max(utc_times(table))
    low, high = bounds["min"].as_py(), bounds["max"].as_py()
    return (to_utc(low) if low else None), (to_utc(high) if high else None)


def type_name(kind: pa.DataType) -> str:
    """The skewless type name of an Arrow type (the Arrow name when there is none)."""
    try:
        return str(dtype_from_arrow(kind))
    except ValueError:
        return str(kind)


def _time_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return to_utc(value).isoformat()
    return str(value.isoformat())
