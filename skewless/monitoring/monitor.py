"""Watching a served model: its features, its predictions and (with labels) its accuracy over a
window of its prediction log, against its training reference.

:func:`monitor_model` composes what exists: the version and its lineage from the model
registry, the reference dataset's stored profile (:func:`dataset_profile`), the log window
(:class:`LogWindow`), :func:`drift_report` per side and per day, the prediction reference
(:func:`prediction_profile`) and, when labels are there, the performance report against the
version's gate-time metrics. ``skewless monitor`` is its command line. See
docs/monitoring.md, "skewless monitor".
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import orjson
import pyarrow as pa

from skewless.errors import DriftInputError
from skewless.monitoring.drift import drift_report
from skewless.monitoring.log_window import TIMESTAMP, LogWindow
from skewless.monitoring.prediction_reference import prediction_profile
from skewless.monitoring.profile_store import dataset_profile
from skewless.monitoring.report import DriftReport
from skewless.monitoring.timeline import day_slices, with_timeline

if TYPE_CHECKING:
    from skewless.datasets import DatasetCatalog
    from skewless.models.tracking import Tracking
    from skewless.serving.model import ServedModel

__all__ = ["FAIL_ON", "FailOn", "MonitorContext", "MonitorResult", "monitor_model"]

FailOn = Literal["dataset", "any", "never"]
FAIL_ON: tuple[str, ...] = ("dataset", "any", "never")
Step = Callable[[str, int | None], Callable[[int], None]]


@dataclass(frozen=True)
class MonitorContext:
    """What monitoring reads: the model registry, the saved datasets, the repository (for
    its prediction logs) and "now"."""

    tracking: Tracking
    datasets: DatasetCatalog
    root: Path
    now: datetime


@dataclass(frozen=True)
class MonitorResult:
    """One monitoring run of a model version over a window.

    Attributes:
        model, version: the version monitored (an alias resolved when the run began).
        start, end: the window of the prediction log.
        reference: the reference dataset's name.
        rows: logged rows in the window (this version's), and ``missing``: those answered
            without features, left out of the comparison.
        data: feature drift (with a per-day ``timeline`` when asked for).
        prediction: prediction drift, against the model's predictions on the reference.
        performance: the performance report, when labels were found (else None).
        notes: what was skipped and why.
    """

    model: str
    version: int
    start: datetime | None
    end: datetime | None
    reference: str
    rows: int
    missing: int
    data: DriftReport
    prediction: DriftReport | None = None
    performance: Any = None
    notes: tuple[str, ...] = field(default=())

    def drifted(self, fail_on: FailOn = "dataset") -> bool:
        """Whether the run found drift as ``fail_on`` judges it.

        ``dataset``: the features drifted as a dataset (at least ``drift_share`` of their
        columns), or the predictions did, or the overall performance dropped past its
        threshold. ``any``: any feature or prediction column drifted, or any performance
        alert (a window's too). ``never``: never.
        """
        if fail_on == "never":
            return False
        reports = [r for r in (self.data, self.prediction) if r is not None]
        alerts = list(getattr(self.performance, "alerts", None) or [])
        if fail_on == "any":
            return any(r.drifted_columns for r in reports) or bool(alerts)
        degraded = bool(getattr(self.performance, "degraded", False))
        return any(r.dataset_drift for r in reports) or degraded

    def to_dict(self) -> dict[str, Any]:
        """The run as JSON-able data: the model, the window, and each report's ``to_dict``."""
        return {
            "model": {"name": self.model, "version": self.version},
            "window": {
                "start": self.start.isoformat() if self.start else None,
                "end": self.end.isoformat() if self.end else None,
            },
            "reference": self.reference,
            "rows": self.rows,
            "missing": self.missing,
            "drift": {fail_on: self.drifted(fail_on) for fail_on in ("dataset", "any")},
            "data": self.data.to_dict(),
            "prediction": self.prediction.to_dict() if self.prediction else None,
            "performance": self.performance.to_dict() if self.performance is not None else None,
            "notes": list(self.notes),
        }

    def to_json(self) -> str:
        return orjson.dumps(
            self.to_dict(), option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_INDENT_2
        ).decode()


def _no_step(description: str, total: int | None) -> Callable[[int], None]:
    return lambda amount: None


def monitor_model(
    ctx: MonitorContext,
    model: str,
    *,
    window: timedelta = timedelta(days=1),
    reference: str | None = None,
    per_day: bool = True,
    predictions: bool = True,
    labels: Any = None,
    step: Step | None = None,
    performance: Callable[..., Any] | None = None,
) -> MonitorResult:
    """Monitor ``model`` (``NAME``, ``NAME@ALIAS`` or ``NAME/VERSION``) over the last
    ``window`` of its prediction log.

    Args:
        ctx: the registry, datasets, repository and clock.
        model: the model version to monitor; only its rows of the log are compared.
        window: how far back from ``ctx.now`` the log is read.
        reference: the reference dataset (default: the one the version was trained on).
        per_day: add the drift of each UTC day of the window.
        predictions: compare the predictions too (scores the reference once, then keeps
            the scores' profile beside it).
        labels: labels to join by entity key and time (a frame, table or Parquet path);
            without them, the feedback recorded through ``/feedback`` is used.
        step: makes a progress step: ``step(description, total)`` -> ``advance(n)``.
        performance: computes the performance report (``performance(ctx, served, window,
            labels, baseline)``); None leaves performance out.

    Raises:
        UnknownModelError: no such model, version or alias.
        ModelLineageError: the version carries no lineage (nothing to compare with).
        UnknownObjectError: no such reference dataset.
        PredictionLogError: the model has no prediction log.
        DriftInputError: the window holds no answered rows of the version.
    """
    step = step or _no_step
    served = _load(ctx, model, predictions)
    info, lineage = served.info, served.lineage
    name = reference or lineage.dataset
    dataset = ctx.datasets.get(name)
    log = LogWindow(ctx.root, info.name, since=window, version=info.version, now=ctx.now)
    rows = log.read()
    features = log.features(list(lineage.feature_columns))
    profile = dataset_profile(ctx.datasets, name)
    notes: list[str] = []

    def data_drift(current: pa.Table) -> DriftReport:
        return drift_report(profile, current.drop_columns([TIMESTAMP]))

    data = _named(data_drift(features), name, log.name)
    if per_day:
        data = _timeline(data, features, data_drift, step, "feature drift per day")
    prediction = None
    if predictions:
        prediction = _prediction_drift(served, dataset, log, step, per_day, log.name)
    perf = None
    if performance is not None:
        perf = performance(ctx, served, log, labels, notes)
    return MonitorResult(
        model=info.name,
        version=info.version,
        start=log.start,
        end=log.end,
        reference=name,
        rows=rows.num_rows,
        missing=log.missing,
        data=data,
        prediction=prediction,
        performance=perf,
        notes=tuple(notes),
    )


def _load(ctx: MonitorContext, model: str, load: bool) -> ServedModel:
    from skewless.errors import ModelLineageError
    from skewless.models.versions import load_version
    from skewless.serving.model import ServedModel, resolve_version
    from skewless.serving.reference import parse_model_ref

    ref = parse_model_ref(model)
    info = resolve_version(ctx.tracking, ref)
    if info.lineage is None:
        raise ModelLineageError(
            f"model {info.name!r} version {info.version} carries no skewless lineage, so there "
            "is no training reference to compare with: log it with "
            "skewless.models.log_model(model, NAME, dataset=DATASET, store=store)"
        )
    loaded = load_version(ctx.tracking, info.name, info.version) if load else None
    return ServedModel(ref=ref, info=info, lineage=info.lineage, model=loaded)


def _named(report: DriftReport, reference: str, current: str) -> DriftReport:
    return dataclasses.replace(report, reference_name=reference, current_name=current)


def _timeline(
    report: DriftReport,
    current: pa.Table,
    compare: Callable[[pa.Table], DriftReport],
    step: Step,
    description: str,
) -> DriftReport:
    days = len(day_slices(current, TIMESTAMP))
    if days < 2:
        return report
    advance = step(description, days)
    return with_timeline(report, current, compare, on_day=lambda: advance(1))


def _prediction_drift(
    served: ServedModel,
    dataset: Any,
    log: LogWindow,
    step: Step,
    per_day: bool,
    current_name: str,
) -> DriftReport:
    advance = step(f"scoring {dataset.name} for the prediction reference", dataset.rows)
    profile = prediction_profile(dataset, served, on_rows=advance)
    current = log.predictions(served.classes if served.is_classifier else None)
    common = [c for c in current.column_names if c in profile.columns]
    if not common:
        raise DriftInputError(
            f"the logged predictions of {served.name!r} v{served.version} "
            f"({', '.join(current.column_names[:-1])}) share no column with its predictions on "
            f"{dataset.name!r} ({', '.join(profile.columns)}): monitor one version at a time"
        )

    def compare(rows: pa.Table) -> DriftReport:
        return dataclasses.replace(drift_report(profile, rows.select(common)), kind="prediction")

    report = _named(compare(current), dataset.name, current_name)
    if per_day:
        report = _timeline(report, current, compare, step, "prediction drift per day")
    return report
