"""The performance step of a monitoring run: the window's labelled predictions measured
against the version's gate-time metrics.

Labels come from a labels table joined by entity key and time (:func:`join_labels`), or,
without one, from the feedback recorded through ``POST /feedback``
(:func:`labelled_predictions`). See docs/performance-monitoring.md.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pyarrow.compute as pc

from skewless.models.gate_metrics import metrics_from_tags
from skewless.monitoring.labels import join_labels
from skewless.monitoring.performance import PerformanceReport, performance_report
from skewless.serving.feedback import labelled_predictions
from skewless.serving.logs import BASE_COLUMNS

if TYPE_CHECKING:
    from skewless.monitoring.log_window import LogWindow
    from skewless.monitoring.monitor import MonitorContext
    from skewless.serving.model import ServedModel

__all__ = ["DEFAULT_MIN_LABELS", "PerformanceStep", "performance_step"]

DEFAULT_MIN_LABELS = 500
TIMESTAMP = "event_timestamp"

PerformanceStep = Callable[..., PerformanceReport | None]


def performance_step(
    *,
    label: str = "label",
    timestamp: str = TIMESTAMP,
    window: str = "1d",
    min_labels: int = DEFAULT_MIN_LABELS,
) -> PerformanceStep:
    """The step :func:`~skewless.monitoring.monitor.monitor_model` calls with
    ``(ctx, served, log, labels, notes)``: the report, or None (with a note) when the
    window has no labels.

    Args:
        label, timestamp: the label and time columns of a labels table.
        window: the width of each performance window.
        min_labels: the fewest labels a figure needs to alert.
    """

    def step(
        ctx: MonitorContext, served: ServedModel, log: LogWindow, labels: Any, notes: list[str]
    ) -> PerformanceReport | None:
        if labels is not None:
            rows = log.read()
            keys = _entity_keys(rows.column_names, served)
            labelled = join_labels(rows, labels, keys, label=label, timestamp=timestamp)
            source = "the labels given"
        else:
            labelled = labelled_predictions(ctx.root, served.name, log.start, log.end, now=ctx.now)
            versions = labelled.column("model_version")
            labelled = labelled.filter(pc.equal(versions, served.version))
            source = "the feedback recorded through /feedback"
        if labelled.num_rows == 0:
            notes.append(
                f"no labels for the window in {source}: performance is not measured (record "
                "outcomes with POST /feedback, or pass --labels)"
            )
            return None
        baseline = metrics_from_tags(served.info.tags)
        if baseline is None:
            notes.append(
                f"{served.name!r} v{served.version} was never gated, so its metrics are shown "
                f"without a baseline and raise no alert: run `skewless gate {served.name} ...`"
            )
        return performance_report(
            labelled,
            task="classification" if served.is_classifier else "regression",
            baseline=baseline,
            window=window,
            min_labels=min_labels,
            classes=served.classes if served.is_classifier and served.model is not None else None,
        )

    return step


def _entity_keys(columns: list[str], served: ServedModel) -> list[str]:
    """The entity keys the requests sent: the log's own columns that are not features."""
    features = set(served.lineage.feature_columns)
    return [c for c in columns if c not in BASE_COLUMNS and c not in features]
