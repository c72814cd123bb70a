"""Spark as the offline engine: the SQL of :mod:`skewless.offline.sql` run by Spark.

Every query is rendered by :class:`~skewless.offline.spark.dialect.SparkDialect` from the
engine-neutral descriptions of :mod:`skewless.offline.query`; nothing about the rules of
docs/semantics.md is written here. Results reach the driver as Arrow, one partition at a time,
so pulls for materialization never hold the whole range in the driver.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa

from skewless._contracts import ViewRequest
from skewless._time import from_micros, to_micros
from skewless.config import SparkOfflineConfig
from skewless.definitions import BatchFeatureView, FeatureView
from skewless.offline.checks import (
    cast_batch,
    check_output_names,
    check_range,
    latest_schema,
    point_in_time_query,
)
from skewless.offline.query import (
    EntityRelation,
    LatestPerKeyQuery,
    MaxCreatedQuery,
    SourceRead,
    WindowEventsQuery,
    build_source_read,
)
from skewless.offline.spark.dialect import SparkDialect
from skewless.offline.spark.retrieval import SparkRetrieval
from skewless.offline.spark.session import (
    ENGINE_CONF,
    build_session,
    check_time_zone,
    require_pyspark,
)
from skewless.offline.spark.sources import (
    describe,
    raw_frame,
    scan_frame,
    source_files,
    spark_errors,
    to_arrow_schema,
)

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

__all__ = ["SparkEngine"]

_ROW_ID = "__skewless_row_id"
_EVENT_TS = "__skewless_ts"


class SparkEngine:
    """Point-in-time retrieval, window aggregations and latest-per-key pulls with Spark.

    Args:
        block: the ``offline_store`` block (``master``, ``spark_conf``).
        repo_path: relative source paths are resolved against it.

    The running SparkSession is reused if there is one (its time zone is then set to UTC);
    otherwise one is built for ``block.master`` and stopped by :meth:`close`. To hand over
    a session of your own, use :meth:`from_session`.

    Example:
        >>> engine = SparkEngine(SparkOfflineConfig(master="local[2]"), Path("."))  # doctest: +SKIP
        >>> engine.latest_per_key_frame(view, None, end).show()  # doctest: +SKIP
    """

    def __init__(self, block: SparkOfflineConfig, repo_path: Path) -> None:
        session, owned = build_session(block.master, block.spark_conf)
        self._setup(session, Path(repo_path), owned)

    @classmethod
    def from_session(cls, session: SparkSession, repo_path: str | Path = ".") -> SparkEngine:
        """An engine running on ``session``, which stays open after :meth:`close`.

        Raises:
            ConfigError: the session's ``spark.sql.session.timeZone`` is not UTC.
        """
        require_pyspark()
        check_time_zone(session)
        engine = cls.__new__(cls)
        engine._setup(session, Path(repo_path), owned=False)
        return engine

    def _setup(self, session: SparkSession, repo_path: Path, owned: bool) -> None:
        self.session = session
        self.repo_path = repo_path
        self._owns_session = owned
        self._id = uuid.uuid4().hex[:12]
        self.dialect = SparkDialect(prefix=f"__skewless_{self._id}_")
        self._views: set[str] = set()
        self._lock = threading.Lock()
        for key, value in ENGINE_CONF.items():
            session.conf.set(key, value)

    def close(self) -> None:
        """Drop the temporary views this engine made; stop the session if it built it."""
        with self._lock:
            views, self._views = self._views, set()
        catalog = getattr(self.session, "catalog", None)
        if catalog is not None and not self._stopped():
            for name in views:
                catalog.dropTempView(name)
        if self._owns_session and not self._stopped():
            self.session.stop()

    def _stopped(self) -> bool:
        context = getattr(self.session, "sparkContext", None)
        return context is None or context._jsc is None

    # -- sources --------------------------------------------------------------------------
    def source_read(self, view: FeatureView, features: Sequence[str] | None) -> SourceRead:
        """How to read ``view``; registers the scan view its SQL refers to."""
        files = source_files(view.source, self.repo_path)
        frame = raw_frame(self.session, view, files)
        with spark_errors(describe(view)):
            raw = to_arrow_schema(self.session, view, frame, files)
        read = build_source_read(view, files, raw, features)
        name = self.dialect.scan_name(read)
        scan_frame(frame, read.file_format).createOrReplaceTempView(name)
        with self._lock:
            self._views.add(name)
        return read

    def source_schema(self, view: FeatureView) -> pa.Schema:
        """The source's columns after ``field_mapping``, without reading its rows (CSV:
        declared columns with their declared types; a full pass infers the others)."""
        files = source_files(view.source, self.repo_path)
        frame = raw_frame(self.session, view, files)
        with spark_errors(describe(view)):
            raw = to_arrow_schema(self.session, view, frame, files)
        mapping = view.source.field_mapping
        return pa.schema([pa.field(mapping.get(f.name, f.name), f.type) for f in raw])

    def sql(self, text: str, what: str) -> DataFrame:
        """A DataFrame for ``text`` (analysed now: a missing column fails here)."""
        with spark_errors(what):
            return self.session.sql(text)

    def temp_view(self, frame: DataFrame, kind: str) -> str:
        """Register ``frame`` as a temporary view of this engine (dropped on :meth:`close`)."""
        name = f"__skewless_{self._id}_{kind}_{uuid.uuid4().hex[:12]}"
        frame.createOrReplaceTempView(name)
        with self._lock:
            self._views.add(name)
        return name

    def drop_view(self, name: str) -> None:
        """Drop a temporary view made by :meth:`temp_view`."""
        with self._lock:
            self._views.discard(name)
        self.session.catalog.dropTempView(name)

    # -- point-in-time retrieval ----------------------------------------------------------
    def historical(self, entity_df: pa.Table, requests: Sequence[ViewRequest]) -> SparkRetrieval:
        """Plan the point-in-time join of ``entity_df`` with each requested view (lazy)."""
        check_output_names(entity_df, requests)
        reads = [self.source_read(r.view, r.features) for r in requests]
        relation = EntityRelation(
            name="",  # named when the entity frame is registered
            columns=tuple(entity_df.column_names),
            row_id=_ROW_ID,
            event_ts=_EVENT_TS,
            output_ts=_EVENT_TS,
        )
        query = point_in_time_query(entity_df, requests, reads, relation)
        return SparkRetrieval(self, query, entity_df, requests)

    # -- materialization ------------------------------------------------------------------
    def _latest_query(
        self,
        view: FeatureView,
        start: datetime | None,
        end: datetime,
        late_created_after: datetime | None,
    ) -> LatestPerKeyQuery:
        check_range(start, end)
        read = self.source_read(view, None)
        return LatestPerKeyQuery(read, _micros(start), to_micros(end), _micros(late_created_after))

    def latest_per_key_frame(
        self,
        view: FeatureView,
        start: datetime | None,
        end: datetime,
        *,
        late_created_after: datetime | None = None,
    ) -> DataFrame:
        """The winning row per key (see :meth:`latest_per_key`) as a lazy Spark DataFrame:
        join keys, ``__event_ts``, ``__created_ts`` (TIMESTAMP, UTC), then the features in
        schema order cast to their declared types."""
        query = self._latest_query(view, start, end, late_created_after)
        return self.sql(self.dialect.latest_per_key(query), describe(view))

    def latest_per_key(
        self,
        view: FeatureView,
        start: datetime | None,
        end: datetime,
        *,
        late_created_after: datetime | None = None,
        batch_rows: int = 100_000,
    ) -> Iterator[pa.RecordBatch]:
        """The winning row per key with ``start <= ts <= end`` (and late arrivals), streamed
        to the driver one partition at a time in batches of at most ``batch_rows`` rows."""
        query = self._latest_query(view, start, end, late_created_after)
        frame = self.sql(self.dialect.latest_per_key(query), describe(view))
        return self._batches(frame, latest_schema(query.read), describe(view), batch_rows)

    def _events_query(
        self,
        view: BatchFeatureView,
        start: datetime | None,
        end: datetime,
        since: datetime | None,
        late_created_after: datetime | None,
    ) -> WindowEventsQuery:
        check_range(start, end)
        return WindowEventsQuery(
            self.source_read(view, None),
            _micros(start),
            to_micros(end),
            _micros(since),
            _micros(late_created_after),
        )

    def window_events_frame(
        self,
        view: BatchFeatureView,
        start: datetime | None,
        end: datetime,
        *,
        since: datetime | None = None,
        late_created_after: datetime | None = None,
    ) -> DataFrame:
        """The events of :meth:`window_events` as a lazy, ordered Spark DataFrame."""
        query = self._events_query(view, start, end, since, late_created_after)
        return self.sql(self.dialect.window_events(query), describe(view))

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
        """The events of every key with a row in ``[start, end]``, ordered by key then time,
        streamed like :meth:`latest_per_key` (layout as the OfflineEngine contract says)."""
        query = self._events_query(view, start, end, since, late_created_after)
        frame = self.sql(self.dialect.window_events(query), describe(view))
        target = latest_schema(query.read)
        if query.read.event_id is not None:
            target.insert(len(query.read.keys) + 2, None)
        return self._batches(frame, target, describe(view), batch_rows)

    def _batches(
        self, frame: DataFrame, target: list[pa.DataType | None], what: str, batch_rows: int
    ) -> Iterator[pa.RecordBatch]:
        with spark_errors(what):
            for batch in rebatch(stream_arrow(frame), batch_rows):
                yield cast_batch(batch, target)

    def max_created(
        self, view: FeatureView, start: datetime | None, end: datetime
    ) -> datetime | None:
        """The greatest created timestamp among rows with ``start <= ts <= end``."""
        if not view.source.created_timestamp_column:
            return None
        check_range(start, end)
        query = MaxCreatedQuery(self.source_read(view, ()), _micros(start), to_micros(end))
        with spark_errors(describe(view)):
            table = self.sql(self.dialect.max_created(query), describe(view)).toArrow()
        micros = table.column(0).cast(pa.int64())[0].as_py()
        return None if micros is None else from_micros(micros)


def _micros(value: datetime | None) -> int | None:
    return None if value is None else to_micros(value)


def stream_arrow(frame: DataFrame) -> Iterator[pa.RecordBatch]:
    """``frame``'s rows as Arrow batches, fetched one partition at a time, in order.

    Each executor packs its Arrow batches into IPC messages; the driver holds one
    partition's messages at a time.
    """

    def pack(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        import pyarrow as pa

        for batch in batches:
            if batch.num_rows:
                sink = pa.BufferOutputStream()
                with pa.ipc.new_stream(sink, batch.schema) as writer:
                    writer.write_batch(batch)
                payload = pa.array([sink.getvalue().to_pybytes()], pa.binary())
                yield pa.RecordBatch.from_arrays([payload], names=["ipc"])

    for row in frame.mapInArrow(pack, "ipc binary").toLocalIterator():
        with pa.ipc.open_stream(row[0]) as reader:
            yield from reader


def rebatch(batches: Iterator[pa.RecordBatch], rows: int) -> Iterator[pa.RecordBatch]:
    """The same rows in batches of exactly ``rows`` (the last one may be shorter)."""
    pending: list[pa.RecordBatch] = []
    held = 0
    for batch in batches:
        offset = 0
        while offset < batch.num_rows:
            take = min(rows - held, batch.num_rows - offset)
            pending.append(batch.slice(offset, take))
            held += take
            offset += take
            if held == rows:
                yield _combine(pending)
                pending, held = [], 0
    if held:
        yield _combine(pending)


def _combine(batches: list[pa.RecordBatch]) -> pa.RecordBatch:
    if len(batches) == 1:
        return batches[0]
    return pa.Table.from_batches(batches).combine_chunks().to_batches()[0]
