"""What a batch prediction works with: its context, its report, and the time of each row.

Rows without an ``event_timestamp`` (the column left out, or null) are scored at each view's
``T = min(watermark, now)``, the instant its online values stand for (docs/semantics.md
"Parity"); :class:`RefGroups` groups the model's feature refs by that time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc

from skewless._contracts import OfflineEngine
from skewless.audit import serving_time
from skewless.errors import EntityFrameError, ModelLineageError
from skewless.offline.entity import ENTITY_TIME, UTC_MICROS, utc_micros
from skewless.registry import Registry
from skewless.registry.snapshot import RegistrySnapshot

if TYPE_CHECKING:
    from skewless.models.tracking import Tracking
    from skewless.serving.model import ServedModel

__all__ = [
    "BatchContext",
    "BatchPredictionReport",
    "RefGroup",
    "RefGroups",
    "batch_context",
    "entity_times",
    "with_time",
]


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


def batch_context(store: Any) -> BatchContext:
    """The :class:`BatchContext` of a ``FeatureStore``: its engine, definitions, registry,
    MLflow and clock."""
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
