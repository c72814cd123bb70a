"""Materialization: the latest row per key, from the offline sources to the online store.

The rules are docs/semantics.md "Materialization". Per view, the offline engine streams the winning
row of each key in small batches, read ahead on a background thread while the rows before them
are encoded (vectorized, see :mod:`skewless.online.codec`) and written
(:mod:`skewless.materialize_rows`): at most ``batch_rows`` rows per online transaction, under
the monotonic rule, so reruns and out-of-order ranges are harmless. The view's watermark moves
only after all of its transactions are committed: a run that fails part-way leaves the
watermark where it was, and rerunning it completes the work.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from skewless._contracts import OfflineEngine, OnlineStore
from skewless._progress import progress
from skewless._time import to_micros, to_utc
from skewless.definitions import BatchFeatureView, FeatureView
from skewless.errors import MaterializationError, SkewlessError, TimeRangeError, UnknownObjectError
from skewless.materialize_rows import write_latest
from skewless.offline.spark.materialize import can_write_from_executors, write_from_executors
from skewless.online.window_state import StateLayout
from skewless.registry.records import Watermark
from skewless.registry.snapshot import RegistrySnapshot
from skewless.window_online import events_by_key, rebuild_states, state_ttl

__all__ = [
    "DEFAULT_BATCH_ROWS",
    "MaterializeContext",
    "MaterializeReport",
    "ViewMaterialization",
    "WatermarkStore",
    "materialize",
    "materialize_incremental",
]

logger = logging.getLogger("skewless")

DEFAULT_BATCH_ROWS = 100_000
"""The most rows written in one online transaction (the engine's winning rows are pulled in
smaller batches, :data:`skewless.materialize_rows.READ_ROWS`)."""


class WatermarkStore(Protocol):
    """The part of the registry materialization uses: per-view watermarks."""

    def get_watermark(self, view: FeatureView) -> Watermark | None: ...

    def set_watermark(
        self, view: FeatureView, watermark: datetime, max_created: datetime | None = None
    ) -> bool | None: ...


@dataclass
class MaterializeContext:
    """What a materialization run works with.

    Attributes:
        engine: reads the latest row per key from the sources.
        online: receives the rows.
        registry: holds the watermarks.
        snapshot: the definitions to materialize (and their online table names).
        batch_rows: the most rows written in one online transaction (memory is bounded by
            it).
        show_progress: draw progress bars; by default only when stderr is a terminal.
        now: the store's clock at the start of the run (None: the wall clock); watermarks
            never move past it.
    """

    engine: OfflineEngine
    online: OnlineStore
    registry: WatermarkStore
    snapshot: RegistrySnapshot
    batch_rows: int = DEFAULT_BATCH_ROWS
    show_progress: bool | None = None
    now: datetime | None = None

    def clock(self) -> datetime:
        return to_utc(self.now) if self.now is not None else datetime.now(UTC)


@dataclass(frozen=True)
class ViewMaterialization:
    """What one run did for one view.

    Attributes:
        view: the feature view's name.
        rows: rows written to the online store (one per key and batch).
        start: the range's start (None: all history).
        end: the range's end.
        seconds: wall time spent on the view.
        note: why nothing was done, when nothing was.
        watermark: where the run moved the watermark to (at least): ``min(end, now)``;
            None when nothing was recorded.
    """

    view: str
    rows: int
    start: datetime | None
    end: datetime
    seconds: float
    note: str = ""
    watermark: datetime | None = None


@dataclass(frozen=True)
class MaterializeReport:
    """The outcome of :func:`materialize` or :func:`materialize_incremental`, per view."""

    views: tuple[ViewMaterialization, ...] = field(default_factory=tuple)

    @property
    def rows(self) -> int:
        """Rows written over all views."""
        return sum(v.rows for v in self.views)

    @property
    def seconds(self) -> float:
        return sum(v.seconds for v in self.views)

    def render(self) -> str:
        """One line per view, e.g. ``user_stats: 1,000 rows, 2024-01-01 .. 2024-01-02 (0.1 s)``."""
        if not self.views:
            return "no online feature views to materialize"
        lines = []
        for v in self.views:
            start = v.start.isoformat() if v.start is not None else "the beginning"
            line = f"{v.view}: {v.rows:,} rows, {start} .. {v.end.isoformat()} ({v.seconds:.2f} s)"
            if v.watermark is not None and v.watermark < v.end:
                line += (
                    f"; END is in the future, so the watermark stops at {v.watermark.isoformat()}"
                )
            lines.append(f"{line}; {v.note}" if v.note else line)
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.render()


def materialize(
    ctx: MaterializeContext,
    start: datetime,
    end: datetime,
    feature_views: Sequence[str] | None = None,
) -> MaterializeReport:
    """Write, per view and key, the winning row with ``start <= ts <= end``.

    Args:
        ctx: the engine, online store, registry and definitions to use.
        start: the range's first instant (inclusive; naive means UTC).
        end: the range's last instant (inclusive); the watermark moves to at least
            ``min(end, now)``.
        feature_views: view names; by default every view with ``online=True``.

    Raises:
        TimeRangeError: ``end`` is before ``start``.
        UnknownObjectError: a named view is not in the registry.
        MaterializationError: a view could not be written (its watermark did not move).
    """
    start, end = to_utc(start), to_utc(end)
    if end < start:
        raise TimeRangeError(
            f"END {end.isoformat()} is before START {start.isoformat()}: "
            "pass the earlier time first"
        )

    def run(view: FeatureView) -> ViewMaterialization:
        # A first run records the greatest created time it saw; later explicit ranges leave
        # it alone, since they skip late rows that an incremental run still has to pick up.
        first_run = ctx.registry.get_watermark(view) is None
        return _materialize_view(ctx, view, start, end, None, record_created=first_run)

    return _run_views(_views(ctx.snapshot, feature_views), run)


def materialize_incremental(
    ctx: MaterializeContext,
    end: datetime,
    feature_views: Sequence[str] | None = None,
) -> MaterializeReport:
    """Materialize each view from its watermark (or ``end - ttl``, or all history) to ``end``.

    Views whose source has a created-timestamp column also pick up late rows: rows before the
    watermark created after the greatest created time the previous run saw.
    """
    end = to_utc(end)

    def run(view: FeatureView) -> ViewMaterialization:
        mark = ctx.registry.get_watermark(view)
        late_after = None
        if mark is not None:
            start: datetime | None = mark.watermark
            if view.source.created_timestamp_column:
                late_after = mark.max_created
        else:
            start = _first_start(view, end)
        if start is not None and start > end:
            note = f"already materialized up to {start.isoformat()}"
            return ViewMaterialization(view.name, 0, start, end, 0.0, note)
        return _materialize_view(ctx, view, start, end, late_after, record_created=True)

    return _run_views(_views(ctx.snapshot, feature_views), run)


def _run_views(
    views: Sequence[FeatureView], run: Callable[[FeatureView], ViewMaterialization]
) -> MaterializeReport:
    """Run ``views`` in order; a failure after (or before) other views says what was done.

    A failure of the only view propagates as it is. Otherwise it becomes a
    :class:`MaterializationError` listing the views committed (their watermarks moved), the
    view that failed and the views not run (docs/semantics.md "Materialization").
    """
    done: list[ViewMaterialization] = []
    for i, view in enumerate(views):
        try:
            done.append(run(view))
        except SkewlessError as exc:
            not_run = tuple(v.name for v in views[i + 1 :])
            if not done and not not_run:
                raise
            committed = MaterializeReport(tuple(done)).render().splitlines() if done else []
            cause = str(exc)
            if not isinstance(exc, MaterializationError):
                cause = f"materializing feature view {view.name!r} failed: {cause}"
            parts = [cause]
            if done:
                names = ", ".join(repr(v.view) for v in done)
                parts.append(f"written before it, with their watermarks moved: {names}")
            if not_run:
                parts.append(f"not run: {', '.join(map(repr, not_run))}")
            parts.append("rerunning the same command finishes the work")
            raise MaterializationError(
                "; ".join(parts), committed=tuple(committed), failed=view.name, not_run=not_run
            ) from exc
    return MaterializeReport(tuple(done))


def _first_start(view: FeatureView, end: datetime) -> datetime | None:
    """Where a view's first incremental run starts: ``end - ttl`` (``end - longest window``
    for aggregation views); None (all history) when unbounded or lifetime."""
    if isinstance(view, BatchFeatureView):
        windows = [a.time_window for a in view.aggregations]
        if any(w is None for w in windows):
            return None
        return end - max(w for w in windows if w is not None)
    return end - view.ttl if view.ttl else None


def _views(snapshot: RegistrySnapshot, names: Sequence[str] | None) -> list[FeatureView]:
    if names is None:
        return [v for v in snapshot.feature_views.values() if v.online]
    if isinstance(names, str):
        names = [names]
    known = snapshot.feature_views
    unknown = [n for n in names if n not in known]
    if unknown:
        listing = ", ".join(sorted(known)) or "none; run `skewless apply` first"
        raise UnknownObjectError(
            f"no feature view(s) named {', '.join(map(repr, unknown))} to materialize "
            f"(feature views: {listing})"
        )
    offline_only = [n for n in names if not known[n].online]
    if offline_only:
        raise MaterializationError(
            f"feature view(s) {', '.join(map(repr, offline_only))} have online=False, so they "
            "are not materialized: set online=True and apply, or leave them out"
        )
    return [known[n] for n in dict.fromkeys(names)]


def _materialize_view(
    ctx: MaterializeContext,
    view: FeatureView,
    start: datetime | None,
    end: datetime,
    late_after: datetime | None,
    *,
    record_created: bool,
) -> ViewMaterialization:
    began = time.perf_counter()
    table = ctx.snapshot.online_table(view)
    ttl = state_ttl(view) if isinstance(view, BatchFeatureView) else view.ttl
    ctx.online.set_table_ttl(table, ttl)
    max_created = None
    if record_created and view.source.created_timestamp_column:
        # Read before the rows: anything created while the run reads is then "not yet seen"
        # and picked up by the next incremental run (twice at worst, which is harmless).
        max_created = ctx.engine.max_created(view, None, end)
    written = 0
    with progress(f"materialize {view.name}", enabled=ctx.show_progress) as bar:
        try:
            if isinstance(view, BatchFeatureView):
                written = _write_states(ctx, view, table, start, end, late_after, bar)
            elif can_write_from_executors(ctx.engine, ctx.online):
                written = write_from_executors(
                    ctx.engine,
                    ctx.online,
                    view,
                    table,
                    start,
                    end,
                    late_after,
                    batch_rows=ctx.batch_rows,
                )
                bar.advance(written)
            else:
                written = write_latest(
                    ctx.engine,
                    ctx.online,
                    view,
                    table,
                    start,
                    end,
                    late_after,
                    batch_rows=ctx.batch_rows,
                    bar=bar,
                )
        except SkewlessError:
            raise
        except Exception as exc:
            raise MaterializationError(
                f"materializing feature view {view.name!r} failed after {written:,} rows "
                f"({type(exc).__name__}: {exc}); its watermark did not move, so rerunning the "
                "same command completes the work"
            ) from exc
    # Rows with later event times may still arrive: the watermark never passes the clock
    # (docs/semantics.md "Materialization").
    mark = min(end, ctx.clock())
    recorded = ctx.registry.set_watermark(view, mark, max_created)
    if recorded is False:
        # The view was changed or removed while we ran: the table we wrote is obsolete.
        ctx.online.drop([table])
    seconds = time.perf_counter() - began
    logger.info(
        "materialized %s: %d rows from %s to %s in %.2f s",
        view.name,
        written,
        start.isoformat() if start else "the beginning",
        end.isoformat(),
        seconds,
    )
    note = "" if recorded is not False else "the view changed meanwhile; nothing kept"
    kept = mark if recorded is not False else None
    return ViewMaterialization(view.name, written, start, end, seconds, note, kept)


def _write_states(
    ctx: MaterializeContext,
    view: BatchFeatureView,
    table: str,
    start: datetime | None,
    end: datetime,
    late_after: datetime | None,
    bar: Any,
) -> int:
    """Rebuild the window state of every key with events in the range; returns keys written."""
    layout = StateLayout.of(view)
    since = None
    if not layout.lifetime and layout.max_window is not None:
        since = end - timedelta(microseconds=layout.max_window)
    batches = ctx.engine.window_events(
        view, start, end, since=since, late_created_after=late_after, batch_rows=ctx.batch_rows
    )
    end_us = to_micros(end)
    written = 0
    for keyed in events_by_key(layout, view.join_keys, batches):
        written += rebuild_states(ctx.online, table, layout, end_us, keyed)
        bar.advance(sum(len(events) for _, events in keyed))
    return written
