"""The gate records its metrics on the model version; gate_metrics reads them back, and they
are the baseline performance monitoring compares live metrics with."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pyarrow as pa
import pytest
from sklearn.linear_model import LinearRegression, LogisticRegression

from skewless import FeatureStore
from skewless.models import (
    UnknownModelError,
    gate_metrics,
    get_model_version,
    log_model,
    run_gate,
    training_data,
)
from skewless.models.gate_metrics import GATE_DATASET_TAG, GATE_METRIC_PREFIX
from skewless.monitoring.performance import performance_report

T0 = datetime(2026, 2, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def churn(store: FeatureStore) -> tuple[int, LogisticRegression]:
    x, y = training_data("churn_train", store)
    model = LogisticRegression().fit(x, y)
    return log_model(model, "churn_watch", dataset="churn_train", store=store).version, model


def test_a_version_never_gated_has_no_gate_metrics(
    store: FeatureStore, churn: tuple[int, LogisticRegression]
) -> None:
    assert gate_metrics("churn_watch", churn[0], store=store) is None
    with pytest.raises(UnknownModelError, match="has no version 99"):
        gate_metrics("churn_watch", 99, store=store)
    with pytest.raises(UnknownModelError, match="no registered model 'nope'"):
        gate_metrics("nope", 1, store=store)


def test_the_gate_records_its_metrics_and_a_later_run_replaces_them(
    store: FeatureStore, churn: tuple[int, LogisticRegression]
) -> None:
    version = churn[0]
    first = run_gate("churn_watch", "churn_holdout", version=version, store=store)
    recorded = gate_metrics("churn_watch", version, store=store)
    assert recorded == {k: v for k, v in first.metrics.items() if v is not None}
    assert set(recorded) == {"precision", "recall", "f1", "auc", "p99_ms", "size_mb"}
    tags = get_model_version("churn_watch", version, store).tags
    assert tags[GATE_DATASET_TAG] == "churn_holdout"
    # Without latency rows the gate measures no p99: the earlier run's figure must not stay.
    second = run_gate("churn_watch", "churn_holdout", version=version, store=store, latency_rows=0)
    assert second.metrics["p99_ms"] is None
    again = gate_metrics("churn_watch", version, store=store)
    assert again is not None and "p99_ms" not in again
    assert again == {k: v for k, v in second.metrics.items() if v is not None}
    tags = get_model_version("churn_watch", version, store).tags
    assert f"{GATE_METRIC_PREFIX}p99_ms" not in tags


def test_a_regressor_records_rmse_and_mae(store: FeatureStore) -> None:
    x, y = training_data("spend_train", store)
    v = log_model(LinearRegression().fit(x, y), "spend_watch", dataset="spend_train", store=store)
    report = run_gate("spend_watch", "spend_holdout", version=v.version, store=store)
    recorded = gate_metrics("spend_watch", v.version, store=store)
    assert recorded is not None
    assert recorded["rmse"] == report.metrics["rmse"] and recorded["mae"] == report.metrics["mae"]


def test_monitoring_the_holdout_reproduces_the_gate_and_alerts_on_worse_labels(
    store: FeatureStore, churn: tuple[int, LogisticRegression]
) -> None:
    version, model = churn
    run_gate("churn_watch", "churn_holdout", version=version, store=store)
    baseline = gate_metrics("churn_watch", version, store=store)
    assert baseline is not None
    x, y = training_data("churn_holdout", store)
    n = len(y)
    labelled = pa.table(
        {
            "timestamp": pa.array(
                [T0 + timedelta(minutes=i) for i in range(n)], pa.timestamp("us", tz="UTC")
            ),
            "prediction": pa.array(model.predict(x).tolist(), pa.int64()),
            "probabilities": pa.array(model.predict_proba(x).tolist(), pa.list_(pa.float64())),
            "label": pa.array(np.asarray(y).tolist(), pa.int64()),
        }
    )
    same = performance_report(labelled, baseline=baseline, min_labels=100)
    for metric in ("precision", "recall", "f1", "auc"):
        assert same.overall.metrics[metric] == pytest.approx(baseline[metric], abs=1e-12)
    assert not same.degraded
    # A fifth of the outcomes turn out the other way: the model looks worse than at the gate.
    flipped = np.asarray(y).copy()
    flip = np.random.default_rng(0).random(n) < 0.2
    flipped[flip] = 1 - flipped[flip]
    worse = labelled.set_column(3, "label", pa.array(flipped.tolist(), pa.int64()))
    report = performance_report(worse, baseline=baseline, min_labels=100)
    assert report.degraded
    assert {a.metric for a in report.alerts if a.window is None} >= {"f1", "auc"}
