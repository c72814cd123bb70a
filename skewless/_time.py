"""Timestamps: every instant is UTC, truncated to microseconds on the way in."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from skewless.errors import TimeRangeError

__all__ = ["EPOCH", "from_micros", "parse_time", "to_micros", "to_utc"]

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_MICRO = timedelta(microseconds=1)


def to_utc(value: datetime) -> datetime:
    """A naive datetime means UTC; an aware one is converted to UTC."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def to_micros(value: datetime) -> int:
    """Microseconds since the epoch of an instant (naive means UTC), rounded down.

    An aware value needs no conversion first: subtracting aware datetimes accounts for
    their offsets.

    >>> from datetime import timezone
    >>> to_micros(datetime(1970, 1, 1, 1, tzinfo=timezone(timedelta(hours=1))))
    0
    >>> to_micros(datetime(1969, 12, 31, 23, 59, 59, 999_999))
    -1
    """
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    micros: int = (value - EPOCH) // _ONE_MICRO
    return micros


def from_micros(micros: int) -> datetime:
    return EPOCH + timedelta(microseconds=micros)


def parse_time(value: Any, what: str = "time") -> datetime:
    """Parse a CLI/user time: a datetime, ISO-8601 text (``Z`` allowed), or ``now``-free text.

    >>> parse_time("2024-01-02T03:04:05Z").isoformat()
    '2024-01-02T03:04:05+00:00'
    >>> parse_time("2024-01-02").isoformat()
    '2024-01-02T00:00:00+00:00'
    """
    if isinstance(value, datetime):
        return to_utc(value)
    if hasattr(value, "to_pydatetime"):  # pandas.Timestamp
        return to_utc(value.to_pydatetime())
    if isinstance(value, str):
        text = value.strip()
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        try:
            return to_utc(datetime.fromisoformat(text))
        except ValueError:
            pass
    raise TimeRangeError(
        f"{what} {value!r} is not a time: write ISO-8601, e.g. 2024-01-31T00:00:00 (UTC)"
    )
