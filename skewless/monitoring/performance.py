"""Performance drift: a model's quality on labelled predictions, per window, against its gate.

:func:`performance_report` measures labelled predictions (from
:func:`skewless.serving.feedback.labelled_predictions` or
:func:`skewless.monitoring.labels.join_labels`) with the gate's own metric code
(:mod:`skewless.models.metrics`), so a figure here means what the same figure meant at the gate:
per window of time, over the whole, and against the gate-time metrics
(:func:`skewless.models.gate_metrics`) as the baseline. A metric alerts when it fell further
than its threshold below the baseline; a figure measured on fewer than ``min_labels`` labels
never alerts.

``PerformanceReport.to_dict()`` is the stable, JSON-able form; its shape:

.. code-block:: text

    {
      "task": "classification" | "regression",
      "window": "1d",                               # the width of each window
      "min_labels": 500,
      "classes": [0, 1] | null,                     # the class order of "probabilities"
      "baseline": {"auc": 0.91, "f1": 0.83, ...} | null,
      "thresholds": {"auc": 0.02, "f1": 0.02, "precision": 0.02, "recall": 0.02,
                     "rmse": 0.1, "mae": 0.1},
      "degraded": true,                             # an alert on the overall figure
      "skipped": 3,                                 # rows without a label or a prediction
      "overall": {
        "start": "2026-12-01T00:00:00+00:00", "end": "2026-12-08T00:00:00+00:00",
        "labels": 4200,                             # labelled rows measured
        "status": "ok" | "degraded" | "insufficient labels",
        "metrics": {"precision": 0.8, "recall": 0.7, "f1": 0.75, "auc": 0.88 | null}
                 | {"rmse": 1.2, "mae": 0.9},
        "alerts": ["auc", ...]                      # the metrics that alerted here
      },
      "windows": [{...the same fields, one window...}, ...],   # in time order
      "alerts": [{"metric": "auc", "window": null | "2026-12-03T00:00:00+00:00",
                  "baseline": 0.91, "current": 0.87, "drop": 0.04, "threshold": 0.02}, ...]
    }

NaN and infinities are written as ``null``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from skewless._time import from_micros
from skewless.errors import MonitorInputError
from skewless.models.metrics import classification_metrics, regression_metrics
from skewless.monitoring.labels import (
    LabelledRows,
    Task,
    as_duration,
    as_table,
    labelled_rows,
    resolve_task,
)

__all__ = [
    "DEFAULT_THRESHOLDS",
    "PerformanceAlert",
    "PerformanceReport",
    "WindowPerformance",
    "performance_report",
]

HIGHER_IS_BETTER = ("auc", "f1", "precision", "recall")
DEFAULT_THRESHOLDS: Mapping[str, float] = {
    "auc": 0.02,
    "f1": 0.02,
    "precision": 0.02,
    "recall": 0.02,
    "rmse": 0.10,
    "mae": 0.10,
}
"""Allowed drops: absolute for auc, f1, precision and recall; relative (a share of the
baseline) for rmse and mae."""
_TASK_METRICS: dict[str, tuple[str, ...]] = {
    "classification": ("precision", "recall", "f1", "auc"),
    "regression": ("rmse", "mae"),
}
_US = timedelta(microseconds=1)


def _plain(value: Any) -> Any:
    """JSON-able: NaN and infinities as None, numpy scalars as Python values."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _duration_text(width: timedelta) -> str:
    seconds = int(width.total_seconds())
    if width != timedelta(seconds=seconds):
        return f"{width.total_seconds()}s"
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


@dataclass(frozen=True)
class PerformanceAlert:
    """A metric that dropped further than its threshold below the baseline.

    Attributes:
        metric: ``auc``, ``f1``, ``precision``, ``recall``, ``rmse`` or ``mae``.
        window: the start of the window, None for the overall figure.
        baseline: the gate-time value.
        current: the value measured now.
        drop: ``baseline - current`` for auc/f1/precision/recall;
            ``current / baseline - 1`` (the relative increase) for rmse/mae.
        threshold: the largest drop allowed.
    """

    metric: str
    window: datetime | None
    baseline: float
    current: float
    drop: float
    threshold: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "window": self.window.isoformat() if self.window is not None else None,
            "baseline": _plain(self.baseline),
            "current": _plain(self.current),
            "drop": _plain(self.drop),
            "threshold": _plain(self.threshold),
        }


@dataclass(frozen=True)
class WindowPerformance:
    """The metrics of the labelled predictions of one window (or of all of them).

    Attributes:
        start, end: the window, ``start <= timestamp < end`` (UTC).
        labels: the labelled rows measured.
        metrics: metric name -> value (None when it cannot be computed, e.g. AUC without
            probabilities or with one class).
        enough_labels: whether ``labels >= min_labels`` (otherwise it never alerts).
        alerts: the metrics that alerted on this window.
    """

    start: datetime
    end: datetime
    labels: int
    metrics: Mapping[str, float | None]
    enough_labels: bool
    alerts: tuple[str, ...] = ()

    @property
    def status(self) -> str:
        """``insufficient labels``, ``degraded`` (a metric alerted) or ``ok``."""
        if not self.enough_labels:
            return "insufficient labels"
        return "degraded" if self.alerts else "ok"

    def to_dict(self) -> dict[str, Any]:
        return {
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "labels": self.labels,
            "status": self.status,
            "metrics": {k: _plain(v) for k, v in self.metrics.items()},
            "alerts": list(self.alerts),
        }


@dataclass(frozen=True)
class PerformanceReport:
    """Quality per window and overall, and the alerts against the baseline (see the module
    docstring for :meth:`to_dict`'s shape).

    Attributes:
        task: ``classification`` or ``regression``.
        window: the width of each window.
        windows: one :class:`WindowPerformance` per window holding rows, in time order.
        overall: the figure over every row.
        baseline: metric -> gate-time value (None: nothing to compare with, no alerts).
        thresholds: metric -> largest drop allowed.
        alerts: every alert, the overall figure's first, then the windows' in time order.
        min_labels: the fewest labels a figure needs to alert.
        classes: the class labels of the ``probabilities`` entries, in order.
        skipped: rows left out for a null label, prediction or timestamp.
    """

    task: Task
    window: timedelta
    windows: tuple[WindowPerformance, ...]
    overall: WindowPerformance
    baseline: Mapping[str, float] | None
    thresholds: Mapping[str, float]
    alerts: tuple[PerformanceAlert, ...]
    min_labels: int = 500
    classes: tuple[Any, ...] | None = None
    skipped: int = field(default=0)

    @property
    def degraded(self) -> bool:
        """Whether the overall figure alerted (the windows' alerts are listed in
        :attr:`alerts`; a short bad spell does not make the model degraded)."""
        return bool(self.overall.alerts)

    def to_dict(self) -> dict[str, Any]:
        return {
            "task": self.task,
            "window": _duration_text(self.window),
            "min_labels": self.min_labels,
            "classes": [_plain(c) for c in self.classes] if self.classes is not None else None,
            "baseline": (
                {k: _plain(v) for k, v in self.baseline.items()}
                if self.baseline is not None
                else None
            ),
            "thresholds": dict(self.thresholds),
            "degraded": self.degraded,
            "skipped": self.skipped,
            "overall": self.overall.to_dict(),
            "windows": [w.to_dict() for w in self.windows],
            "alerts": [a.to_dict() for a in self.alerts],
        }

    def to_json(self) -> str:
        return orjson.dumps(self.to_dict(), option=orjson.OPT_SERIALIZE_NUMPY).decode()


def _resolve_thresholds(thresholds: Mapping[str, float] | None) -> dict[str, float]:
    resolved = dict(DEFAULT_THRESHOLDS)
    for metric, value in (thresholds or {}).items():
        if metric not in DEFAULT_THRESHOLDS:
            raise MonitorInputError(
                f"thresholds names {metric!r}, which is not a metric: use "
                f"{', '.join(DEFAULT_THRESHOLDS)}"
            )
        number = isinstance(value, int | float) and not isinstance(value, bool)
        if not number or not math.isfinite(value) or value < 0:
            raise MonitorInputError(
                f"threshold {metric}={value!r} is not a number >= 0: pass e.g. {metric}=0.05"
            )
        resolved[metric] = float(value)
    return resolved


def _resolve_baseline(baseline: Mapping[str, Any] | None, task: Task) -> dict[str, float] | None:
    if baseline is None:
        return None
    kept = {}
    for metric in _TASK_METRICS[task]:
        value = baseline.get(metric)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int | float | np.number):
            raise MonitorInputError(
                f"baseline {metric}={value!r} is not a number: pass the gate-time metrics, "
                "e.g. skewless.models.gate_metrics(name, version)"
            )
        kept[metric] = float(value)
    return kept


# -- the figures -------------------------------------------------------------------------------
def _measure(rows: LabelledRows, index: np.ndarray) -> dict[str, float | None]:
    """The metrics of the rows ``index``, by the gate's metric code."""
    y, pred = rows.y[index], rows.pred[index]
    if rows.task == "regression":
        return regression_metrics(y, pred)
    classes = np.asarray(rows.classes)
    scored = ~np.isnan(rows.proba[index]).any(axis=1)
    if scored.all() and len(index):
        return classification_metrics(y, pred, rows.proba[index], classes)
    out = classification_metrics(y, pred)
    if scored.any():
        subset = index[scored]
        auc = classification_metrics(rows.y[subset], rows.pred[subset], rows.proba[subset], classes)
        out["auc"] = auc["auc"]
    return out


def _alerts(
    metrics: Mapping[str, float | None],
    baseline: Mapping[str, float] | None,
    thresholds: Mapping[str, float],
    window: datetime | None,
) -> list[PerformanceAlert]:
    found = []
    for metric, current in metrics.items():
        base = (baseline or {}).get(metric)
        if current is None or base is None or math.isnan(current) or math.isnan(base):
            continue
        limit = thresholds[metric]
        if metric in HIGHER_IS_BETTER:
            drop = base - current
        elif base > 0:
            drop = current / base - 1.0
        else:
            drop = math.inf if current > base else 0.0
        # a drop equal to the threshold in decimal (0.90 -> 0.88 against 0.02) does not alert
        if drop > limit and not math.isclose(drop, limit, rel_tol=1e-9, abs_tol=1e-12):
            found.append(PerformanceAlert(metric, window, base, current, drop, limit))
    return found


def _figure(
    rows: LabelledRows,
    index: np.ndarray,
    span: tuple[datetime, datetime],
    min_labels: int,
    baseline: Mapping[str, float] | None,
    thresholds: Mapping[str, float],
    window: datetime | None,
) -> tuple[WindowPerformance, list[PerformanceAlert]]:
    metrics = _measure(rows, index)
    enough = len(index) >= min_labels
    alerts = _alerts(metrics, baseline, thresholds, window) if enough else []
    figure = WindowPerformance(
        span[0], span[1], len(index), metrics, enough, tuple(a.metric for a in alerts)
    )
    return figure, alerts


def performance_report(
    labelled: Any,
    *,
    task: str | None = None,
    baseline: Mapping[str, Any] | None = None,
    window: timedelta | str = "1d",
    min_labels: int = 500,
    thresholds: Mapping[str, float] | None = None,
    classes: Sequence[Any] | None = None,
) -> PerformanceReport:
    """The model's quality on labelled predictions, per window and overall, against
    ``baseline``.

    The metrics are the gate's (:mod:`skewless.models.metrics`): for a classification
    precision, recall, f1 (of the larger label for two classes, macro-averaged otherwise) and
    ROC AUC from ``probabilities`` (one-vs-rest macro for more classes; over the rows that
    carry probabilities); for a regression RMSE and MAE.

    When ``task`` is None it is inferred: ``classification`` when any row carries
    probabilities, or the label or prediction column holds text or booleans, or both are
    integers and the labels take at most 10 distinct values; ``regression`` otherwise.

    Args:
        labelled: labelled predictions (a pyarrow Table, pandas/polars DataFrame or Parquet
            path) with ``timestamp``, ``prediction``, ``label`` and, for AUC,
            ``probabilities`` (a list per row, in the model's class order).
        task: ``classification`` or ``regression`` (``classifier``/``regressor`` also).
        baseline: metric -> gate-time value, e.g. ``gate_metrics(name, version)``; other
            metrics in it (``p99_ms``, ``size_mb``) are ignored. None: no alerts.
        window: the width of each window (a timedelta, or text such as ``"6h"``, ``"1d"``,
            ``"7d"``); rows fall in the window their ``timestamp`` floors to, counted from
            the Unix epoch in UTC (so ``"7d"`` windows start on Thursdays).
        min_labels: the fewest labels a window (or the overall figure) needs to alert.
        thresholds: metric -> largest drop allowed, overriding :data:`DEFAULT_THRESHOLDS`
            (absolute for auc/f1/precision/recall, relative for rmse/mae).
        classes: the class labels of the probabilities' entries, in order (default: the
            sorted distinct labels and predictions seen).

    Returns:
        A :class:`PerformanceReport`. A metric alerts when ``baseline - current`` (auc, f1,
        precision, recall) or ``current / baseline - 1`` (rmse, mae) exceeds its threshold,
        on a figure of at least ``min_labels`` labels; ``degraded`` is an alert on the
        overall figure.

    Raises:
        MonitorInputError: a column is missing, no row has a label, the labels and
            predictions cannot be compared, or an option is invalid.

    Example:
        >>> from datetime import UTC, datetime
        >>> t = datetime(2024, 1, 1, tzinfo=UTC)
        >>> rows = pa.table({"timestamp": [t] * 4, "prediction": [1, 0, 1, 1],
        ...                  "label": [1, 0, 0, 1]})
        >>> r = performance_report(rows, baseline={"f1": 0.9}, min_labels=4)
        >>> r.overall.metrics["f1"], r.overall.alerts, r.degraded
        (0.8, ('f1',), True)
    """
    width = as_duration(window, "window")
    if isinstance(min_labels, bool) or not isinstance(min_labels, int) or min_labels < 0:
        raise MonitorInputError(f"min_labels {min_labels!r} is not a count: pass e.g. 500")
    limits = _resolve_thresholds(thresholds)
    table = as_table(labelled, "labelled predictions")
    missing = [c for c in ("timestamp", "prediction", "label") if c not in table.column_names]
    if missing:
        raise MonitorInputError(
            f"the labelled predictions have no column {missing[0]!r}: pass what "
            "labelled_predictions or join_labels returns (timestamp, prediction, label)"
        )
    keep = pc.and_(
        pc.and_(pc.is_valid(table.column("label")), pc.is_valid(table.column("prediction"))),
        pc.is_valid(table.column("timestamp")),
    )
    kept = table.filter(keep)
    if kept.num_rows == 0:
        raise MonitorInputError(
            f"there are no labelled predictions to measure ({table.num_rows} rows, none with a "
            "label, a prediction and a timestamp): record feedback or join labels first"
        )
    resolved = resolve_task(task, kept)
    rows = labelled_rows(kept, resolved, classes)
    micros = _micros(kept.column("timestamp"))
    width_us = width // _US
    buckets = micros // width_us
    base = _resolve_baseline(baseline, resolved)
    order = np.argsort(buckets, kind="stable")
    starts, first = np.unique(buckets[order], return_index=True)
    groups = np.split(order, first[1:])
    span = (from_micros(int(starts[0] * width_us)), from_micros(int((starts[-1] + 1) * width_us)))
    overall, alerts = _figure(rows, np.arange(kept.num_rows), span, min_labels, base, limits, None)
    windows = []
    for start, index in zip(starts, groups, strict=True):
        begin = from_micros(int(start * width_us))
        figure, found = _figure(
            rows, np.sort(index), (begin, begin + width), min_labels, base, limits, begin
        )
        windows.append(figure)
        alerts.extend(found)
    return PerformanceReport(
        task=resolved,
        window=width,
        windows=tuple(windows),
        overall=overall,
        baseline=base,
        thresholds=limits,
        alerts=tuple(alerts),
        min_labels=min_labels,
        classes=rows.classes,
        skipped=table.num_rows - kept.num_rows,
    )


def _micros(column: pa.ChunkedArray) -> np.ndarray:
    if not pa.types.is_timestamp(column.type):
        raise MonitorInputError(
            f"the labelled predictions' timestamp column is {column.type}, not a timestamp: "
            "pass what labelled_predictions or join_labels returns"
        )
    utc = pc.cast(column, pa.timestamp("us", tz="UTC"), safe=False)
    return np.asarray(pc.cast(utc, pa.int64()).to_numpy(), dtype=np.int64)
