"""Pushed values on their way to their declared types: nothing rounded, wrapped or made infinite.

The rules are docs/semantics.md "Values and their types" and "Push". A pushed column is cast to
its declared type only when every value survives exactly: an integer outside the type's range,
a non-integral float for an integer type, or a finite float beyond Float32's range is refused
with an error naming the column, the value and the views that declare it. Infinities and NaN
sent as such are kept. Event times further in the future than the allowed clock skew are
refused too, since such a row would win over every later correction of its key.

Example:
    >>> import pyarrow as pa
    >>> from skewless._types import Int64
    >>> cast_column(pa.chunked_array([[1, 2]]), Int64, "n", "'v'").to_pylist()
    [1, 2]
    >>> cast_column(pa.chunked_array([[2.5]]), Int64, "n", "'v'")
    Traceback (most recent call last):
    ...
    skewless.errors.PushValidationError: pushed column 'n' holds 2.5, which is not an integer: ...
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from skewless._time import parse_time, to_micros
from skewless._types import (
    Array,
    DType,
    UnixTimestamp,
    document_texts,
    is_document,
    parse_documents,
)
from skewless.errors import PushValidationError

__all__ = [
    "UTC_MICROS",
    "cast_column",
    "cast_to_file_type",
    "check_clock_skew",
    "column_from_values",
    "timestamps",
]

UTC_MICROS = pa.timestamp("us", tz="UTC")
_FLOAT32_MAX = float(np.finfo(np.float32).max)


# -- building columns from Python values ---------------------------------------------------
def column_from_values(name: str, values: list[Any], fed: str = "") -> pa.Array:
    """An Arrow column of pushed Python values; an integer beyond 64 bits is named as such.

    ``fed`` names the views the column goes to, for the error message.
    """
    try:
        return pa.array(values)
    except OverflowError:
        big = next(
            (v for v in values if isinstance(v, int) and not -(2**63) <= v < 2**63),
            None,
        )
        if big is None:
            raise PushValidationError(
                f"pushed column {name!r} holds a value too large to store; send values that "
                "fit in 64 bits"
            ) from None
        raise PushValidationError(
            f"pushed column {name!r}{f' (feeding {fed})' if fed else ''} holds {big}, which is "
            f"out of range for Int64 (integers run from {-(2**63)} to {2**63 - 1}); send a "
            "smaller integer, or a float for a Float64 column"
        ) from None
    except (pa.ArrowException, TypeError, ValueError) as exc:
        raise PushValidationError(
            f"pushed column {name!r} mixes values of different types ({exc}); "
            "give it values of one type"
        ) from None


# -- casting ---------------------------------------------------------------------------------
def cast_column(
    column: pa.ChunkedArray, dtype: DType, name: str, fed: str
) -> pa.ChunkedArray | pa.Array:
    """``column`` as ``dtype``, refused when a value would change on the way.

    Raises:
        PushValidationError: a value the type cannot hold; names the column and ``fed``.
    """
    if dtype == UnixTimestamp:
        return timestamps(column, name)
    if is_document(dtype):
        try:
            return pa.array(document_texts(column.to_pylist(), dtype), pa.string())
        except ValueError as exc:
            raise PushValidationError(
                f"pushed column {name!r} (declared {dtype} by {fed}): {exc}; send dicts or JSON "
                "text"
            ) from None
    target = dtype.to_arrow()
    if column.type == target:
        return column
    if isinstance(dtype, Array) and dtype.base_type == UnixTimestamp:
        target = pa.list_(UTC_MICROS)
    if pa.types.is_null(column.type):
        return pa.nulls(len(column), target)
    _check_fits(column, target, name, f"{dtype} (declared by {fed})")
    try:
        return column.cast(target, safe=True)
    except (pa.ArrowException, TypeError, ValueError) as exc:
        detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise PushValidationError(
            f"pushed column {name!r} holds {column.type} values that are not {dtype} "
            f"(declared by {fed}): {detail}; send {dtype} values"
        ) from None


def cast_to_file_type(
    column: pa.Array | pa.ChunkedArray, target: pa.Field, source_name: str
) -> pa.Array | pa.ChunkedArray:
    """A pushed column as the type the push source's existing files give it."""
    if column.type == target.type:
        return column
    what = f"{target.type}, the type of the files of push source {source_name!r},"
    try:
        if pa.types.is_timestamp(column.type) and pa.types.is_timestamp(target.type):
            micros = column.cast(pa.int64())  # UTC instants, whatever the file's zone
            return micros.cast(pa.timestamp("us", tz=target.type.tz)).cast(target.type)
        if pa.types.is_string(column.type) and pa.types.is_nested(target.type):
            # A Map/Json value (JSON text) kept in a file that holds it as a struct or map.
            return pa.array(parse_documents(column.to_pylist()), type=target.type)
        _check_fits(column, target.type, target.name, what)
        return column.cast(target.type, safe=True)
    except (pa.ArrowException, TypeError, ValueError) as exc:
        raise PushValidationError(
            f"pushed column {target.name!r} ({column.type}) cannot be stored as {target.type}, "
            f"the type of the files of push source {source_name!r}: {str(exc).splitlines()[0]}"
        ) from None


def _flat(column: pa.Array | pa.ChunkedArray, target: pa.DataType) -> tuple[Any, pa.DataType]:
    """The values to check (list elements for a list column) and the element target type."""
    while pa.types.is_list(target) or pa.types.is_large_list(target):
        if not (pa.types.is_list(column.type) or pa.types.is_large_list(column.type)):
            break
        column = pc.list_flatten(column)
        target = target.value_type
    return column, target


def _check_fits(
    column: pa.Array | pa.ChunkedArray, target: pa.DataType, name: str, what: str
) -> None:
    """Raise when a numeric value of ``column`` cannot be held exactly by ``target``."""
    values, element = _flat(column, target)
    source = values.type
    numeric = pa.types.is_integer(source) or pa.types.is_floating(source)
    if not numeric or len(values) == values.null_count:
        return
    if pa.types.is_integer(element):
        info = np.iinfo(element.to_pandas_dtype())
        if pa.types.is_floating(source):
            finite = pc.is_finite(values)
            fraction = pc.and_kleene(
                pc.invert(finite), pc.is_valid(values)
            )  # NaN or infinite: no integer
            fraction = pc.or_kleene(
                fraction, pc.and_kleene(finite, pc.not_equal(pc.floor(values), values))
            )
            bad = pc.filter(values, pc.fill_null(fraction, False))
            if len(bad):
                raise PushValidationError(
                    f"pushed column {name!r} holds {bad[0].as_py()!r}, which is not an integer: "
                    f"{what} holds whole numbers only; send integers"
                )
        low, high = _min_max(values)
        out = low if low < int(info.min) else high if high > int(info.max) else None
        if out is not None:
            raise PushValidationError(
                f"pushed column {name!r} holds {out!r}, which is out of range for {what}: "
                f"send integers from {int(info.min)} to {int(info.max)}"
            )
    elif pa.types.is_float32(element) and not pa.types.is_float32(source):
        finite = pc.filter(values, pc.fill_null(pc.is_finite(values), False))
        if not len(finite):
            return
        low, high = _min_max(finite)
        out = low if low < -_FLOAT32_MAX else high if high > _FLOAT32_MAX else None
        if out is not None:
            raise PushValidationError(
                f"pushed column {name!r} holds {out!r}, which is out of range for {what}: "
                f"send values within ±{_FLOAT32_MAX:.7g}, or declare the column Float64"
            )


def _min_max(values: pa.Array | pa.ChunkedArray) -> tuple[Any, Any]:
    found = pc.min_max(values)
    return found["min"].as_py(), found["max"].as_py()


# -- times -----------------------------------------------------------------------------------
def timestamps(column: pa.ChunkedArray | pa.Array, name: str) -> pa.Array:
    """Any time column as timestamp[us, UTC] (naive means UTC; ISO-8601 text is parsed)."""
    kind = column.type
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks() if column.num_chunks else pa.array([], kind)
    if pa.types.is_null(kind):
        return pa.nulls(len(column), UTC_MICROS)
    if pa.types.is_timestamp(kind):
        micros = column.cast(pa.timestamp("us", tz=kind.tz), safe=False).cast(pa.int64())
        return micros.cast(UTC_MICROS)
    if pa.types.is_date(kind):
        return column.cast(pa.timestamp("us")).cast(pa.int64()).cast(UTC_MICROS)
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        values = []
        for text in column.to_pylist():
            try:
                values.append(None if text is None else to_micros(parse_time(text, name)))
            except Exception:
                raise PushValidationError(
                    f"pushed column {name!r} holds {text!r}, which is not a time: use "
                    "ISO-8601 text (2024-01-31T12:00:00Z) or timestamp values"
                ) from None
        return pa.array(values, pa.int64()).cast(UTC_MICROS)
    raise PushValidationError(
        f"pushed column {name!r} holds {kind} values, not times: use timestamps or ISO-8601 "
        "text (2024-01-31T12:00:00Z)"
    )


def check_clock_skew(
    event: pa.Array, now: datetime, max_skew: timedelta | None, name: str, source: str
) -> None:
    """Refuse event times later than ``now + max_skew`` (None: no limit).

    Raises:
        PushValidationError: naming the first such time, the limit and how to change it.
    """
    if max_skew is None or not len(event):
        return
    limit = to_micros(now) + max_skew // timedelta(microseconds=1)
    micros = event.cast(pa.int64())
    late = pc.filter(micros, pc.fill_null(pc.greater(micros, limit), False))
    if not len(late):
        return
    first = pa.scalar(int(pc.max(late).as_py()), pa.int64()).cast(UTC_MICROS).as_py()
    raise PushValidationError(
        f"{len(late)} row(s) pushed to {source!r} have an event time ({name!r}) in the future, "
        f"up to {first.isoformat()}, more than {max_skew} past now ({now.isoformat()}): such a "
        "row would win over every later correction of its key; send the real event time, fix "
        "the sender's clock, or raise push.max_clock_skew in feature_store.yaml"
    )
