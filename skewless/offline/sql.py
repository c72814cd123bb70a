"""SQL rendered from the query descriptions of :mod:`skewless.offline.query`.

:class:`SqlDialect` holds everything that is plain SQL: the normalized source rows, the
winner ordering, latest-per-key, max-created, a portable point-in-time join (a range join
ranked with ``ROW_NUMBER``) and window aggregations (a range join grouped per distinct
entity key and time). A dialect customizes class-level tables (type names, function
templates) and overrides the few hooks an engine does differently: how files are scanned,
where a row's position in the source comes from, and (for speed) how a view is joined.

Example:
    >>> SqlDialect().ident("user_id")
    '"user_id"'
    >>> SqlDialect().string("it's")
    "'it''s'"
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import pyarrow as pa

from skewless._types import Array, DType, Struct, UnixTimestamp, is_document
from skewless.offline.query import (
    CREATED_TS,
    EVENT_ID,
    EVENT_TS,
    FILE_POS,
    ROW_POS,
    LatestPerKeyQuery,
    MaxCreatedQuery,
    PointInTimeQuery,
    SourceColumn,
    SourceRead,
    ViewJoin,
    WindowAggregate,
    WindowEventsQuery,
    WindowJoin,
)

__all__ = ["JoinedView", "SqlDialect"]


@dataclass
class JoinedView:
    """How one view enters the final SELECT: extra CTEs, a join clause, a value per feature."""

    ctes: list[tuple[str, str]] = field(default_factory=list)
    clause: str = ""
    values: dict[str, str] = field(default_factory=dict)


class SqlDialect:
    """Portable SQL for the offline queries; engines subclass it.

    Class attributes are the tables a dialect overrides; methods that need engine syntax
    (:meth:`scan`, :meth:`positions`) are left to subclasses.
    """

    QUOTE: ClassVar[str] = '"'
    TYPE_NAMES: ClassVar[dict[str, str]] = {
        "Int32": "INTEGER",
        "Int64": "BIGINT",
        "Float32": "FLOAT",
        "Float64": "DOUBLE",
        "String": "VARCHAR",
        "Bool": "BOOLEAN",
        "Bytes": "BLOB",
        "UnixTimestamp": "TIMESTAMP",
    }
    ARRAY_TYPE: ClassVar[str] = "{}[]"
    STRUCT_TYPE: ClassVar[str] = "STRUCT({})"
    STRUCT_ITEM: ClassVar[str] = "{name} {type}"
    # A struct, map or list value as its JSON text (Map and Json features).
    JSON_TEXT: ClassVar[str] = "CAST(to_json({}) AS VARCHAR)"
    # A naive UTC timestamp from microseconds since the epoch, and back.
    TIMESTAMP_FROM_MICROS: ClassVar[str] = "make_timestamp({})"
    MICROS_OF_TIMESTAMP: ClassVar[str] = "epoch_us({})"
    # Truncating a finer-than-microsecond timestamp: it is cast to this type first.
    NANOS_TIMESTAMP: ClassVar[str] = "TIMESTAMP_NS"
    # Parsing text that may carry an offset (the session time zone is UTC).
    TEXT_TIMESTAMP: ClassVar[str] = "TIMESTAMPTZ"
    SUBTRACT_MICROS: ClassVar[str] = "({} - to_microseconds({}))"
    # Aggregate functions over one value ``{x}``; ``{order}`` ranks rows for ``last``.
    AGGREGATES: ClassVar[dict[str, str]] = {
        "count": "count({x})",
        "count_distinct": "count(DISTINCT {x})",
        "sum": "sum({x})",
        "mean": "avg({x})",
        "min": "min({x})",
        "max": "max({x})",
        "std": "stddev_samp({x})",
        "last": "arg_max({x}, {order})",
        # Double literals: Spark reads 1.0 as a DECIMAL and would round the share to 5 places.
        "share_above": (
            "avg(CASE WHEN {x} > {threshold} THEN CAST(1 AS DOUBLE) ELSE CAST(0 AS DOUBLE) END)"
        ),
    }
    # A value that compares like the tuple of its items, in order.
    ORDER_TUPLE: ClassVar[str] = "{{{items}}}"
    ORDER_ITEM: ClassVar[str] = "'{name}': {expr}"
    # Below every created timestamp in microseconds: a null created ranks lowest.
    NO_CREATED: ClassVar[int] = -(2**63)

    # -- literals and names ---------------------------------------------------------------
    def ident(self, name: str) -> str:
        q = self.QUOTE
        return q + name.replace(q, q + q) + q

    def string(self, text: str) -> str:
        return "'" + text.replace("'", "''") + "'"

    def type_name(self, dtype: DType) -> str:
        if isinstance(dtype, Array):
            return self.ARRAY_TYPE.format(self.type_name(dtype.base_type))
        if is_document(dtype):
            return self.TYPE_NAMES["String"]
        if isinstance(dtype, Struct):
            items = (
                self.STRUCT_ITEM.format(name=self.ident(k), type=self.type_name(v))
                for k, v in dtype.fields.items()
            )
            return self.STRUCT_TYPE.format(", ".join(items))
        return self.TYPE_NAMES[dtype.name]

    def timestamp(self, micros: int) -> str:
        """A literal instant (naive UTC) from microseconds since the epoch."""
        return self.TIMESTAMP_FROM_MICROS.format(int(micros))

    # -- engine syntax, left to dialects --------------------------------------------------
    def scan(self, read: SourceRead) -> str:
        """A relation over the source files with their raw columns."""
        raise NotImplementedError

    def positions(self, read: SourceRead) -> tuple[str, str]:
        """Expressions over :meth:`scan` for the file's index in path order and the row's
        index in its file (ascending means later in the source)."""
        raise NotImplementedError

    # -- normalized source rows -----------------------------------------------------------
    def normalized_time(self, column: SourceColumn) -> str:
        """The column as a naive UTC timestamp truncated to microseconds."""
        src, kind = self.ident(column.source), column.source_type
        if pa.types.is_timestamp(kind):
            if kind.unit == "ns":
                micros = self.MICROS_OF_TIMESTAMP.format(f"CAST({src} AS {self.NANOS_TIMESTAMP})")
                return self.TIMESTAMP_FROM_MICROS.format(micros)
            if kind.tz is not None:
                return self.TIMESTAMP_FROM_MICROS.format(self.MICROS_OF_TIMESTAMP.format(src))
            if kind.unit == "us":
                return src
        if pa.types.is_string(kind) or pa.types.is_large_string(kind):
            micros = self.MICROS_OF_TIMESTAMP.format(f"CAST({src} AS {self.TEXT_TIMESTAMP})")
            return self.TIMESTAMP_FROM_MICROS.format(micros)
        return f"CAST({src} AS {self.TYPE_NAMES['UnixTimestamp']})"

    def value(self, column: SourceColumn) -> str:
        """The column cast to its declared type."""
        if column.dtype is None:
            return self.ident(column.source)
        if column.dtype == UnixTimestamp:
            return self.normalized_time(column)
        if is_document(column.dtype):
            kind = column.source_type
            if pa.types.is_string(kind) or pa.types.is_large_string(kind):
                return self.ident(column.source)
            return self.JSON_TEXT.format(self.ident(column.source))
        return f"CAST({self.ident(column.source)} AS {self.type_name(column.dtype)})"

    def source_rows(self, read: SourceRead) -> str:
        """The view's rows: keys, event ts, created ts, position, features (all normalized).

        Rows with a null event timestamp or a null key are left out.
        """
        file_pos, row_pos = self.positions(read)
        timestamp_type = self.TYPE_NAMES["UnixTimestamp"]
        created = (
            self.normalized_time(read.created)
            if read.created
            else f"CAST(NULL AS {timestamp_type})"
        )
        items = [(self.value(k), k.name) for k in read.keys]
        items += [
            (self.normalized_time(read.timestamp), EVENT_TS),
            (created, CREATED_TS),
            (file_pos, FILE_POS),
            (row_pos, ROW_POS),
        ]
        items += [(self.value(f), f.name) for f in read.features]
        if read.event_id is not None:
            items.append((self.value(read.event_id), EVENT_ID))
        select = ", ".join(f"{expr} AS {self.ident(name)}" for expr, name in items)
        not_null = " AND ".join(f"{self.ident(n)} IS NOT NULL" for n in (EVENT_TS, *read.key_names))
        return f"SELECT * FROM (SELECT {select} FROM {self.scan(read)}) AS __rows WHERE {not_null}"

    def winner_order(self, alias: str = "") -> str:
        """ORDER BY items putting the winning row first (docs/semantics.md, "Which row wins")."""
        p = f"{alias}." if alias else ""
        return ", ".join(
            [
                f"{p}{self.ident(EVENT_TS)} DESC",
                f"{p}{self.ident(CREATED_TS)} DESC NULLS LAST",
                f"{p}{self.ident(FILE_POS)} DESC",
                f"{p}{self.ident(ROW_POS)} DESC",
            ]
        )

    # -- latest per key and max created ---------------------------------------------------
    def time_filter(self, start: int | None, end: int, late_after: int | None = None) -> str:
        ts, created = self.ident(EVENT_TS), self.ident(CREATED_TS)
        in_range = f"{ts} <= {self.timestamp(end)}"
        if start is not None:
            in_range = f"({ts} >= {self.timestamp(start)} AND {in_range})"
            if late_after is not None:
                late = (
                    f"({ts} < {self.timestamp(start)} AND {created} > {self.timestamp(late_after)})"
                )
                in_range = f"({in_range} OR {late})"
        return in_range

    def latest_per_key(self, query: LatestPerKeyQuery) -> str:
        """Join keys, event ts, created ts and features of each key's winning row."""
        read = query.read
        keys = ", ".join(self.ident(k) for k in read.key_names)
        where = self.time_filter(query.start, query.end, query.late_created_after)
        columns = ", ".join(self.ident(n) for n in (*read.key_names, EVENT_TS, CREATED_TS))
        features = "".join(", " + self.ident(f.name) for f in read.features)
        ranked = (
            f"SELECT *, ROW_NUMBER() OVER (PARTITION BY {keys} ORDER BY {self.winner_order()}) "
            f"AS __rank FROM ({self.source_rows(read)}) AS __src WHERE {where}"
        )
        return f"SELECT {columns}{features} FROM ({ranked}) AS __ranked WHERE __rank = 1"

    def window_events(self, query: WindowEventsQuery) -> str:
        """Join keys, event ts, created ts, (event id,) aggregated columns of the events of
        every touched key, ordered by key then by row order (oldest first)."""
        read, ident = query.read, self.ident
        keys = [ident(k) for k in read.key_names]
        touched = self.time_filter(query.start, query.end, query.late_created_after)
        ts = f"__e.{ident(EVENT_TS)}"
        kept = f"{ts} <= {self.timestamp(query.end)}"
        if query.since is not None:
            kept += f" AND {ts} > {self.timestamp(query.since)}"
        columns = [*keys, ident(EVENT_TS), ident(CREATED_TS)]
        if read.event_id is not None:
            columns.append(ident(EVENT_ID))
        columns += [ident(f.name) for f in read.features]
        on = " AND ".join(f"__e.{k} = __t.{k}" for k in keys)
        order = ", ".join(
            [
                *(f"__e.{k}" for k in keys),
                f"__e.{ident(EVENT_TS)}",
                f"__e.{ident(CREATED_TS)} NULLS FIRST",
                f"__e.{ident(FILE_POS)}",
                f"__e.{ident(ROW_POS)}",
            ]
        )
        return (
            f"WITH __rows AS ({self.deduplicated_rows(read)}), "
            f"__touched AS (SELECT DISTINCT {', '.join(keys)} FROM __rows WHERE {touched}) "
            f"SELECT {', '.join('__e.' + c for c in columns)} FROM __rows AS __e "
            f"JOIN __touched AS __t ON {on} WHERE {kept} "
            f"ORDER BY {order}"
        )

    def max_created(self, query: MaxCreatedQuery) -> str:
        where = self.time_filter(query.start, query.end)
        return (
            f"SELECT max({self.ident(CREATED_TS)}) FROM ({self.source_rows(query.read)}) "
            f"AS __src WHERE {where}"
        )

    # -- point-in-time retrieval ----------------------------------------------------------
    def point_in_time(
        self, query: PointInTimeQuery, *, entity_columns: bool = True, ordered: bool = True
    ) -> str:
        """The retrieval: the entity rows then each view's features.

        With ``entity_columns=False`` the output is the row id then the features (the caller
        attaches the entity columns); with ``ordered`` rows come in the entity frame's order.
        """
        entity = query.entity
        e = "__entity"
        wanted = dict.fromkeys(
            (entity.row_id, *query.join_keys, entity.event_ts)
            + ((*entity.columns, entity.output_ts) if entity_columns else ())
        )
        ctes = [(e, f"SELECT {', '.join(map(self.ident, wanted))} FROM {self.ident(entity.name)}")]
        clauses, select = [], []
        if entity_columns:
            for name in entity.columns:
                source = entity.output_ts if name == "event_timestamp" else name
                select.append(f"{e}.{self.ident(source)} AS {self.ident(name)}")
        else:
            select.append(f"{e}.{self.ident(entity.row_id)}")
        for i, view in enumerate(query.views):
            if isinstance(view, WindowJoin):
                joined = self.join_windows(f"__v{i}", view, e, entity.event_ts)
            else:
                joined = self.join_view(f"__v{i}", view, e, entity.event_ts, entity.row_id)
            ctes += joined.ctes
            clauses.append(joined.clause)
            for feature, name in zip(view.features, view.output_names, strict=True):
                select.append(f"{joined.values[feature]} AS {self.ident(name)}")
        with_ = ",\n".join(f"{self.ident(n)} AS ({sql})" for n, sql in ctes)
        order = f"\nORDER BY {e}.{self.ident(entity.row_id)}" if ordered else ""
        return f"WITH {with_}\nSELECT {', '.join(select)}\nFROM {e}\n" + "\n".join(clauses) + order

    def join_view(
        self, alias: str, view: ViewJoin, entity: str, event_ts: str, row_id: str
    ) -> JoinedView:
        """Portable join: candidates by key and time window, ranked per entity row."""
        read, ident = view.read, self.ident
        ts = f"{entity}.{ident(event_ts)}"
        on = [f"{entity}.{ident(k)} = __s.{ident(k)}" for k in read.key_names]
        on.append(f"__s.{ident(EVENT_TS)} <= {ts}")
        if view.ttl_micros is not None:
            on.append(
                f"__s.{ident(EVENT_TS)} >= {self.SUBTRACT_MICROS.format(ts, view.ttl_micros)}"
            )
        features = ", ".join(f"__s.{ident(f)}" for f in view.features)
        ranked = (
            f"SELECT {entity}.{ident(row_id)}, {features}, ROW_NUMBER() OVER (PARTITION BY "
            f"{entity}.{ident(row_id)} ORDER BY {self.winner_order('__s')}) AS __rank "
            f"FROM {entity} JOIN ({self.source_rows(read)}) AS __s ON {' AND '.join(on)}"
        )
        cte = f"SELECT * FROM ({ranked}) AS __ranked WHERE __rank = 1"
        clause = f"LEFT JOIN {alias} ON {alias}.{ident(row_id)} = {entity}.{ident(row_id)}"
        return JoinedView(
            ctes=[(alias, cte)],
            clause=clause,
            values={f: f"{alias}.{ident(f)}" for f in view.features},
        )

    # -- window aggregations --------------------------------------------------------------
    def deduplicated_rows(self, read: SourceRead) -> str:
        """The source rows, keeping only the winning row of each ``event_id`` of each key
        (rows with a null ``event_id`` all count; the same id under two keys is two events,
        as the online state of a key can only know its own events: docs/semantics.md
        "Window aggregations")."""
        rows = self.source_rows(read)
        if read.event_id is None:
            return rows
        event_id = self.ident(EVENT_ID)
        partition = ", ".join([*(self.ident(k) for k in read.key_names), event_id])
        ranked = (
            f"SELECT *, ROW_NUMBER() OVER (PARTITION BY {partition} ORDER BY "
            f"{self.winner_order()}) AS __dup FROM ({rows}) AS __all"
        )
        return f"SELECT * FROM ({ranked}) AS __ranked WHERE __dup = 1 OR {event_id} IS NULL"

    def row_order(self, alias: str) -> str:
        """A value per source row ordering rows as "Which row wins" does (greatest wins)."""
        created = self.MICROS_OF_TIMESTAMP.format(f"{alias}.{self.ident(CREATED_TS)}")
        items = [
            ("t", f"{alias}.{self.ident(EVENT_TS)}"),
            ("c", f"coalesce({created}, {self.NO_CREATED})"),
            ("f", f"{alias}.{self.ident(FILE_POS)}"),
            ("r", f"{alias}.{self.ident(ROW_POS)}"),
        ]
        inner = ", ".join(self.ORDER_ITEM.format(name=n, expr=e) for n, e in items)
        return self.ORDER_TUPLE.format(items=inner)

    def aggregate(self, agg: WindowAggregate, source: str, time: str, widest: int | None) -> str:
        """One aggregation over the joined rows ``source``, evaluated at ``time``.

        The join already keeps rows in the widest window; a narrower window filters further.
        """
        value = f"{source}.{self.ident(agg.column)}"
        conditions = []
        if agg.window_micros is not None and agg.window_micros != widest:
            start = self.SUBTRACT_MICROS.format(time, agg.window_micros)
            conditions.append(f"{source}.{self.ident(EVENT_TS)} > {start}")
        if agg.function in ("last", "share_above"):
            conditions.append(f"{value} IS NOT NULL")
        threshold = "NULL" if agg.threshold is None else repr(float(agg.threshold))
        expr = self.AGGREGATES[agg.function].format(
            x=value, order=self.row_order(source), threshold=threshold
        )
        if conditions:
            expr += f" FILTER (WHERE {' AND '.join(conditions)})"
        if agg.function in ("count", "count_distinct"):
            expr = f"coalesce({expr}, 0)"
        return f"CAST({expr} AS {self.type_name(agg.dtype)})"

    def join_windows(self, alias: str, view: WindowJoin, entity: str, event_ts: str) -> JoinedView:
        """Window aggregations: each distinct (key, time) of the entity frame joined with the
        source rows of that key in its widest window, grouped, then joined back."""
        read, ident = view.read, self.ident
        keys = [*read.key_names, event_ts]
        probe_columns = ", ".join(ident(k) for k in keys)
        not_null = " AND ".join(f"{ident(k)} IS NOT NULL" for k in read.key_names)
        probe = f"SELECT DISTINCT {probe_columns} FROM {entity} WHERE {not_null}"
        time = f"__p.{ident(event_ts)}"
        on = [f"__p.{ident(k)} = __s.{ident(k)}" for k in read.key_names]
        on.append(f"__s.{ident(EVENT_TS)} <= {time}")
        widest = view.widest_micros
        if widest is not None:
            on.append(f"__s.{ident(EVENT_TS)} > {self.SUBTRACT_MICROS.format(time, widest)}")
        values = [
            f"{self.aggregate(agg, '__s', time, widest)} AS {ident(feature)}"
            for feature, agg in zip(view.features, view.aggregates, strict=True)
        ]
        group = ", ".join(f"__p.{ident(k)}" for k in keys)
        cte = (
            f"SELECT {group}, {', '.join(values)} FROM ({probe}) AS __p "
            f"LEFT JOIN ({self.deduplicated_rows(read)}) AS __s ON {' AND '.join(on)} "
            f"GROUP BY {group}"
        )
        match = " AND ".join(f"{entity}.{ident(k)} = {alias}.{ident(k)}" for k in keys)
        empty = {"count": "0", "count_distinct": "0"}
        return JoinedView(
            ctes=[(alias, cte)],
            clause=f"LEFT JOIN {alias} ON {match}",
            values={
                feature: (
                    f"coalesce({alias}.{ident(feature)}, {empty[agg.function]})"
                    if agg.function in empty
                    else f"{alias}.{ident(feature)}"
                )
                for feature, agg in zip(view.features, view.aggregates, strict=True)
            },
        )
