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

import os
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from skewless._contracts import OfflineEngine
from skewless._progress import progress as progress_bar
from skewless.audit import serving_time
from skewless.errors import EntityFrameError, ModelLineageError, SkewlessError
from skewless.offline.entity import ENTITY_TIME, UTC_MICROS, utc_micros
from skewless.registry import Registry
from skewless.registry.snapshot import RegistrySnapshot
from skewless.retrieval import get_historical_features
from skewless.serving.batch_entities import EntityInput, open_entities
from skewless.serving.batch_scoring import BatchScorer, check_output_names
from skewless.serving.model import ServedModel, load_served_model
from skewless.serving.reference import ModelRef, parse_model_ref

if TYPE_CHECKING:
    from skewless.models.tracking import Tracking
    from skewless.store import FeatureStore

__all__ = [
    "BatchContext",
    "BatchPredictionReport",
    "RefGroup",
    "RefGroups",
    "batch_context",
    "predict_batch",
]

DEFAULT_BATCH_ROWS = 100_000


@dataclass(frozen=True)
class BatchContext:
    """What batch inference reads: the offline engine, the definitions, the watermarks,
    MLflow and the clock.

    Attributes:
        engine: runs the point-in-time retrieval.
        snapshot: the definitions (the model's lineage is checked against them).
        registry: holds the watermarks and the definitions' history.
        tracking: where the model is registered.
        now: the store's clock (UTC).
    """

    engine: OfflineEngine
    snapshot: RegistrySnapshot
    registry: Registry
    tracking: Tracking
    now: datetime


def batch_context(store: FeatureStore) -> BatchContext:
    """The :class:`BatchContext` of a store: its engine, definitions, registry, MLflow, clock."""
    from skewless.models.tracking import tracking_for

    return BatchContext(
        engine=store.offline_engine,
        snapshot=store.snapshot(),
        registry=store.registry,
        tracking=tracking_for(store.config),
        now=store.now(),
    )


@dataclass(frozen=True)
class BatchPredictionReport:
    """What a batch prediction did.

    Attributes:
        model_name: the registered model.
        model_version: the version scored with (an alias resolved).
        rows: entity rows scored (one output row each).
        seconds: wall time, end to end (model loading included).
        retrieval_seconds: time in the point-in-time retrieval (None on Spark, where it runs
            in the same tasks as the model).
        model_seconds: time in ``predict`` (on Spark, summed over the tasks).
        output: where the rows were written (None when returned as a table).
        batches: entity batches scored (Spark: 1, the whole frame as one job).
        engine: ``local`` (retrieval then model in this process) or ``spark`` (executors).
        as_of: per feature view, the time rows without ``event_timestamp`` were scored at.
    """

    model_name: str
    model_version: int
    rows: int
    seconds: float
    retrieval_seconds: float | None
    model_seconds: float
    output: Path | str | None
    batches: int
    engine: str
    as_of: dict[str, datetime] = field(default_factory=dict)

    @property
    def rows_per_second(self) -> float:
        """Rows scored per second, end to end."""
        return self.rows / self.seconds if self.seconds > 0 else 0.0

    def summary(self) -> str:
        """One line: rows, rate, where they went."""
        where = f" to {self.output}" if self.output is not None else ""
        return (
            f"scored {self.rows:,} rows with {self.model_name} version {self.model_version} "
            f"in {self.seconds:.2f} s ({self.rows_per_second:,.0f} rows/s){where}"
        )


@dataclass(frozen=True)
class RefGroup:
    """Feature refs retrieved at one time for rows without ``event_timestamp``.

    Attributes:
        at: the time (None: only rows with their own time; no untimed rows to fill).
        refs: ``view:feature`` in the model's order.
        columns: the model's input column of each ref.
    """

    at: datetime | None
    refs: tuple[str, ...]
    columns: tuple[str, ...]


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
    _check_entities(context, served, reader.schema.names)
    if _is_spark(context.engine):
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


def _check_entities(context: BatchContext, served: ServedModel, names: list[str]) -> None:
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


# -- the time of rows without event_timestamp -----------------------------------------------
class RefGroups:
    """The model's refs grouped by the time rows without ``event_timestamp`` are scored at.

    A feature view's time is ``T = min(watermark, now)`` (an offline-only view's: ``now``);
    an on-demand view's is the earliest of its source views'. Views sharing a time are
    retrieved together. Computed on the first batch that needs it.
    """

    def __init__(self, context: BatchContext, served: ServedModel) -> None:
        self.context = context
        self.served = served
        self.as_of: dict[str, datetime] = {}
        self._untimed: list[RefGroup] | None = None

    def for_rows(self, untimed: bool) -> list[RefGroup]:
        """The groups for a batch (one group at None when every row has its own time).

        Raises:
            ModelLineageError: an online view the model reads was never materialized.
        """
        lineage = self.served.lineage
        if not untimed:
            return [RefGroup(None, lineage.feature_refs, lineage.feature_columns)]
        if self._untimed is None:
            grouped: dict[datetime, list[tuple[str, str]]] = {}
            for ref, column in zip(lineage.feature_refs, lineage.feature_columns, strict=True):
                view = ref.partition(":")[0]
                if view not in self.as_of:
                    self.as_of[view] = _view_time(self.context, self.served, view)
                grouped.setdefault(self.as_of[view], []).append((ref, column))
            self._untimed = [
                RefGroup(at, tuple(r for r, _ in refs), tuple(c for _, c in refs))
                for at, refs in sorted(grouped.items())
            ]
        return self._untimed


def _view_time(context: BatchContext, served: ServedModel, name: str) -> datetime:
    snapshot = context.snapshot
    if name in snapshot.on_demand_feature_views:
        sources = snapshot.on_demand_feature_views[name].sources
        return min(_view_time(context, served, p.view_name) for p in sources)
    view = snapshot.get_feature_view(name)
    if not view.online:
        return context.now
    at = serving_time(context.registry, view, context.now)
    if at is None:
        raise ModelLineageError(
            f"feature view {name!r} of model {served.name!r} was never materialized, so rows "
            "without an event_timestamp have no time to be scored at (T = min(watermark, "
            "now)): run `skewless materialize-incremental`, or give every row an "
            f"{ENTITY_TIME!r}"
        )
    return at


def entity_times(batch: pa.Table) -> pa.ChunkedArray | None:
    """The batch's ``event_timestamp`` as UTC microseconds (None: no such column)."""
    if ENTITY_TIME not in batch.column_names:
        return None
    column = batch.column(ENTITY_TIME)
    kind = column.type
    if pa.types.is_null(kind):
        return pa.chunked_array([pa.nulls(len(column), UTC_MICROS)])
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        for target in (UTC_MICROS, pa.timestamp("us")):
            try:
                return utc_micros(column.cast(target))
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                continue
        raise EntityFrameError(
            f"{ENTITY_TIME!r} holds text that is not ISO-8601 timestamps all with or all "
            "without an offset; convert it, e.g. pandas.to_datetime(df['event_timestamp'], "
            "utc=True)"
        )
    return utc_micros(column)


def with_time(batch: pa.Table, times: pa.ChunkedArray | None, at: datetime | None) -> pa.Table:
    """``batch`` with ``event_timestamp`` set to ``times``, nulls (or all rows) at ``at``."""
    if times is None:
        assert at is not None
        filled = pa.chunked_array([pa.array([at] * batch.num_rows, UTC_MICROS)], UTC_MICROS)
        return batch.append_column(ENTITY_TIME, filled)
    if at is not None and times.null_count:
        times = pc.fill_null(times, pa.scalar(at, UTC_MICROS))
    return batch.set_column(batch.column_names.index(ENTITY_TIME), ENTITY_TIME, times)


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
    writer = _AtomicParquet(out) if out is not None else None
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


def empty_output(scorer: BatchScorer, schema: pa.Schema) -> pa.Table:
    """The output of no rows: the entity columns, then the prediction columns."""
    from skewless.serving.batch_scoring import MODEL_NAME, MODEL_VERSION, PREDICTION

    fields = [f for f in schema if f.name != ENTITY_TIME]
    fields.append(pa.field(ENTITY_TIME, UTC_MICROS))
    classes = scorer.model.classes
    kind = pa.array(classes).type if classes else pa.float64()
    fields.append(pa.field(PREDICTION, kind))
    if scorer.model.is_classifier and classes:
        fields += [pa.field(f"probability_{c}", pa.float64()) for c in classes]
    fields += [pa.field(MODEL_NAME, pa.string()), pa.field(MODEL_VERSION, pa.int64())]
    return pa.schema(fields).empty_table()


class _AtomicParquet:
    """One Parquet file written batch by batch under a temporary name, then renamed."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path).expanduser().absolute()
        if self.path.is_dir():
            raise EntityFrameError(
                f"the output {str(path)!r} is a directory: give the path of a Parquet file"
            )
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.temp = self.path.with_name(f".{self.path.name}.skewless-{uuid.uuid4().hex[:12]}.tmp")
        self._writer: pq.ParquetWriter | None = None

    def write(self, table: pa.Table) -> None:
        if self._writer is None:
            self._writer = pq.ParquetWriter(self.temp, table.schema)
        self._writer.write_table(table)

    def commit(self, empty: pa.Table | None = None) -> None:
        if self._writer is None:
            pq.write_table(empty if empty is not None else pa.table({}), self.temp)
        else:
            self._writer.close()
            self._writer = None
        os.replace(self.temp, self.path)

    def abort(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        self.temp.unlink(missing_ok=True)
