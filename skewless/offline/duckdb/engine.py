"""The embedded offline engine: DuckDB over Parquet and CSV files, in process.

One DuckDB connection serves the engine; every operation runs on its own cursor, so threads
may share an engine. Entity frames are registered as Arrow tables (read in place, not copied).
"""

from __future__ import annotations

import itertools
import tempfile
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import duckdb
import pyarrow as pa

from skewless._contracts import OfflineResult, ViewRequest
from skewless._time import from_micros, to_micros
from skewless._types import UnixTimestamp
from skewless.config import DuckDBOfflineConfig
from skewless.definitions import BatchFeatureView, FeatureView
from skewless.errors import (
    SchemaMismatchError,
    SourceNotFoundError,
)
from skewless.offline.checks import (
    cast_batch,
    check_output_names,
    check_range,
    latest_schema,
    point_in_time_query,
    retrieval_schema,
    with_entity_columns,
)
from skewless.offline.duckdb.dialect import DuckDBDialect
from skewless.offline.entity import ENTITY_TIME, row_numbers, utc_micros
from skewless.offline.query import (
    EntityRelation,
    LatestPerKeyQuery,
    MaxCreatedQuery,
    PointInTimeQuery,
    SourceRead,
    WindowEventsQuery,
    build_source_read,
)
from skewless.offline.sources import resolve_files

__all__ = ["DuckDBEngine", "DuckDBRetrieval"]

_ROW_ID = "__skewless_row"
_EVENT_TS = "__skewless_ts"
_OUTPUT_TS = "__skewless_ts_utc"
_names = itertools.count()


class DuckDBEngine:
    """Point-in-time retrieval and latest-per-key pulls with DuckDB (see docs/semantics.md).

    Args:
        block: the ``offline_store`` block of ``feature_store.yaml`` (threads, memory limit).
        repo_path: relative source paths are resolved against it.

    Example:
        >>> from skewless.config import DuckDBOfflineConfig
        >>> engine = DuckDBEngine(DuckDBOfflineConfig(threads=1), Path("."))
        >>> engine.close()
    """

    dialect = DuckDBDialect()

    def __init__(self, block: DuckDBOfflineConfig, repo_path: Path) -> None:
        self.repo_path = Path(repo_path)
        config: dict[str, str | bool | int | float | list[str]] = {
            "temp_directory": str(Path(tempfile.gettempdir()) / "skewless-duckdb"),
        }
        if block.threads is not None:
            config["threads"] = block.threads
        if block.memory_limit is not None:
            config["memory_limit"] = block.memory_limit
        self._conn = duckdb.connect(":memory:", config=config)
        # GLOBAL: every cursor reads times in UTC, whatever the machine's zone.
        self._conn.execute("SET GLOBAL TimeZone = 'UTC'")
        self._lock = threading.Lock()

    @contextmanager
    def cursor(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A cursor of the engine's connection, closed afterwards (one per operation)."""
        with self._lock:
            cur = self._conn.cursor()
        try:
            yield cur
        finally:
            cur.close()

    def close(self) -> None:
        self._conn.close()

    # -- sources --------------------------------------------------------------------------
    def _raw_schema(
        self,
        cur: duckdb.DuckDBPyConnection,
        view: FeatureView,
        files: tuple[str, ...],
        csv_types: Mapping[str, str] | None = None,
    ) -> pa.Schema:
        """The files' columns as DuckDB reads them (CSV: with ``csv_types`` applied)."""
        if view.source.file_format == "csv":
            scan = self.dialect.csv_scan(files, csv_types or {})
        else:
            scan = self.dialect.parquet_scan(files)
        return _run(cur, f"SELECT * FROM {scan} LIMIT 0", _describe(view)).schema

    def source_read(
        self, cur: duckdb.DuckDBPyConnection, view: FeatureView, features: Sequence[str] | None
    ) -> SourceRead:
        """How to read ``view``: its files, and its columns as the view names them."""
        files = resolve_files(view.source, self.repo_path)
        return build_source_read(view, files, self._raw_schema(cur, view, files), features)

    def source_schema(self, view: FeatureView) -> pa.Schema:
        """The source's columns after ``field_mapping``, without reading its rows.

        CSV columns that the view declares are read with their declared types.
        """
        files = resolve_files(view.source, self.repo_path)
        with self.cursor() as cur:
            raw = self._raw_schema(cur, view, files)
            if view.source.file_format == "csv":
                raw = self._raw_schema(cur, view, files, self._declared_csv_types(view, raw))
        mapping = view.source.field_mapping
        return pa.schema([pa.field(mapping.get(f.name, f.name), f.type) for f in raw])

    def _declared_csv_types(self, view: FeatureView, raw: pa.Schema) -> dict[str, str]:
        """DuckDB type names of the declared (non-time) columns present in a CSV source."""
        inverse = {dst: src for src, dst in view.source.field_mapping.items()}
        return {
            inverse.get(f.name, f.name): self.dialect.type_name(f.dtype)
            for f in view.schema
            if inverse.get(f.name, f.name) in raw.names and f.dtype != UnixTimestamp
        }

    # -- point-in-time retrieval ----------------------------------------------------------
    def historical(self, entity_df: pa.Table, requests: Sequence[ViewRequest]) -> DuckDBRetrieval:
        """Plan the point-in-time join of ``entity_df`` with each requested view (lazy)."""
        check_output_names(entity_df, requests)
        with self.cursor() as cur:
            reads = [self.source_read(cur, r.view, r.features) for r in requests]
        relation = EntityRelation(
            name=f"__skewless_entity_{next(_names)}",
            columns=tuple(entity_df.column_names),
            row_id=_ROW_ID,
            event_ts=_EVENT_TS,
            output_ts=_OUTPUT_TS,
        )
        query = point_in_time_query(entity_df, requests, reads, relation)
        return DuckDBRetrieval(self, query, entity_df, requests)

    # -- materialization ------------------------------------------------------------------
    def latest_per_key(
        self,
        view: FeatureView,
        start: datetime | None,
        end: datetime,
        *,
        late_created_after: datetime | None = None,
        batch_rows: int = 100_000,
    ) -> Iterator[pa.RecordBatch]:
        """The winning row per key with ``start <= ts <= end`` (and late arrivals), streamed.

        Batches hold the join keys, ``__event_ts``, ``__created_ts``, then the features in
        schema order with their declared types.
        """
        check_range(start, end)
        query = LatestPerKeyQuery(
            self._read(view, None),
            None if start is None else to_micros(start),
            to_micros(end),
            None if late_created_after is None else to_micros(late_created_after),
        )
        return self._stream(query, _describe(view), batch_rows)

    def _read(self, view: FeatureView, features: Sequence[str] | None) -> SourceRead:
        with self.cursor() as cur:
            return self.source_read(cur, view, features)

    def _stream(
        self, query: LatestPerKeyQuery, what: str, batch_rows: int
    ) -> Iterator[pa.RecordBatch]:
        sql = self.dialect.latest_per_key(query)
        return self._batches(sql, latest_schema(query.read), what, batch_rows)

    def window_events(
        self,
        view: BatchFeatureView,
        start: datetime | None,
        end: datetime,
        *,
        since: datetime | None = None,
        late_created_after: datetime | None = None,
        batch_rows: int = 100_000,
    ) -> Iterator[pa.RecordBatch]:
        """The events of every key with a row in ``[start, end]``, ordered by key then time.

        Batches hold the join keys, ``__event_ts``, ``__created_ts`` (timestamp[us, UTC]),
        ``__event_id`` when the view names one, then the aggregated columns with their
        declared types; events have ``since < ts <= end`` and are deduplicated by event id
        within each key.
        """
        check_range(start, end)
        read = self._read(view, None)
        query = WindowEventsQuery(
            read,
            None if start is None else to_micros(start),
            to_micros(end),
            None if since is None else to_micros(since),
            None if late_created_after is None else to_micros(late_created_after),
        )
        target = latest_schema(read)
        if read.event_id is not None:
            target.insert(len(read.keys) + 2, None)
        return self._batches(self.dialect.window_events(query), target, _describe(view), batch_rows)

    def _batches(
        self, sql: str, target: list[pa.DataType | None], what: str, batch_rows: int
    ) -> Iterator[pa.RecordBatch]:
        with self.cursor() as cur:
            with _errors(what):
                reader = cur.sql(sql).to_arrow_reader(batch_rows)
            with _errors(what), reader:
                for batch in reader:
                    if batch.num_rows:
                        yield cast_batch(batch, target)

    def max_created(
        self, view: FeatureView, start: datetime | None, end: datetime
    ) -> datetime | None:
        """The greatest created timestamp among rows with ``start <= ts <= end``."""
        if not view.source.created_timestamp_column:
            return None
        check_range(start, end)
        with self.cursor() as cur:
            read = self.source_read(cur, view, ())
            query = MaxCreatedQuery(
                read, None if start is None else to_micros(start), to_micros(end)
            )
            value = _run(cur, self.dialect.max_created(query), _describe(view)).column(0)[0]
        micros = value.cast(pa.int64()).as_py()
        return None if micros is None else from_micros(micros)


class DuckDBRetrieval(OfflineResult):
    """A planned point-in-time retrieval; nothing runs until :meth:`to_arrow` or
    :meth:`to_parquet`."""

    def __init__(
        self,
        engine: DuckDBEngine,
        query: PointInTimeQuery,
        entity_df: pa.Table,
        requests: Sequence[ViewRequest],
    ) -> None:
        self.engine = engine
        self.query = query
        self.entity_df = entity_df
        self.schema = retrieval_schema(entity_df, requests)

    def sql(self, *, entity_columns: bool = False, ordered: bool = False) -> str:
        """The SQL this retrieval runs (for inspection)."""
        return self.engine.dialect.point_in_time(
            self.query, entity_columns=entity_columns, ordered=ordered
        )

    def _registered(self, entity_columns: bool) -> tuple[pa.Table, pa.ChunkedArray]:
        entity = self.entity_df
        output_ts = utc_micros(entity.column(ENTITY_TIME))
        keys = self.query.join_keys
        columns = list(entity.column_names if entity_columns else keys)
        table = entity.select(columns)
        table = table.append_column(_ROW_ID, row_numbers(entity.num_rows))
        table = table.append_column(_EVENT_TS, output_ts.cast(pa.timestamp("us")))
        if entity_columns:
            table = table.append_column(_OUTPUT_TS, output_ts)
        return table, output_ts

    def to_arrow(self) -> pa.Table:
        """Run the retrieval; the result has the entity columns then the features, with the
        declared types, one row per entity row in the frame's order."""
        table, output_ts = self._registered(entity_columns=False)
        with self.engine.cursor() as cur:
            cur.register(self.query.entity.name, table)
            try:
                found = _run(cur, self.sql(), _sources(self.query))
            finally:
                cur.unregister(self.query.entity.name)
        return with_entity_columns(found, self.entity_df, output_ts, self.schema)

    def to_parquet(self, path: str | Path) -> None:
        """Run the retrieval and write it to one Parquet file with DuckDB's ``COPY``."""
        table, _ = self._registered(entity_columns=True)
        sql = self.sql(entity_columns=True, ordered=True)
        target = self.engine.dialect.string(str(Path(path)))
        with self.engine.cursor() as cur:
            cur.register(self.query.entity.name, table)
            try:
                with _errors(_sources(self.query)):
                    cur.execute(f"COPY ({sql}) TO {target} (FORMAT parquet)")
            finally:
                cur.unregister(self.query.entity.name)


def _sources(query: PointInTimeQuery) -> str:
    names = ", ".join(repr(v.read.view_name) for v in query.views)
    return f"the sources of feature view(s) {names}"


def _run(cur: duckdb.DuckDBPyConnection, sql: str, what: str) -> pa.Table:
    with _errors(what):
        return cur.sql(sql).to_arrow_table()


@contextmanager
def _errors(what: str) -> Iterator[None]:
    """Turn DuckDB failures the user can fix into skewless errors; others pass unchanged."""
    try:
        yield
    except duckdb.Error as exc:
        error = _translate(exc, what)
        if error is None:
            raise
        raise error from exc


def _translate(exc: duckdb.Error, what: str) -> Exception | None:
    message = str(exc).splitlines()[0]
    if isinstance(exc, duckdb.IOException):
        return SourceNotFoundError(
            f"cannot read {what}: {message}; check that the files exist and are readable"
        )
    if isinstance(exc, duckdb.ConversionException):
        return SchemaMismatchError(
            f"cannot read {what}: {message}; make the data match the declared types"
        )
    if isinstance(exc, duckdb.InvalidInputException):
        return SchemaMismatchError(
            f"cannot read {what}: {message}; check that the files are valid and hold the "
            "declared columns and types"
        )
    return None


def _describe(view: FeatureView) -> str:
    return f"source {view.source.path!r} of feature view {view.name!r}"
