"""A slow, obviously-correct reference of docs/semantics.md, in plain Python.

Engines are tested against it on random data. It works on lists of dict rows; a view's rows
are listed in source order (files in lexicographic path order, rows in file order), so a
row's index in that list is its position in the source. Every rule below quotes the text it
implements.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

Row = Mapping[str, Any]

__all__ = [
    "RefAggregation",
    "RefView",
    "latest_per_key",
    "point_in_time",
    "to_instant",
    "window_aggregates",
    "winner",
]


def to_instant(value: Any) -> datetime | None:
    """ "Timestamps are instants in UTC. A naive timestamp means UTC. Every timestamp is
    truncated to microseconds on the way in." (pandas Timestamps may carry nanoseconds.)"""
    if value is None:
        return None
    nanos = getattr(value, "nanosecond", 0)
    if hasattr(value, "to_pydatetime"):
        # Dropping nanoseconds moves the instant toward the past, never later.
        value = value.to_pydatetime(warn=False) if nanos else value.to_pydatetime()
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


@dataclass(frozen=True)
class RefView:
    """A feature view as the reference sees it.

    ``rows`` hold the join keys, ``ts`` (event timestamp), ``created`` (may be absent or
    None) and the features, in source order.
    """

    name: str
    keys: tuple[str, ...]
    features: tuple[str, ...]
    ttl: timedelta | None
    rows: Sequence[Row]

    @property
    def bounded(self) -> bool:
        """ "A TTL of None or zero means unbounded, everywhere.\""""
        return self.ttl is not None and self.ttl != timedelta(0)


def _key(row: Row, keys: Sequence[str]) -> tuple[Any, ...] | None:
    """ "An entity key is the ordered tuple of a view's join keys ... A null key matches
    nothing." A tuple with any null part is treated as null."""
    values = tuple(row.get(k) for k in keys)
    return None if any(v is None for v in values) else values


def _rank(position: int, row: Row) -> tuple[Any, ...]:
    """ "the winner has the greatest event timestamp ts; among equal ts, the greatest created
    timestamp c (a null c ranks lowest); among rows equal on both, the one that comes later
    in the source"."""
    created = to_instant(row.get("created"))
    return (to_instant(row["ts"]), created is not None, created or datetime.min, position)


def winner(candidates: Sequence[tuple[int, Row]]) -> Row | None:
    """The winning ``(position, row)`` pair's row, or None when there is no candidate."""
    if not candidates:
        return None
    return max(candidates, key=lambda pr: _rank(pr[0], pr[1]))[1]


def _usable(view: RefView) -> list[tuple[int, Row]]:
    """ "A source row whose event timestamp is null is ignored everywhere.\""""
    return [(i, r) for i, r in enumerate(view.rows) if r.get("ts") is not None]


def point_in_time(
    entity_rows: Sequence[Row],
    requests: Sequence[tuple[RefView, Sequence[str], Sequence[str]]],
) -> list[dict[str, Any]]:
    """``get_historical_features``: one output row per entity row, in order.

    ``requests`` are ``(view, features, output names)`` in request order. Output rows hold the
    entity columns (``event_timestamp`` normalized to aware UTC) then the feature columns.
    """
    out = []
    for entity in entity_rows:
        t = to_instant(entity["event_timestamp"])
        assert t is not None, "the entity frame's event_timestamp must not be null"
        result = dict(entity)
        result["event_timestamp"] = t
        for view, features, names in requests:
            key = _key(entity, view.keys)
            candidates = []
            for position, row in _usable(view):
                if key is None or _key(row, view.keys) != key:
                    continue
                ts = to_instant(row["ts"])
                # "r.event_timestamp - ttl <= s.ts <= r.event_timestamp, both ends inclusive"
                if ts > t:
                    continue
                if view.bounded and ts < t - view.ttl:  # type: ignore[operator]
                    continue
                candidates.append((position, row))
            best = winner(candidates)
            for feature, name in zip(features, names, strict=True):
                # "r gets the winner's values as they are (a null stays null ...)"
                result[name] = None if best is None else best.get(feature)
        out.append(result)
    return out


def latest_per_key(
    view: RefView,
    start: datetime | None,
    end: datetime,
    late_created_after: datetime | None = None,
) -> dict[tuple[Any, ...], Row]:
    """The winner per key among rows with ``start <= ts <= end`` (materialization).

    With ``late_created_after``, rows with ``ts < start`` whose created timestamp is later
    than it are candidates too.
    """
    by_key: dict[tuple[Any, ...], list[tuple[int, Row]]] = {}
    for position, row in _usable(view):
        key = _key(row, view.keys)
        if key is None:
            continue
        ts = to_instant(row["ts"])
        in_range = (start is None or to_instant(start) <= ts) and ts <= to_instant(end)
        created = to_instant(row.get("created"))
        late = (
            late_created_after is not None
            and start is not None
            and ts < to_instant(start)
            and created is not None
            and created > to_instant(late_created_after)
        )
        if in_range or late:
            by_key.setdefault(key, []).append((position, row))
    return {key: winner(rows) for key, rows in by_key.items()}  # type: ignore[misc]


@dataclass(frozen=True)
class RefAggregation:
    """``function(column)`` over ``window`` (None: lifetime), output as ``name``."""

    function: str
    column: str
    window: timedelta | None
    name: str
    threshold: float | None = None


def _aggregate(
    function: str, rows: Sequence[tuple[int, Row]], column: str, threshold: float | None = None
) -> Any:
    """ "Nulls in column are ignored. count is the number of non-null values and
    count_distinct the number of distinct ones (0 when there are none ...); sum, mean, min,
    max, last of no values are null; std (sample, ddof=1) of fewer than two values is null.\""""
    present = [(p, r) for p, r in rows if r.get(column) is not None]
    values = [r[column] for _, r in present]
    if function == "count":
        return len(values)
    if function == "count_distinct":
        return len(set(values))
    if not values:
        return None
    if function == "sum":
        return math.fsum(values) if isinstance(values[0], float) else sum(values)
    if function == "mean":
        return math.fsum(values) / len(values)
    if function == "min":
        return min(values)
    if function == "max":
        return max(values)
    if function == "std":
        if len(values) < 2:
            return None
        return statistics.stdev(float(v) for v in values)
    if function == "share_above":
        assert threshold is not None
        return sum(1 for v in values if v > threshold) / len(values)
    if function == "last":
        # The winner of "Which row wins" among the window's rows with a non-null value.
        best = winner(present)
        return None if best is None else best[column]
    raise ValueError(function)


def window_aggregates(
    entity_rows: Sequence[Row],
    view: RefView,
    aggregations: Sequence[RefAggregation],
    event_id: str | None = None,
    values_out: list[dict[str, list[Any]]] | None = None,
) -> list[dict[str, Any]]:
    """Window aggregations at each entity row's ``event_timestamp``, one dict per row.

    ``values_out``, when given, receives per entity row the non-null values each aggregation
    saw (to scale float tolerances).

    "uses the source rows with key k and t - w < s.ts <= t (left-open, right-closed) ... A
    lifetime aggregation has no left end. Every source row counts, duplicates included,
    unless the source names an event_id column: then rows of one key with the same event_id
    count once ... Two rows with the same event_id under different keys are two events."
    Among rows of a key sharing an ``event_id`` the winner of "Which row wins" is kept.
    """
    usable = [(p, r) for p, r in _usable(view) if _key(r, view.keys) is not None]
    if event_id is not None:
        groups: dict[tuple[Any, ...], list[tuple[int, Row]]] = {}
        kept = []
        for position, row in usable:
            if row.get(event_id) is None:
                kept.append((position, row))
            else:
                ident = (_key(row, view.keys), row[event_id])
                groups.setdefault(ident, []).append((position, row))
        for members in groups.values():
            best = max(members, key=lambda pr: _rank(pr[0], pr[1]))
            kept.append(best)
        usable = sorted(kept, key=lambda pr: pr[0])
    out = []
    for entity in entity_rows:
        t = to_instant(entity["event_timestamp"])
        assert t is not None
        key = _key(entity, view.keys)
        mine = [(p, r) for p, r in usable if key is not None and _key(r, view.keys) == key]
        result: dict[str, Any] = {}
        seen: dict[str, list[Any]] = {}
        for agg in aggregations:
            rows = [
                (p, r)
                for p, r in mine
                if to_instant(r["ts"]) <= t  # type: ignore[operator]
                and (agg.window is None or to_instant(r["ts"]) > t - agg.window)  # type: ignore[operator]
            ]
            result[agg.name] = _aggregate(agg.function, rows, agg.column, agg.threshold)
            seen[agg.name] = [r[agg.column] for _, r in rows if r.get(agg.column) is not None]
        out.append(result)
        if values_out is not None:
            values_out.append(seen)
    return out
