"""Drift per day: the current data split by the UTC day of its timestamps, each day compared
with the same reference as the whole window, so a slow drift shows where it began.

:func:`with_timeline` returns the whole window's report with its ``timeline`` filled (the
shape in :mod:`skewless.monitoring.report`); the HTML report draws it as the "Drift per day"
chart and table. See docs/monitoring.md, "Drift per day".
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from datetime import date
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from skewless.errors import DriftInputError
from skewless.monitoring.report import DriftReport

__all__ = ["DAY_FORMAT", "day_slices", "with_timeline"]

DAY_FORMAT = "%Y-%m-%d"

Compare = Callable[[pa.Table], DriftReport]


def day_slices(table: pa.Table, timestamp: str = "timestamp") -> list[tuple[date, pa.Table]]:
    """The rows of ``table`` per UTC day of ``timestamp``, days in order (rows without a
    timestamp are left out).

    Raises:
        DriftInputError: ``table`` has no column ``timestamp``, or it holds no times.

    Example:
        >>> from datetime import UTC, datetime
        >>> t = pa.table({"x": [1, 2, 3], "timestamp": pa.array(
        ...     [datetime(2026, 12, 1, 9, tzinfo=UTC), datetime(2026, 12, 2, 1, tzinfo=UTC),
        ...      datetime(2026, 12, 1, 23, tzinfo=UTC)])})
        >>> [(d.isoformat(), part.column("x").to_pylist()) for d, part in day_slices(t)]
        [('2026-12-01', [1, 3]), ('2026-12-02', [2])]
    """
    if timestamp not in table.column_names:
        raise DriftInputError(
            f"the current data has no {timestamp!r} column to split by day: pass a "
            "prediction-log window, or data with that timestamp column"
        )
    times = table.column(timestamp)
    if not pa.types.is_timestamp(times.type):
        raise DriftInputError(
            f"column {timestamp!r} is {times.type}, not a timestamp: cast it to one to split "
            "the data by day"
        )
    if times.type.tz is None:
        times = pc.assume_timezone(times, "UTC")
    days = pc.cast(pc.cast(times, pa.timestamp("us", tz="UTC")), pa.date32())
    distinct = sorted(d for d in pc.unique(days).to_pylist() if d is not None)
    return [(d, table.filter(pc.equal(days, pa.scalar(d, pa.date32())))) for d in distinct]


def with_timeline(
    report: DriftReport,
    current: pa.Table,
    compare: Compare,
    *,
    timestamp: str = "timestamp",
    min_rows: int = 1,
    on_day: Callable[[], None] | None = None,
) -> DriftReport:
    """``report`` with its ``timeline``: ``compare`` (the same comparison as the report's,
    given one day's rows) run on each UTC day of ``current``.

    A day with fewer than ``min_rows`` rows, or whose rows cannot be compared (a column all
    null that day), is listed with its rows and the reason, and no statistics.

    Args:
        report: the whole window's report.
        current: the whole window's current rows, with ``timestamp``.
        compare: one day's rows -> its report.
        timestamp: the column that holds each row's time.
        min_rows: the fewest rows a day needs to be compared.
        on_day: called after each day (a progress bar's step).
    """
    days: list[dict[str, Any]] = []
    for day, rows in day_slices(current, timestamp):
        days.append(_one_day(day, rows, compare, min_rows))
        if on_day is not None:
            on_day()
    return dataclasses.replace(report, timeline=tuple(days))


def _one_day(day: date, rows: pa.Table, compare: Compare, min_rows: int) -> dict[str, Any]:
    entry: dict[str, Any] = {"day": day.strftime(DAY_FORMAT), "rows": rows.num_rows}
    if rows.num_rows < min_rows:
        entry.update(share_drifted=None, columns={}, skipped=f"fewer than {min_rows} rows")
        return entry
    try:
        daily = compare(rows)
    except DriftInputError as exc:
        entry.update(share_drifted=None, columns={}, skipped=str(exc))
        return entry
    entry["share_drifted"] = daily.share_drifted
    entry["dataset_drift"] = daily.dataset_drift
    entry["columns"] = _columns(daily.columns)
    return entry


def _columns(columns: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        name: {"statistic": c.statistic, "p_value": c.p_value, "drifted": c.drifted}
        for name, c in columns.items()
    }
