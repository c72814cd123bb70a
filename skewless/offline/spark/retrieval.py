"""A planned point-in-time retrieval on Spark: to Arrow, to Parquet, or as a Spark DataFrame.

The entity frame goes to Spark as Arrow (its order is carried by a row number). ``to_arrow``
sends only the join keys and the entity time, then puts the entity columns back on the
driver unchanged; ``to_spark_df`` and ``to_parquet`` send every entity column, since the
result stays in the cluster.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import pyarrow as pa

from skewless._contracts import OfflineResult, ViewRequest
from skewless.errors import EntityFrameError
from skewless.offline.checks import retrieval_schema, with_entity_columns
from skewless.offline.entity import ENTITY_TIME, row_numbers, utc_micros
from skewless.offline.query import PointInTimeQuery
from skewless.offline.spark.dialect import SparkDialect
from skewless.offline.spark.sources import is_uri, spark_errors

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

__all__ = ["SparkQueries", "SparkRetrieval", "move_single_part"]


class SparkQueries(Protocol):
    """What a retrieval needs of the engine that planned it (``SparkEngine`` is one)."""

    session: SparkSession
    dialect: SparkDialect

    def sql(self, text: str, what: str) -> DataFrame: ...

    def temp_view(self, frame: DataFrame, kind: str) -> str: ...

    def drop_view(self, name: str) -> None: ...


class SparkRetrieval(OfflineResult):
    """A planned point-in-time retrieval; nothing runs until a result is asked for.

    Rows come in the entity frame's order, one per entity row, duplicates kept; the entity
    columns first (``event_timestamp`` as UTC), then the features with their declared types.
    """

    def __init__(
        self,
        engine: SparkQueries,
        query: PointInTimeQuery,
        entity_df: pa.Table,
        requests: Sequence[ViewRequest],
    ) -> None:
        self.engine = engine
        self.query = query
        self.entity_df = entity_df
        self.schema = retrieval_schema(entity_df, requests)

    def sql(self, *, entity_columns: bool = False, ordered: bool = False) -> str:
        """The Spark SQL this retrieval runs (the entity view's name left as ``entity``)."""
        query = replace(self.query, entity=replace(self.query.entity, name="entity"))
        return self.engine.dialect.point_in_time(
            query, entity_columns=entity_columns, ordered=ordered
        )

    def _what(self) -> str:
        names = ", ".join(repr(v.read.view_name) for v in self.query.views)
        return f"the sources of feature view(s) {names}"

    def _entity_table(self, entity_columns: bool) -> tuple[pa.Table, pa.ChunkedArray]:
        entity = self.entity_df
        event_ts = utc_micros(entity.column(ENTITY_TIME))
        names = list(entity.column_names) if entity_columns else list(self.query.join_keys)
        columns = [
            event_ts if name == ENTITY_TIME else _sendable(entity.column(name)) for name in names
        ]
        columns += [row_numbers(entity.num_rows), event_ts]
        names += [self.query.entity.row_id, self.query.entity.event_ts]
        return pa.Table.from_arrays(columns, names=names), event_ts

    def _frame(self, entity_columns: bool, ordered: bool) -> tuple[DataFrame, str]:
        """The retrieval as a DataFrame, and the temporary view holding the entity rows."""
        engine = self.engine
        table, _ = self._entity_table(entity_columns)
        try:
            sent = engine.session.createDataFrame(table)
        except Exception as exc:
            raise EntityFrameError(
                f"Spark cannot take the entity frame ({type(exc).__name__}: "
                f"{str(exc).strip().splitlines()[0] if str(exc).strip() else ''}): convert "
                "its columns to plain Arrow types (integers, floats, strings, timestamps)"
            ) from exc
        name = engine.temp_view(sent, "entity")
        query = replace(self.query, entity=replace(self.query.entity, name=name))
        sql = engine.dialect.point_in_time(query, entity_columns=entity_columns, ordered=ordered)
        try:
            return engine.sql(sql, self._what()), name
        except BaseException:
            engine.drop_view(name)
            raise

    def to_arrow(self) -> pa.Table:
        """Run the retrieval and collect it on the driver: the entity columns, then the
        features with the declared types, one row per entity row in the frame's order."""
        frame, name = self._frame(entity_columns=False, ordered=False)
        try:
            with spark_errors(self._what()):
                found = frame.toArrow()
        finally:
            self.engine.drop_view(name)
        output_ts = utc_micros(self.entity_df.column(ENTITY_TIME))
        return with_entity_columns(found, self.entity_df, output_ts, self.schema)

    def to_spark_df(self) -> DataFrame:
        """The retrieval as a lazy Spark DataFrame in the entity frame's order: the entity
        columns (``event_timestamp`` as a UTC TIMESTAMP), then the features cast to their
        declared types. Nothing is collected on the driver."""
        frame, _ = self._frame(entity_columns=True, ordered=True)
        return frame

    def to_parquet(self, path: str | Path) -> None:
        """Run the retrieval and write it, in the entity frame's order, to ONE Parquet file
        at ``path`` (a local path or a URI the cluster can write, e.g. ``s3a://...``).

        The rows are computed in parallel; a single executor task writes the file (nothing
        is collected on the driver), which then moves into place. For a directory of part
        files written in parallel, use ``to_spark_df().write.parquet(directory)``.
        """
        text = str(path)
        target = text if is_uri(text) else str(Path(text).absolute())
        frame = self.to_spark_df()
        session = self.engine.session
        key = "spark.sql.parquet.outputTimestampType"
        previous = session.conf.get(key)
        staging = f"{target}.skewless-{uuid.uuid4().hex[:12]}.tmp"
        session.conf.set(key, "TIMESTAMP_MICROS")
        try:
            with spark_errors(self._what()):
                frame.coalesce(1).write.mode("overwrite").parquet(staging)
            move_single_part(session, staging, target)
        finally:
            if previous is None:
                session.conf.unset(key)
            else:
                session.conf.set(key, previous)


def _sendable(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """An entity column in a type Spark takes from Arrow."""
    kind = column.type
    if pa.types.is_dictionary(kind):
        return _sendable(column.cast(kind.value_type))
    if pa.types.is_large_string(kind) or pa.types.is_string_view(kind):
        return column.cast(pa.string())
    if pa.types.is_large_binary(kind) or pa.types.is_binary_view(kind):
        return column.cast(pa.binary())
    if pa.types.is_timestamp(kind):
        return utc_micros(column) if kind.tz else column.cast(pa.timestamp("us"))
    return column


def move_single_part(session: object, staging: str, target: str) -> None:
    """Move the one part file Spark wrote under ``staging`` to ``target`` (replacing it)."""
    context = session.sparkContext  # type: ignore[attr-defined]
    jvm = context._jvm
    hadoop = jvm.org.apache.hadoop.fs
    source_dir = hadoop.Path(staging)
    fs = source_dir.getFileSystem(context._jsc.hadoopConfiguration())
    try:
        parts = [
            status.getPath()
            for status in fs.listStatus(source_dir)
            if status.getPath().getName().startswith("part-")
        ]
        if len(parts) != 1:
            raise RuntimeError(f"expected one part file under {staging}, found {len(parts)}")
        destination = hadoop.Path(target)
        if fs.exists(destination):
            fs.delete(destination, False)
        # The local file system keeps a .crc file beside each file: move the data alone.
        is_checksummed = jvm.org.apache.hadoop.fs.ChecksumFileSystem._java_lang_class
        mover = fs.getRawFileSystem() if is_checksummed.isInstance(fs) else fs
        if not mover.rename(parts[0], destination):
            raise OSError(f"cannot move {parts[0]} to {target}: check that its directory exists")
    finally:
        fs.delete(source_dir, True)
