"""Validation gates: judge a registered model version on a held-out saved dataset.

A gate measures quality (f1/precision/recall/AUC for a classifier, RMSE/MAE for a
regressor), the p99 latency of single-row predictions, the model's size, and the
regression of its primary metric against a baseline version (``production``), then checks
each against the thresholds given. The report is what CI keeps (``to_dict()`` is its JSON)
and what ``promote(..., gate_report=...)`` requires to have passed. Each report carries its
digest, which the gate also records on the model version in MLflow, so that only the
version's latest, unchanged gate report promotes it (:mod:`skewless.models.gate_binding`),
and its metrics, which performance monitoring compares with (:mod:`skewless.models.gate_metrics`).
"""

from __future__ import annotations

import tempfile
import time
import warnings
from contextlib import AbstractContextManager, nullcontext
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from skewless.errors import GateInputError, UnknownModelError
from skewless.models.gate_binding import DIGEST_KEY, GATE_TAG, report_digest
from skewless.models.gate_metrics import record_gate_metrics
from skewless.models.lineage import Lineage, infer_label
from skewless.models.metrics import classification_metrics, regression_metrics
from skewless.models.registry import _all_versions, _version, resolve_store
from skewless.models.tracking import tracking_for

if TYPE_CHECKING:
    import pandas as pd

    from skewless.datasets import SavedDataset
    from skewless.store import FeatureStore

__all__ = ["Check", "GateReport", "Thresholds", "run_gate"]

LATENCY_ROWS = 200
_HIGHER_IS_BETTER = {"f1": True, "precision": True, "recall": True, "auc": True}
_LOWER_IS_BETTER = {"rmse": False, "mae": False}


@dataclass(frozen=True)
class Thresholds:
    """The limits a gate checks; a check runs only for the limits given.

    ``max_regression`` is the largest allowed drop of the primary metric (f1 for a
    classifier, rmse for a regressor, unless ``primary_metric``) against ``baseline``, as an
    absolute difference; giving either one turns the baseline check on.
    """

    min_f1: float | None = None
    min_precision: float | None = None
    min_recall: float | None = None
    min_auc: float | None = None
    max_rmse: float | None = None
    max_mae: float | None = None
    max_p99_ms: float | None = None
    max_size_mb: float | None = None
    baseline: str | None = None
    max_regression: float | None = None
    primary_metric: str | None = None


@dataclass(frozen=True)
class Check:
    """One check: ``value op threshold`` passed or not."""

    name: str
    metric: str
    value: float | None
    threshold: float | None
    op: str
    passed: bool
    note: str = ""


@dataclass
class GateReport:
    """The outcome of a gate; ``passed`` is true when every check passed."""

    model: dict[str, Any]
    dataset: dict[str, Any]
    metrics: dict[str, float | None]
    checks: list[Check] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    created_at: str = ""

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks)

    @property
    def digest(self) -> str:
        """sha256 of the report's canonical JSON (its ``report_sha256``)."""
        return report_digest(self._content())

    def _content(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "model": self.model,
            "dataset": self.dataset,
            "metrics": self.metrics,
            "checks": [asdict(c) for c in self.checks],
            "notes": self.notes,
            "created_at": self.created_at,
        }

    def to_dict(self) -> dict[str, Any]:
        """The report as JSON-able data, with its digest under ``report_sha256``."""
        content = self._content()
        return {**content, DIGEST_KEY: report_digest(content)}


@dataclass
class _Loaded:
    version: Any
    pyfunc: Any
    raw: Any
    size_bytes: int
    inputs: list[str]


def _load(client: Any, name: str, version: str | int | None) -> _Loaded:
    import mlflow.artifacts
    import mlflow.pyfunc

    if version is None:
        versions = _all_versions(client, name)
        if not versions:
            raise UnknownModelError(f"model {name!r} has no versions: log one first")
        mv = versions[-1]
    else:
        mv = _version(client, name, version)
    with tempfile.TemporaryDirectory(prefix="skewless-gate-") as tmp:
        local = Path(
            mlflow.artifacts.download_artifacts(
                artifact_uri=f"models:/{name}/{mv.version}", dst_path=tmp
            )
        )
        size = sum(p.stat().st_size for p in local.rglob("*") if p.is_file())
        model = mlflow.pyfunc.load_model(str(local))
    raw: Any = None
    try:
        raw = model.get_raw_model()
    except Exception:
        raw = None
    if type(raw).__module__ == "skewless.models._pyfunc":  # a wrapped non-sklearn model
        raw = raw.model
    elif raw is not None and not hasattr(raw, "predict"):
        raw = None
    schema = model.metadata.get_input_schema()
    inputs = list(schema.input_names()) if schema is not None else []
    return _Loaded(mv, model, raw, size, [str(i) for i in inputs])


def _predict(loaded: _Loaded, x: pd.DataFrame) -> tuple[np.ndarray, Any, Any]:
    """Predictions, class probabilities (or None) and the classes of their columns."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if loaded.raw is not None:
            pred = np.asarray(loaded.raw.predict(x))
            proba = loaded.raw.predict_proba(x) if hasattr(loaded.raw, "predict_proba") else None
            classes = getattr(loaded.raw, "classes_", None)
            return pred, proba, classes
        return np.asarray(loaded.pyfunc.predict(x)), None, None


def _one_thread() -> AbstractContextManager[Any]:
    """Native thread pools limited to one thread: a single-row prediction gains nothing from
    them, and their start-up would dominate the figure."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return nullcontext()
    return threadpool_limits(limits=1)


def _latency_p99_ms(loaded: _Loaded, x: pd.DataFrame, rows: int) -> tuple[float | None, str]:
    """p99 of single-row predictions (numpy rows when the model takes them)."""
    n = min(rows, len(x))
    if n == 0:
        return None, "none"
    arr = x.to_numpy()
    target = loaded.raw if loaded.raw is not None else None
    calls: list[tuple[str, Any]] = []
    if target is not None:
        calls.append(("numpy", lambda i: target.predict(arr[i : i + 1])))
        calls.append(("dataframe", lambda i: target.predict(x.iloc[i : i + 1])))
    calls.append(("pyfunc", lambda i: loaded.pyfunc.predict(x.iloc[i : i + 1])))
    with warnings.catch_warnings(), _one_thread():
        warnings.simplefilter("ignore")
        for kind, call in calls:
            try:
                for i in range(min(3, n)):
                    call(i)
            except Exception:
                continue
            times = []
            for i in range(n):
                t0 = time.perf_counter()
                call(i)
                times.append((time.perf_counter() - t0) * 1000.0)
            return float(np.percentile(times, 99)), kind
    return None, "failed"


def _quality(task: str, loaded: _Loaded, x: pd.DataFrame, y: Any) -> dict[str, float | None]:
    pred, proba, classes = _predict(loaded, x)
    if task == "classifier":
        return classification_metrics(np.asarray(y), pred, proba, classes)
    return regression_metrics(np.asarray(y, dtype=np.float64), pred)


def _check_held_out(dataset: SavedDataset, lineage: Lineage | None, name: str) -> list[str]:
    if lineage is None:
        return [f"model {name!r} carries no lineage: cannot verify the dataset is held out"]
    if dataset.name == lineage.dataset or (
        lineage.dataset_fingerprint and dataset.entity_fingerprint == lineage.dataset_fingerprint
    ):
        raise GateInputError(
            f"dataset {dataset.name!r} is the training dataset of model {name!r}: gate on "
            f"held-out rows, e.g. `skewless datasets split {lineage.dataset} --at TIME`"
        )
    if dataset.parent is not None and dataset.parent == lineage.dataset:
        raise GateInputError(
            f"dataset {dataset.name!r} is a split of {lineage.dataset!r}, the training dataset "
            f"of model {name!r}, so the model saw its rows: train on the other side of the split"
        )
    return []


def _inputs(
    loaded: _Loaded, lineage: Lineage | None, dataset: SavedDataset, name: str
) -> list[str]:
    columns = loaded.inputs or (list(lineage.feature_columns) if lineage else [])
    if not columns:
        raise GateInputError(f"model {name!r} has no input signature: log it with log_model")
    missing = [c for c in columns if c not in dataset.columns]
    if missing:
        raise GateInputError(
            f"model {name!r} version {loaded.version.version} takes {', '.join(missing)}, "
            f"which dataset {dataset.name!r} does not have: its signature does not match the "
            "dataset's features"
        )
    return columns


def _threshold_checks(metrics: dict[str, float | None], t: Thresholds) -> list[Check]:
    limits = [
        ("f1", t.min_f1, ">="),
        ("precision", t.min_precision, ">="),
        ("recall", t.min_recall, ">="),
        ("auc", t.min_auc, ">="),
        ("rmse", t.max_rmse, "<="),
        ("mae", t.max_mae, "<="),
        ("p99_ms", t.max_p99_ms, "<="),
        ("size_mb", t.max_size_mb, "<="),
    ]
    checks = []
    for metric, limit, op in limits:
        if limit is None:
            continue
        value = metrics.get(metric)
        if value is None:
            note = f"{metric} is not available for this model and dataset"
            checks.append(Check(metric, metric, None, limit, op, False, note))
            continue
        ok = value >= limit if op == ">=" else value <= limit
        checks.append(Check(metric, metric, value, limit, op, ok))
    return checks


def run_gate(
    name: str,
    dataset: str,
    *,
    version: str | int | None = None,
    thresholds: Thresholds | None = None,
    store: FeatureStore | None = None,
    label: str | None = None,
    latency_rows: int = LATENCY_ROWS,
) -> GateReport:
    """Judge a version of model ``name`` on the saved dataset ``dataset``.

    Args:
        version: a version number or alias (default: the latest version).
        thresholds: the limits to check.
        label: the target column (default: the model's lineage).
        latency_rows: rows predicted one at a time for the latency figure.

    Raises:
        UnknownObjectError: no such dataset, model, version or alias.
        GateInputError: the dataset is the model's training data, lacks the label column,
            or lacks a column the model's signature needs.
        ModelRegistryError: MLflow is missing or the tracking server cannot be reached.
    """
    t = thresholds or Thresholds()
    s = resolve_store(store)
    saved = s.get_dataset(dataset)
    tracking = tracking_for(s.config)
    with tracking.active() as client:
        loaded = _load(client, name, version)
        info_tags = {str(k): str(v) for k, v in (loaded.version.tags or {}).items()}
        lineage = Lineage.from_tags(info_tags)
        notes = _check_held_out(saved, lineage, name)
        columns = _inputs(loaded, lineage, saved, name)
        target = infer_label(saved, label or (lineage.label if lineage else None))
        if saved.rows == 0:
            raise GateInputError(f"dataset {saved.name!r} has no rows to gate on")
        frame = saved.to_df()
        x, y = frame[columns], frame[target]
        task = (lineage.task if lineage else "") or (
            "classifier" if hasattr(loaded.raw, "predict_proba") else "regressor"
        )
        metrics = _quality(task, loaded, x, y)
        p99, kind = _latency_p99_ms(loaded, x, latency_rows)
        metrics["p99_ms"] = p99
        metrics["size_mb"] = loaded.size_bytes / (1024 * 1024)
        notes.append(f"latency: {min(latency_rows, len(x))} single-row predictions ({kind})")
        checks = _threshold_checks(metrics, t)
        if t.baseline is not None or t.max_regression is not None:
            checks.append(
                _baseline_check(client, name, loaded, task, metrics, t, saved, x, y, notes)
            )
        report = _report(name, loaded, task, lineage, saved, metrics, checks, notes)
        number = str(loaded.version.version)
        # Monitoring's baseline: the metrics of this, the version's latest gate run.
        record_gate_metrics(client, name, number, metrics, saved.name)
        # Recorded where only the tracking server's writers reach: promote compares with it.
        client.set_model_version_tag(name, number, GATE_TAG, report.digest)
    return report


def _report(
    name: str,
    loaded: _Loaded,
    task: str,
    lineage: Lineage | None,
    saved: SavedDataset,
    metrics: dict[str, float | None],
    checks: list[Check],
    notes: list[str],
) -> GateReport:
    number = int(loaded.version.version)
    return GateReport(
        model={
            "name": name,
            "version": number,
            "uri": f"models:/{name}/{number}",
            "run_id": loaded.version.run_id,
            "task": task,
            "trained_on": lineage.dataset if lineage else None,
        },
        dataset={"name": saved.name, "fingerprint": saved.entity_fingerprint, "rows": saved.rows},
        metrics=metrics,
        checks=checks,
        notes=notes,
        created_at=datetime.now(UTC).isoformat(),
    )


def _baseline_check(
    client: Any,
    name: str,
    candidate: _Loaded,
    task: str,
    metrics: dict[str, float | None],
    t: Thresholds,
    saved: SavedDataset,
    x: pd.DataFrame,
    y: Any,
    notes: list[str],
) -> Check:
    primary = t.primary_metric or ("f1" if task == "classifier" else "rmse")
    alias = t.baseline or "production"
    limit = t.max_regression if t.max_regression is not None else 0.0
    label = f"regression vs {alias}"
    if primary not in metrics:
        raise GateInputError(f"primary metric {primary!r} is not one of {', '.join(metrics)}")
    try:
        base = _load(client, name, alias)
    except UnknownModelError:
        note = f"no {alias} version of {name!r} yet: nothing to regress from"
        notes.append(note)
        return Check(label, primary, None, limit, "<=", True, note)
    if int(base.version.version) == int(candidate.version.version):
        note = f"version {base.version.version} is the {alias} version itself"
        return Check(label, primary, 0.0, limit, "<=", True, note)
    missing = [c for c in base.inputs if c not in saved.columns]
    if missing:
        note = f"{alias} version {base.version.version} needs {', '.join(missing)}"
        return Check(label, primary, None, limit, "<=", False, note)
    base_metrics = _quality(task, base, x[base.inputs] if base.inputs else x, y)
    new, old = metrics.get(primary), base_metrics.get(primary)
    if new is None or old is None:
        return Check(label, primary, None, limit, "<=", False, f"{primary} is not available")
    higher_better = _HIGHER_IS_BETTER.get(primary, False)
    drop = (old - new) if higher_better else (new - old)
    note = f"{alias} version {base.version.version}: {primary} {old:.4f}, this version {new:.4f}"
    return Check(label, primary, float(drop), limit, "<=", drop <= limit, note)
