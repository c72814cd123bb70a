"""Calendar features of a timestamp, in UTC: day of week, hour of day, weekend or not.

Aware timestamps are converted to UTC first; naive ones are read as UTC already. Nulls (None,
``NaT``) stay null. Days count from Monday = 0 to Sunday = 6, as pandas' ``dt.dayofweek``.

Example:
    >>> from datetime import datetime, timezone, timedelta
    >>> saturday_noon = datetime(2024, 3, 2, 12, 30, tzinfo=timezone.utc)
    >>> day_of_week(saturday_noon), hour_of_day(saturday_noon), is_weekend(saturday_noon)
    (5, 12, True)
    >>> paris = timezone(timedelta(hours=1))
    >>> hour_of_day([datetime(2024, 3, 2, 0, 30, tzinfo=paris), None])
    [23, None]
    >>> import pandas as pd
    >>> day_of_week(pd.Series(pd.to_datetime(["2024-03-04", None], utc=True))).tolist()
    [0, <NA>]
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from skewless.transforms._values import is_null, is_series, shape_of

__all__ = ["day_of_week", "hour_of_day", "is_weekend"]


def day_of_week(timestamps: Any) -> Any:
    """The UTC day of the week, Monday = 0 ... Sunday = 6 (pandas ``dt.dayofweek``).

    Args:
        timestamps: a datetime, a list of datetimes (None for null), or a Series of datetimes.

    Returns:
        An int (or None) per timestamp, in the input's shape; a Series is of dtype ``Int64``.

    Raises:
        TypeError: a value is not a datetime.
    """
    return _calendar("day_of_week", timestamps, _weekday, "day_of_week")


def hour_of_day(timestamps: Any) -> Any:
    """The UTC hour of the day, 0 ... 23 (pandas ``dt.hour`` after converting to UTC).

    Returns:
        An int (or None) per timestamp, in the input's shape; a Series is of dtype ``Int64``.

    Raises:
        TypeError: a value is not a datetime.
    """
    return _calendar("hour_of_day", timestamps, _hour, "hour")


def is_weekend(timestamps: Any) -> Any:
    """Whether the UTC day is a Saturday or a Sunday (``day_of_week >= 5``).

    Returns:
        A bool (or None) per timestamp, in the input's shape; a Series is of dtype
        ``boolean``. Declare the feature ``Bool`` (or convert with ``int(...)`` /
        ``.astype("Int64")`` for an ``Int64`` 0/1 feature, as the seed pattern did).

    Raises:
        TypeError: a value is not a datetime.
    """
    days = day_of_week(timestamps)
    if is_series(days):
        return days >= 5
    if isinstance(days, list):
        return [None if d is None else d >= 5 for d in days]
    return None if days is None else days >= 5


def _utc(value: Any, what: str) -> datetime | None:
    if is_null(value):
        return None
    if not isinstance(value, datetime):
        raise TypeError(f"{what}: expected a datetime, got {type(value).__name__} {value!r}")
    if value.tzinfo is not None and value.utcoffset() is not None:
        return value.astimezone(UTC)
    return value


def _weekday(value: datetime) -> int:
    return value.weekday()


def _hour(value: datetime) -> int:
    return value.hour


def _calendar(what: str, timestamps: Any, part: Any, accessor: str) -> Any:
    shape = shape_of(what, timestamps)
    if shape.kind == "series":
        series = _utc_series(timestamps, what)
        return getattr(series.dt, accessor).astype("Int64")
    values = shape.lists(timestamps)[0]
    out = []
    for value in values:
        moment = _utc(value, what)
        out.append(None if moment is None else part(moment))
    return shape.wrap(out)


def _utc_series(series: Any, what: str) -> Any:
    """A Series of datetimes on UTC wall time (naive values are taken as UTC)."""
    import pandas as pd

    dtype = series.dtype
    if isinstance(dtype, pd.DatetimeTZDtype):
        return series.dt.tz_convert("UTC")
    if pd.api.types.is_datetime64_dtype(dtype):
        return series
    kind = pd.api.types.infer_dtype(series, skipna=True)
    if series.isna().all():
        return pd.Series(pd.NaT, index=series.index, dtype="datetime64[us, UTC]")
    if not pd.api.types.is_object_dtype(dtype) or kind not in ("datetime", "datetime64"):
        raise TypeError(f"{what}: expected datetimes, got a Series of {dtype} ({kind})")
    return pd.to_datetime(series, utc=True)
