"""The engine-neutral description of offline queries: what to read, join and keep.

Every offline engine renders SQL from these descriptions through its dialect
(:mod:`skewless.offline.sql`), so the rules of docs/semantics.md live in one place:

* :class:`SourceRead` — one view's source rows, normalized: join keys, the event and created
  timestamps as UTC microseconds, the row's position in the source, the features cast to
  their declared types. Rows with a null event timestamp or a null key are dropped.
* :class:`PointInTimeQuery` — every entity row joined with the winning row of each view at or
  before its time, nulled when older than the view's TTL.
* :class:`WindowJoin` — a view's window aggregations, evaluated at every entity row's time
  over the rows with ``t - window < ts <= t`` (deduplicated by ``event_id`` when it has one).
* :class:`LatestPerKeyQuery` — the winning row per key in a time range (materialization).

The winner among candidates is the greatest ``(event ts, created ts with null lowest,
position in source)``; the position is ``(file index in path order, row index in file)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Literal

import pyarrow as pa

from skewless._contracts import ViewRequest
from skewless._types import DType, UnixTimestamp
from skewless.definitions import BatchFeatureView, FeatureView
from skewless.errors import SchemaMismatchError
from skewless.offline.sources import source_columns

__all__ = [
    "EntityRelation",
    "LatestPerKeyQuery",
    "MaxCreatedQuery",
    "PointInTimeQuery",
    "SourceColumn",
    "SourceRead",
    "ViewJoin",
    "WindowAggregate",
    "WindowEventsQuery",
    "WindowJoin",
    "build_source_read",
    "view_join",
]

# Names of the normalized columns of a SourceRead (a view's own names never start with "__").
EVENT_TS = "__event_ts"
CREATED_TS = "__created_ts"
FILE_POS = "__file_pos"
ROW_POS = "__row_pos"
EVENT_ID = "__event_id"
_MICROSECOND = timedelta(microseconds=1)


@dataclass(frozen=True)
class SourceColumn:
    """One column as read from the source and as the view names it.

    Attributes:
        name: the view's name for it (after ``field_mapping``).
        source: the column's name in the files.
        source_type: its Arrow type as the engine reads it.
        dtype: the declared type to cast to; None keeps the source type (undeclared keys).
    """

    name: str
    source: str
    source_type: pa.DataType
    dtype: DType | None


@dataclass(frozen=True)
class SourceRead:
    """How to read a view's rows: the files and the normalized columns."""

    view_name: str
    files: tuple[str, ...]
    file_format: Literal["parquet", "csv"]
    keys: tuple[SourceColumn, ...]
    timestamp: SourceColumn
    created: SourceColumn | None
    features: tuple[SourceColumn, ...]
    event_id: SourceColumn | None = None

    @property
    def key_names(self) -> tuple[str, ...]:
        return tuple(k.name for k in self.keys)


def build_source_read(
    view: FeatureView,
    files: Sequence[str],
    raw_schema: pa.Schema,
    features: Sequence[str] | None = None,
) -> SourceRead:
    """Describe how to read ``view`` from files whose raw columns are ``raw_schema``.

    ``features`` limits the features read (default: all, in schema order). For a
    :class:`BatchFeatureView` they name aggregations, and the read holds the raw columns those
    aggregations need (and the ``event_id`` column, if the view names one).

    Raises:
        SchemaMismatchError: a column is missing, or a timestamp column is not a time.
    """
    available = {f.name: f.type for f in raw_schema}
    columns = source_columns(view, available)
    declared = {f.name: f.dtype for f in view.schema}

    def column(name: str, source: str, dtype: DType | None) -> SourceColumn:
        return SourceColumn(name, source, available[source], dtype)

    def time_column(name: str, source: str, role: str) -> SourceColumn:
        kind = available[source]
        if not (pa.types.is_timestamp(kind) or pa.types.is_date(kind) or pa.types.is_string(kind)):
            raise SchemaMismatchError(
                f"feature view {view.name!r}: {role} {source!r} of source {view.source.path!r} "
                f"holds {kind}, not timestamps; store it as a timestamp column"
            )
        return column(name, source, UnixTimestamp)

    wanted = view.feature_names if features is None else tuple(features)
    event_id = None
    if isinstance(view, BatchFeatureView):
        wanted = tuple(dict.fromkeys(view.aggregation(f).column for f in wanted))
        if columns.event_id is not None:
            event_id = column(EVENT_ID, columns.event_id, None)
    return SourceRead(
        view_name=view.name,
        files=tuple(files),
        file_format=view.source.file_format,
        keys=tuple(column(k, columns.keys[k], declared.get(k)) for k in view.join_keys),
        timestamp=time_column(EVENT_TS, columns.timestamp, "timestamp field"),
        created=(
            time_column(CREATED_TS, columns.created, "created timestamp column")
            if columns.created
            else None
        ),
        features=tuple(column(f, columns.features[f], declared[f]) for f in wanted),
        event_id=event_id,
    )


@dataclass(frozen=True)
class ViewJoin:
    """One requested view in a point-in-time query.

    Attributes:
        read: the view's source rows.
        features: the features wanted, in request order.
        output_names: the output column of each feature.
        ttl_micros: the TTL in microseconds, or None when unbounded.
    """

    read: SourceRead
    features: tuple[str, ...]
    output_names: tuple[str, ...]
    ttl_micros: int | None

    @classmethod
    def of(cls, request: ViewRequest, read: SourceRead) -> ViewJoin:
        ttl = request.view.ttl
        micros = None if not ttl else ttl // _MICROSECOND
        return cls(read, request.features, request.output_names, micros)


@dataclass(frozen=True)
class WindowAggregate:
    """One aggregation as the engine computes it.

    Attributes:
        function: count, count_distinct, sum, mean, min, max, std or last.
        column: the normalized source column aggregated.
        window_micros: the window in microseconds; None for lifetime.
        dtype: the feature's type.
    """

    function: str
    column: str
    window_micros: int | None
    dtype: DType
    threshold: float | None = None


@dataclass(frozen=True)
class WindowJoin:
    """One requested aggregation view in a point-in-time query.

    Attributes:
        read: the view's source rows (the aggregated columns, and ``event_id`` if any).
        features: the aggregation features wanted, in request order.
        output_names: the output column of each feature.
        aggregates: how to compute each feature.
    """

    read: SourceRead
    features: tuple[str, ...]
    output_names: tuple[str, ...]
    aggregates: tuple[WindowAggregate, ...]

    @property
    def widest_micros(self) -> int | None:
        """The longest window (None when one of them is lifetime): the join's time range."""
        windows = [a.window_micros for a in self.aggregates]
        return None if any(w is None for w in windows) else max(w for w in windows if w)


def view_join(request: ViewRequest, read: SourceRead) -> ViewJoin | WindowJoin:
    """How ``request``'s view enters a point-in-time query."""
    view = request.view
    if not isinstance(view, BatchFeatureView):
        return ViewJoin.of(request, read)
    aggregates = []
    for feature in request.features:
        agg = view.aggregation(feature)
        aggregates.append(
            WindowAggregate(
                agg.function, agg.column, agg.window_micros, view.dtype_of(feature), agg.threshold
            )
        )
    return WindowJoin(read, request.features, request.output_names, tuple(aggregates))


@dataclass(frozen=True)
class EntityRelation:
    """The entity frame as the engine sees it.

    Attributes:
        name: the relation (table or view) holding it.
        columns: its user columns, in order (passed through to the output).
        row_id: a column numbering the rows 0..n-1 in the frame's order.
        event_ts: the entity time as UTC microseconds, without a time zone.
        output_ts: ``event_timestamp`` as it appears in the output (aware, UTC).
    """

    name: str
    columns: tuple[str, ...]
    row_id: str
    event_ts: str
    output_ts: str


@dataclass(frozen=True)
class PointInTimeQuery:
    """Every entity row, with each view's winning row at or before the entity time."""

    entity: EntityRelation
    views: tuple[ViewJoin | WindowJoin, ...]

    @property
    def join_keys(self) -> tuple[str, ...]:
        """All join keys of all views, each once, in order of first appearance."""
        return tuple(dict.fromkeys(k for v in self.views for k in v.read.key_names))

    @property
    def output_names(self) -> tuple[str, ...]:
        return tuple(name for v in self.views for name in v.output_names)


@dataclass(frozen=True)
class LatestPerKeyQuery:
    """The winning row per key among rows with ``start <= ts <= end``.

    With ``late_created_after``, rows with ``ts < start`` and a created timestamp after it are
    candidates too. Times are UTC microseconds; ``start`` None means no lower bound.
    """

    read: SourceRead
    start: int | None
    end: int
    late_created_after: int | None = None


@dataclass(frozen=True)
class WindowEventsQuery:
    """The events of every key with a row in ``[start, end]``: its rows with ``since < ts <=
    end`` (deduplicated by ``event_id``), ordered by key, then as "Which row wins" orders them.

    With ``late_created_after``, keys with a row before ``start`` created after it count as
    touched too. ``start`` and ``since`` None mean no bound.
    """

    read: SourceRead
    start: int | None
    end: int
    since: int | None = None
    late_created_after: int | None = None


@dataclass(frozen=True)
class MaxCreatedQuery:
    """The greatest created timestamp among rows with ``start <= ts <= end``."""

    read: SourceRead
    start: int | None
    end: int
