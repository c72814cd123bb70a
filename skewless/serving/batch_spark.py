"""Batch inference on the Spark engine: the model runs on the executors.

The entity frame goes to the cluster as a retrieval sends it; the point-in-time join runs
there, and ``mapInArrow`` scores each partition with the model, sent once as a broadcast
(cloudpickle of the loaded version) and unpickled once per task. The output is written by
Spark: one Parquet file written by one task after the parallel scoring (a shuffle keeps the
two apart), moved into place, so no row passes through the driver. Asked for a table
(``out=None``), the rows are collected on the driver.

A few rows are scored on the driver first, to fix the output's column types (the same
:class:`~skewless.serving.batch_scoring.BatchScorer` then runs on the executors).
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from skewless._progress import progress as progress_bar
from skewless.errors import ModelPredictionError
from skewless.offline.entity import ENTITY_TIME, row_numbers
from skewless.offline.spark.retrieval import move_single_part
from skewless.offline.spark.sources import is_uri, spark_errors
from skewless.retrieval import get_historical_features
from skewless.serving.batch_entities import EntityReader
from skewless.serving.batch_plan import (
    BatchContext,
    BatchPredictionReport,
    RefGroups,
    entity_times,
    with_time,
)
from skewless.serving.batch_scoring import BatchScorer

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

    from skewless.serving.model import ServedModel

__all__ = ["predict_on_spark"]

_ROW = "__skewless_batch_row"
_PROBE_ROWS = 16
_CONF_BATCH = "spark.sql.execution.arrow.maxRecordsPerBatch"
_CONF_TIMESTAMP = "spark.sql.parquet.outputTimestampType"


def predict_on_spark(
    context: BatchContext,
    served: ServedModel,
    reader: EntityReader,
    out: str | Path | None,
    batch_rows: int,
    include_features: bool,
    progress: bool | None,
    began: float,
) -> tuple[BatchPredictionReport, pa.Table | None]:
    """:func:`~skewless.serving.batch.predict_batch` on a Spark engine (see the module)."""
    engine: Any = context.engine
    session = engine.session
    table = reader.table()
    times = entity_times(table)
    groups = RefGroups(context, served)
    plan = groups.for_rows(times is None or times.null_count > 0)
    entity_columns = list(reader.schema.names)
    if ENTITY_TIME not in entity_columns:
        entity_columns.append(ENTITY_TIME)
    schema = _probe_schema(context, served, table, plan, entity_columns, include_features)
    frame = _retrieval_frame(context, served, table, times, plan, entity_columns)
    model_seconds = session.sparkContext.accumulator(0.0)
    payload = session.sparkContext.broadcast(_pickled(served))
    score = _partition_scorer(payload, model_seconds, schema, entity_columns, include_features)
    from pyspark.sql.pandas.types import from_arrow_schema

    scored = frame.mapInArrow(score, from_arrow_schema(schema))
    written: Path | str | None = None
    result: pa.Table | None = None
    with (
        progress_bar(
            f"scoring with {served.name} v{served.version} on Spark",
            total=table.num_rows,
            enabled=progress,
        ) as bar,
        _conf(session, {_CONF_BATCH: str(batch_rows), _CONF_TIMESTAMP: "TIMESTAMP_MICROS"}),
        spark_errors(f"the batch prediction of model {served.name!r}"),
    ):
        if out is None:
            result = _collected(scored, schema)
        else:
            written = _write(session, scored, out)
        bar.advance(table.num_rows)
    payload.unpersist()
    report = BatchPredictionReport(
        model_name=served.name,
        model_version=served.version,
        rows=table.num_rows,
        seconds=time.perf_counter() - began,
        retrieval_seconds=None,
        model_seconds=float(model_seconds.value),
        output=written,
        batches=1,
        engine="spark",
        as_of=dict(groups.as_of),
    )
    return report, result


def _pickled(served: ServedModel) -> bytes:
    import cloudpickle

    try:
        return bytes(cloudpickle.dumps(served))
    except Exception as exc:
        raise ModelPredictionError(
            f"model {served.name!r} version {served.version} cannot be sent to the Spark "
            f"executors ({type(exc).__name__}: {exc}): log a model cloudpickle can serialize, "
            "or use the duckdb offline engine for batch predictions"
        ) from None


def _probe_schema(
    context: BatchContext,
    served: ServedModel,
    table: pa.Table,
    plan: Any,
    entity_columns: list[str],
    include_features: bool,
) -> pa.Schema:
    """The output schema: a few rows retrieved and scored on the driver, plus the row number."""
    probe = table.slice(0, _PROBE_ROWS)
    times = entity_times(probe)
    found: dict[str, pa.ChunkedArray] = {}
    entity: pa.Table | None = None
    for group in plan:
        rows = with_time(probe, times, group.at)
        got = get_historical_features(
            context.engine,
            context.snapshot,
            rows,
            list(group.refs),
            served.lineage.full_feature_names,
        ).to_arrow()
        entity = entity if entity is not None else got.select(entity_columns)
        found.update({c: got.column(c) for c in group.columns})
    assert entity is not None
    for column in served.lineage.feature_columns:
        entity = entity.append_column(column, found[column])
    entity = entity.append_column(_ROW, pa.chunked_array([row_numbers(entity.num_rows)]))
    scorer = BatchScorer(served, [*entity_columns, _ROW], include_features)
    return _sendable(scorer.score(entity).schema)


def _sendable(schema: pa.Schema) -> pa.Schema:
    """``schema`` in the Arrow types Spark exchanges (plain strings and binaries)."""
    fields = []
    for f in schema:
        kind = f.type
        if pa.types.is_large_string(kind) or pa.types.is_string_view(kind):
            kind = pa.string()
        elif pa.types.is_large_binary(kind) or pa.types.is_binary_view(kind):
            kind = pa.binary()
        fields.append(pa.field(f.name, kind, f.nullable))
    return pa.schema(fields)


def _retrieval_frame(
    context: BatchContext,
    served: ServedModel,
    table: pa.Table,
    times: pa.ChunkedArray | None,
    plan: Any,
    entity_columns: list[str],
) -> DataFrame:
    """The retrieval as one lazy frame: entity columns, row number, the model's inputs."""
    numbered = table.append_column(_ROW, pa.chunked_array([row_numbers(table.num_rows)]))
    frame: DataFrame | None = None
    for group in plan:
        rows = with_time(numbered, times, group.at)
        part = get_historical_features(
            context.engine,
            context.snapshot,
            rows,
            list(group.refs),
            served.lineage.full_feature_names,
        ).to_spark_df()
        if frame is None:
            frame = part.select(*[part[c] for c in [*entity_columns, _ROW, *group.columns]])
        else:
            frame = frame.join(part.select(*[part[c] for c in [_ROW, *group.columns]]), _ROW)
    assert frame is not None
    names = [*entity_columns, _ROW, *served.lineage.feature_columns]
    return frame.select(*[frame[c] for c in names])


def _partition_scorer(
    payload: Any,
    model_seconds: Any,
    schema: pa.Schema,
    entity_columns: list[str],
    include_features: bool,
) -> Any:
    """The function ``mapInArrow`` runs on each partition."""

    def score(batches: Any) -> Any:
        import cloudpickle

        from skewless.serving.batch_scoring import BatchScorer

        served = cloudpickle.loads(payload.value)
        scorer = BatchScorer(served, [*entity_columns, _ROW], include_features, schema=schema)
        try:
            for batch in batches:
                if batch.num_rows:
                    yield from scorer.score(batch).to_batches()
        finally:
            model_seconds.add(scorer.model_seconds)

    return score


def _collected(scored: DataFrame, schema: pa.Schema) -> pa.Table:
    table = scored.toArrow()
    if table.num_rows == 0:
        table = schema.empty_table()
    order = table.column(_ROW).to_numpy().argsort(kind="stable")
    return table.take(order).drop_columns([_ROW])


def _write(session: Any, scored: DataFrame, out: str | Path) -> Path | str:
    """One Parquet file at ``out``, written by one task, in the entity frame's order."""
    text = str(out)
    target = text if is_uri(text) else str(Path(text).expanduser().absolute())
    if not is_uri(text):
        Path(target).parent.mkdir(parents=True, exist_ok=True)
    staging = f"{target}.skewless-{uuid.uuid4().hex[:12]}.tmp"
    single = scored.repartition(1).sortWithinPartitions(_ROW).drop(_ROW)
    single.write.mode("overwrite").parquet(staging)
    move_single_part(session, staging, target)
    return target if is_uri(text) else Path(target)


class _conf:
    """Session settings for the duration of a block (restored after)."""

    def __init__(self, session: Any, values: dict[str, str]) -> None:
        self.session = session
        self.values = values
        self.previous: dict[str, str | None] = {}

    def __enter__(self) -> None:
        for key, value in self.values.items():
            self.previous[key] = self.session.conf.get(key, None)
            self.session.conf.set(key, value)

    def __exit__(self, *exc: object) -> None:
        for key, value in self.previous.items():
            if value is None:
                self.session.conf.unset(key)
            else:
                self.session.conf.set(key, value)
