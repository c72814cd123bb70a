"""Batch inference: a registered model scored over a file (or frame) of entities, offline.

:func:`predict_batch` retrieves the model's lineage features point-in-time correct (the same
retrieval as its training set, ``full_feature_names`` as its lineage says), scores them with
the model and writes entity columns, ``event_timestamp``, ``prediction``, one
``probability_<class>`` column per class (classifiers) and ``model_name``/``model_version``
to one Parquet file, atomically, or returns them as an Arrow table.

Rows without an ``event_timestamp`` (the column left out, or null) are scored at each view's
``T = min(watermark, now)``, the instant its online values stand for (docs/semantics.md
"Parity"), so they get what the online path would answer. Work goes in bounded batches of
entity rows; on the Spark engine the model runs on the executors instead
(:mod:`skewless.serving.batch_spark`). See docs/batch-inference.md.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import pyarrow as pa

from skewless._contracts import OfflineEngine
from skewless._progress import progress as progress_bar
from skewless.errors import EntityFrameError, SkewlessError
from skewless.offline.entity import ENTITY_TIME
from skewless.retrieval import get_historical_features
from skewless.serving.batch_entities import EntityInput, open_entities
from skewless.serving.batch_output import AtomicParquet, empty_output
from skewless.serving.batch_plan import (
    BatchContext,
    BatchPredictionReport,
    RefGroups,
    batch_context,
    entity_times,
    with_time,
)
from skewless.serving.batch_scoring import BatchScorer, check_output_names
from skewless.serving.model import ServedModel, load_served_model
from skewless.serving.reference import ModelRef, parse_model_ref

__all__ = [
    "DEFAULT_BATCH_ROWS",
    "BatchContext",
    "BatchPredictionReport",
    "batch_context",
    "predict_batch",
    "retrieve",
]

DEFAULT_BATCH_ROWS = 100_000


def predict_batch(
    context: BatchContext,
    model: str | ModelRef,
    entities: EntityInput,
    out: str | Path | None = None,
    *,
    batch_rows: int = DEFAULT_BATCH_ROWS,
    include_features: bool = False,
    progress: bool | None = None,
) -> tuple[BatchPredictionReport, pa.Table | None]:
    """Score ``entities`` with a registered model on point-in-time correct features.

    Args:
        context: the engine, definitions, registry, MLflow and clock
            (:func:`batch_context` builds it from a store).
        model: ``NAME@ALIAS``, ``NAME/VERSION``, ``NAME`` (alias ``production``) or a
            :class:`~skewless.serving.reference.ModelRef`.
        entities: a pandas/polars DataFrame, an Arrow table, or the path of a Parquet file
            (or directory) or CSV file, with the model's join keys and optionally
            ``event_timestamp``; other columns are copied to the output.
        out: the Parquet file to write (replaced atomically); None returns the table.
        batch_rows: the most entity rows retrieved and scored at once.
        include_features: also write the model's input columns.
        progress: draw a bar of rows scored (default: when stderr is a terminal).

    Returns:
        The report, and the output table when ``out`` is None (else None).

    Raises:
        UnknownModelError: no such model, version or alias.
        ModelLineageError: the version has no lineage, its definitions changed, or a view
            has no watermark for rows without ``event_timestamp``.
        EntityFrameError: a missing join key, an unreadable file, bad times.
        ModelPredictionError: the model raised.

    Example:
        >>> report, table = predict_batch(context, "churn@production", df)  # doctest: +SKIP
        >>> report.rows_per_second  # doctest: +SKIP
    """
    began = time.perf_counter()
    if isinstance(batch_rows, bool) or not isinstance(batch_rows, int) or batch_rows < 1:
        raise SkewlessError(f"batch_rows must be a positive number of rows, got {batch_rows!r}")
    ref = model if isinstance(model, ModelRef) else parse_model_ref(model)
    reader = open_entities(entities, batch_rows)
    served = _load(context, ref)
    on_demand = _check_entities(context, served, reader.schema.names)
    if _is_spark(context.engine) and not on_demand and reader.total_rows != 0:
        from skewless.serving.batch_spark import predict_on_spark

        return predict_on_spark(
            context, served, reader, out, batch_rows, include_features, progress, began
        )
    return _predict_local(context, served, reader, out, include_features, progress, began)


def _load(context: BatchContext, ref: ModelRef) -> ServedModel:
    _, found = context.registry.records()
    records = cast("dict[tuple[str, str], Any]", found)  # kinds are str literals
    return load_served_model(context.tracking, ref, records, context.registry.history)


def _is_spark(engine: OfflineEngine) -> bool:
    return type(engine).__module__.startswith("skewless.offline.spark")


def _check_entities(context: BatchContext, served: ServedModel, names: list[str]) -> bool:
    """Check the entity columns; returns whether the model reads on-demand features."""
    from skewless import on_demand

    lineage = served.lineage
    resolved = on_demand.resolve(
        list(lineage.feature_refs), context.snapshot, lineage.full_feature_names
    )
    has = ", ".join(names) or "no columns"
    for request in resolved.views:
        for key in request.view.join_keys:
            if key not in names:
                raise EntityFrameError(
                    f"the entities have no column {key!r}, a join key of feature view "
                    f"{request.view.name!r} that model {served.name!r} reads (they have: "
                    f"{has}); add it"
                )
    if resolved.on_demand:
        on_demand.check_request_columns(names, resolved, "the entities")
    check_output_names(served, names)
    return bool(resolved.on_demand)


# -- the local path: retrieval then the model, batch by batch -------------------------------
@dataclass
class _Timings:
    retrieval: float = 0.0
    batches: int = 0


def retrieve(
    context: BatchContext,
    served: ServedModel,
    batch: pa.Table,
    groups: RefGroups,
    timings: _Timings,
) -> pa.Table:
    """``batch``'s entity columns (time filled) and the model's input columns, in order."""
    lineage = served.lineage
    times = entity_times(batch)
    untimed = times is None or times.null_count > 0
    found: dict[str, pa.ChunkedArray] = {}
    entity: pa.Table | None = None
    for group in groups.for_rows(untimed):
        rows = with_time(batch, times, group.at)
        began = time.perf_counter()
        table = get_historical_features(
            context.engine, context.snapshot, rows, list(group.refs), lineage.full_feature_names
        ).to_arrow()
        timings.retrieval += time.perf_counter() - began
        if entity is None:
            entity = table.select(rows.column_names)
        for column in group.columns:
            found[column] = table.column(column)
    assert entity is not None
    for column in lineage.feature_columns:
        entity = entity.append_column(column, found[column])
    return entity


def _predict_local(
    context: BatchContext,
    served: ServedModel,
    reader: Any,
    out: str | Path | None,
    include_features: bool,
    progress: bool | None,
    began: float,
) -> tuple[BatchPredictionReport, pa.Table | None]:
    groups = RefGroups(context, served)
    columns = list(reader.schema.names)
    if ENTITY_TIME not in columns:
        columns.append(ENTITY_TIME)
    scorer = BatchScorer(served, columns, include_features)
    timings = _Timings()
    pieces: list[pa.Table] = []
    writer = AtomicParquet(out) if out is not None else None
    rows = 0
    try:
        with progress_bar(
            f"scoring with {served.name} v{served.version}",
            total=reader.total_rows,
            enabled=progress,
        ) as bar:
            for batch in reader.batches():
                if not batch.num_rows:
                    continue
                scored = scorer.score(retrieve(context, served, batch, groups, timings))
                timings.batches += 1
                rows += scored.num_rows
                if writer is not None:
                    writer.write(scored)
                else:
                    pieces.append(scored)
                bar.advance(scored.num_rows)
        table = _concat(pieces, scorer, reader)
        if writer is not None:
            writer.commit(table if rows == 0 else None)
    except BaseException:
        if writer is not None:
            writer.abort()
        raise
    report = BatchPredictionReport(
        model_name=served.name,
        model_version=served.version,
        rows=rows,
        seconds=time.perf_counter() - began,
        retrieval_seconds=timings.retrieval,
        model_seconds=scorer.model_seconds,
        output=writer.path if writer is not None else None,
        batches=timings.batches,
        engine="local",
        as_of=dict(groups.as_of),
    )
    return report, (table if out is None else None)


def _concat(pieces: list[pa.Table], scorer: BatchScorer, reader: Any) -> pa.Table:
    if pieces:
        return pa.concat_tables(pieces)
    if scorer.schema is not None:
        return scorer.schema.empty_table()
    return empty_output(scorer, reader.schema)
