"""performance_report: metrics equal scikit-learn's, windows, alerts, and the path from a real
prediction log and its feedback."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import (
    f1_score,
    mean_absolute_error,
    mean_squared_error,
    precision_score,
    recall_score,
    roc_auc_score,
)

from skewless.errors import MonitorInputError
from skewless.monitoring.labels import join_labels
from skewless.monitoring.performance import DEFAULT_THRESHOLDS, performance_report
from skewless.serving.feedback import labelled_predictions, record_feedback
from skewless.serving.logs import PredictionLogWriter
from skewless.serving.logs_read import read_prediction_logs
from skewless.serving.records import Prediction

T0 = datetime(2024, 3, 5, tzinfo=UTC)
UTC_US = pa.timestamp("us", tz="UTC")
DAY = timedelta(days=1)


def rows(
    label: Any,
    prediction: Any,
    probabilities: Any = None,
    timestamps: Any = None,
) -> pa.Table:
    n = len(label)
    columns: dict[str, Any] = {
        "timestamp": pa.array(timestamps if timestamps is not None else [T0] * n, UTC_US),
        "prediction": pa.array(list(prediction)),
        "label": pa.array(list(label)),
    }
    if probabilities is not None:
        columns["probabilities"] = pa.array(
            [None if p is None else list(map(float, p)) for p in probabilities],
            pa.list_(pa.float64()),
        )
    return pa.table(columns)


def close(a: float | None, b: float) -> bool:
    return a is not None and math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-12)


def _classes_data(
    rng: np.random.Generator, k: int, n: int, text: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[Any]]:
    names: list[Any] = [f"c{i}" for i in range(k)] if text else list(range(k))
    y = np.concatenate([np.arange(k), rng.integers(0, k, n - k)])
    rng.shuffle(y)
    proba = rng.dirichlet(np.ones(k), size=n)
    if k == 2 and rng.random() < 0.5:  # tied scores
        proba[:, 1] = np.round(proba[:, 1], 1)
        proba[:, 0] = 1 - proba[:, 1]
    right = rng.random(n) < rng.random()  # how often the model is right differs per case
    pred = np.where(right, y, rng.integers(0, k, n))
    label = np.array(names, dtype=object)[y]
    predicted = np.array(names, dtype=object)[pred]
    return label, predicted, proba, names


@pytest.mark.parametrize("seed", range(300))
def test_classification_metrics_equal_sklearn(seed: int) -> None:
    rng = np.random.default_rng(seed)
    k = 2 if seed % 2 else int(rng.integers(3, 6))
    n = int(rng.integers(k + 5, 400))
    label, predicted, proba, names = _classes_data(rng, k, n, text=seed % 3 == 0)
    report = performance_report(rows(label, predicted, proba), min_labels=0, classes=names)
    got = report.overall.metrics
    assert report.task == "classification" and report.overall.labels == n
    y, p = list(label), list(predicted)
    if k == 2:
        positive = names[1]
        assert close(got["precision"], precision_score(y, p, pos_label=positive))
        assert close(got["recall"], recall_score(y, p, pos_label=positive))
        assert close(got["f1"], f1_score(y, p, pos_label=positive))
        assert close(got["auc"], roc_auc_score([v == positive for v in y], proba[:, 1]))
    else:
        kw: dict[str, Any] = {"average": "macro", "zero_division": 0}
        assert close(got["precision"], precision_score(y, p, **kw))
        assert close(got["recall"], recall_score(y, p, **kw))
        assert close(got["f1"], f1_score(y, p, **kw))
        expected = roc_auc_score(y, proba, multi_class="ovr", average="macro", labels=names)
        assert close(got["auc"], expected)


@pytest.mark.parametrize("seed", range(200))
def test_regression_metrics_equal_sklearn(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 500))
    y = rng.normal(size=n) * 10.0 ** rng.integers(-2, 4)
    pred = y + rng.normal(size=n) * rng.random() * 5
    if seed % 4 == 0:
        y = np.round(y).astype(np.int64)  # integer labels, float predictions: regression
    report = performance_report(rows(y, pred), min_labels=0)
    assert report.task == "regression" and report.classes is None
    got = report.overall.metrics
    assert close(got["rmse"], math.sqrt(mean_squared_error(y, pred)))
    assert close(got["mae"], mean_absolute_error(y, pred))


@settings(max_examples=80, deadline=None)
@given(
    st.lists(st.integers(-3 * 86400, 20 * 86400), min_size=1, max_size=200),
    st.sampled_from(["6h", "1d", "7d", timedelta(minutes=90)]),
    st.integers(0, 2**32 - 1),
)
def test_windows_bucket_rows_and_measure_each_like_sklearn(
    seconds: list[int], window: Any, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    n = len(seconds)
    stamps = [T0 + timedelta(seconds=s, microseconds=int(rng.integers(0, 10**6))) for s in seconds]
    y = rng.normal(size=n)
    pred = y + rng.normal(size=n)
    report = performance_report(rows(y, pred, timestamps=stamps), window=window, min_labels=0)
    width = report.window
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    assert sum(w.labels for w in report.windows) == n == report.overall.labels
    assert [w.start for w in report.windows] == sorted({w.start for w in report.windows})
    for w in report.windows:
        assert w.end - w.start == width and (w.start - epoch) % width == timedelta(0)
        inside = [i for i, t in enumerate(stamps) if w.start <= t < w.end]
        assert len(inside) == w.labels > 0
        assert close(w.metrics["mae"], mean_absolute_error(y[inside], pred[inside]))
    assert report.overall.start == report.windows[0].start
    assert report.overall.end == report.windows[-1].end
    if width == 7 * DAY:
        assert all(w.start.weekday() == 3 for w in report.windows)  # the epoch's Thursday


def test_a_hand_checked_window_edge() -> None:
    stamps = [
        datetime(2024, 1, 1, 23, 59, 59, 999_999, tzinfo=UTC),
        datetime(2024, 1, 2, tzinfo=UTC),
        datetime(2024, 1, 2, 5, 59, tzinfo=UTC),
        datetime(2024, 1, 2, 6, tzinfo=UTC),
    ]
    report = performance_report(rows([1.0] * 4, [1.0] * 4, timestamps=stamps), window="6h")
    assert [(w.start.isoformat(), w.labels) for w in report.windows] == [
        ("2024-01-01T18:00:00+00:00", 1),
        ("2024-01-02T00:00:00+00:00", 2),
        ("2024-01-02T06:00:00+00:00", 1),
    ]
    assert report.to_dict()["window"] == "6h"


def _f1_rows(tp: int, fp: int, fn: int, tn: int = 0) -> tuple[list[int], list[int]]:
    label = [1] * tp + [0] * fp + [1] * fn + [0] * tn
    prediction = [1] * tp + [1] * fp + [0] * fn + [0] * tn
    return label, prediction


def test_an_f1_drop_of_exactly_the_threshold_does_not_alert() -> None:
    label, prediction = _f1_rows(tp=22, fp=3, fn=3)  # f1 = 44 / 50 = 0.88
    table = rows(label, prediction)
    at = performance_report(table, baseline={"f1": 0.90}, min_labels=0)
    assert at.overall.metrics["f1"] == pytest.approx(0.88) and not at.alerts
    over = performance_report(table, baseline={"f1": 0.9001}, min_labels=0)
    assert [(a.metric, a.window) for a in over.alerts] == [("f1", None), ("f1", T0)]
    assert over.degraded and over.overall.status == "degraded"
    assert over.alerts[0].drop == pytest.approx(0.0201)
    assert over.alerts[0].threshold == 0.02 and over.alerts[0].baseline == 0.9001


@pytest.mark.parametrize("metric", ["auc", "f1", "precision", "recall", "rmse", "mae"])
def test_alerts_at_and_around_each_threshold(metric: str) -> None:
    rng = np.random.default_rng(7)
    n = 600
    if metric in ("rmse", "mae"):
        y = rng.normal(size=n)
        table = rows(y, y + rng.normal(size=n))
    else:
        label, predicted, proba, _ = _classes_data(rng, 2, n, text=False)
        table = rows(label.astype(int), predicted.astype(int), proba)
    current = performance_report(table).overall.metrics[metric]
    assert current is not None
    limit = DEFAULT_THRESHOLDS[metric]

    def alerted(baseline: float, **kw: Any) -> bool:
        report = performance_report(table, baseline={metric: baseline}, **kw)
        return report.degraded

    if metric in ("rmse", "mae"):  # current > baseline * (1 + 0.10) alerts
        assert not alerted(current / (1 + limit))
        assert alerted(current / (1 + limit + 1e-4))
        assert not alerted(current / (1 + limit - 1e-4))
        assert not alerted(current * 2)  # better than at the gate
        assert alerted(current / 1.06, thresholds={metric: 0.05})
        assert not alerted(current / 1.06)
    else:  # baseline - current > 0.02 alerts
        assert not alerted(current + limit)
        assert alerted(current + limit + 1e-4)
        assert not alerted(current + limit - 1e-4)
        assert not alerted(current - 0.3)  # better than at the gate
        assert alerted(current + 0.015, thresholds={metric: 0.01})
        assert not alerted(current + 0.015)


def test_only_baseline_metrics_of_the_task_are_compared() -> None:
    label, prediction = _f1_rows(tp=10, fp=5, fn=5, tn=10)
    baseline = {"rmse": 0.0, "p99_ms": 0.001, "size_mb": 0.0, "f1": None, "auc": math.nan}
    report = performance_report(rows(label, prediction), baseline=baseline, min_labels=0)
    assert not report.alerts and report.baseline == {"auc": pytest.approx(math.nan, nan_ok=True)}
    assert report.to_dict()["baseline"] == {"auc": None}
    assert performance_report(rows(label, prediction)).baseline is None


def test_min_labels_marks_figures_that_never_alert() -> None:
    label, prediction = _f1_rows(tp=10, fp=10, fn=10)  # f1 0.5, against 0.9: a large drop
    stamps = [T0] * 20 + [T0 + DAY] * 10
    table = rows(label, prediction, timestamps=stamps)
    report = performance_report(table, baseline={"f1": 0.9}, min_labels=20)
    assert [w.labels for w in report.windows] == [20, 10]
    assert [w.status for w in report.windows] == ["degraded", "insufficient labels"]
    assert [(a.metric, a.window) for a in report.alerts] == [("f1", None), ("f1", T0)]
    assert report.windows[1].metrics["f1"] is not None  # measured, shown, never alerting
    assert report.degraded
    few = performance_report(table, baseline={"f1": 0.9}, min_labels=31)
    assert not few.alerts and not few.degraded
    assert few.overall.status == "insufficient labels"
    assert performance_report(table, baseline={"f1": 0.9}, min_labels=30).degraded


def test_auc_reads_the_rows_that_carry_probabilities() -> None:
    label = [0, 0, 1, 1, 0, 1]
    prediction = [0, 1, 1, 1, 0, 0]
    probabilities = [[0.9, 0.1], [0.4, 0.6], [0.2, 0.8], [0.3, 0.7], None, []]
    report = performance_report(rows(label, prediction, probabilities), min_labels=0)
    got = report.overall.metrics
    assert got["f1"] == pytest.approx(f1_score(label, prediction))
    assert got["auc"] == pytest.approx(roc_auc_score(label[:4], [0.1, 0.6, 0.8, 0.7]))
    plain = performance_report(rows(label, prediction), min_labels=0)
    assert plain.overall.metrics["auc"] is None and plain.task == "classification"


def test_the_class_order_comes_from_classes() -> None:
    label = ["no", "yes", "yes", "no"]
    probabilities = [[0.8, 0.2], [0.3, 0.7], [0.4, 0.6], [0.6, 0.4]]  # P(no), P(yes)
    table = rows(label, label, probabilities)
    assert performance_report(table, min_labels=0).overall.metrics["auc"] == 1.0
    flipped = performance_report(table, min_labels=0, classes=["yes", "no"])
    assert flipped.overall.metrics["auc"] == 0.0
    assert flipped.classes == ("yes", "no")
    with pytest.raises(MonitorInputError, match="rows carry 2 probabilities but there are 3"):
        performance_report(table, classes=["no", "yes", "maybe"])


@pytest.mark.parametrize(
    ("label", "prediction", "probabilities", "task"),
    [
        ([0, 1, 1], [1, 1, 0], None, "classification"),  # few integer classes
        (["a", "b", "a"], ["a", "a", "a"], None, "classification"),
        ([True, False, True], [True, True, True], None, "classification"),
        ([0.5, 1.5, 2.5], [0.4, 1.4, 2.4], None, "regression"),
        ([1, 2, 3], [1.1, 2.2, 3.3], None, "regression"),  # float predictions
        (list(range(11)), list(range(11)), None, "regression"),  # 11 distinct integer labels
        (list(range(10)), list(range(10)), None, "classification"),
        ([0.0, 1.0, 1.0], [0.0, 1.0, 0.0], [[0.6, 0.4]] * 3, "classification"),
    ],
)
def test_the_task_is_inferred(label: Any, prediction: Any, probabilities: Any, task: str) -> None:
    assert performance_report(rows(label, prediction, probabilities)).task == task


def test_rows_without_a_label_or_prediction_are_skipped() -> None:
    table = rows([1, None, 0, 1], [1, 0, None, 1])
    report = performance_report(table, min_labels=0)
    assert report.skipped == 2 and report.overall.labels == 2


@pytest.mark.parametrize(
    ("table", "kwargs", "message"),
    [
        (rows([], []), {}, "there are no labelled predictions to measure (0 rows"),
        (rows([None, None], [1, 0]), {}, "(2 rows, none with a label"),
        (rows([1], [1]).drop_columns(["label"]), {}, "have no column 'label'"),
        (rows([1], [1]).drop_columns(["timestamp"]), {}, "have no column 'timestamp'"),
        (rows([1], [1]), {"task": "ranking"}, "task 'ranking' is not a task"),
        (rows([1], [1]), {"window": "1 week"}, "window '1 week' is not a positive duration"),
        (rows([1], [1]), {"window": timedelta(0)}, "window 0:00:00 is not a positive"),
        (rows([1], [1]), {"min_labels": -1}, "min_labels -1 is not a count"),
        (rows([1], [1]), {"thresholds": {"accuracy": 0.1}}, "'accuracy', which is not a metric"),
        (rows([1], [1]), {"thresholds": {"f1": -0.1}}, "threshold f1=-0.1 is not a number >= 0"),
        (rows([1], [1]), {"baseline": {"f1": "high"}}, "baseline f1='high' is not a number"),
        (rows(["1"], [1]), {}, "labels are text but the predictions are integer"),
        (rows(["a"], ["a"]), {"task": "regression"}, "a regression needs numeric labels"),
    ],
)
def test_bad_input_is_one_clear_error(table: pa.Table, kwargs: Any, message: str) -> None:
    with pytest.raises(MonitorInputError) as caught:
        performance_report(table, **kwargs)
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_to_dict_and_to_json() -> None:
    label, prediction = _f1_rows(tp=3, fp=1, fn=1, tn=3)
    report = performance_report(
        rows(label, prediction, timestamps=[T0] * 4 + [T0 + DAY] * 4),
        baseline={"f1": 0.99, "precision": 0.5},
        min_labels=4,
        task="classifier",
    )
    data = report.to_dict()
    assert json.loads(report.to_json()) == data
    assert set(data) == {
        "task",
        "window",
        "min_labels",
        "classes",
        "baseline",
        "thresholds",
        "degraded",
        "skipped",
        "overall",
        "windows",
        "alerts",
    }
    assert data["task"] == "classification" and data["window"] == "1d"
    assert data["classes"] == [0, 1] and data["thresholds"] == dict(DEFAULT_THRESHOLDS)
    assert data["overall"]["metrics"]["auc"] is None  # no probabilities: null in JSON
    assert data["overall"]["start"] == T0.isoformat()
    assert data["overall"]["end"] == (T0 + 2 * DAY).isoformat()
    assert [w["labels"] for w in data["windows"]] == [4, 4]
    assert data["alerts"][0] == {
        "metric": "f1",
        "window": None,
        "baseline": 0.99,
        "current": pytest.approx(0.75),
        "drop": pytest.approx(0.24),
        "threshold": 0.02,
    }
    assert data["overall"]["alerts"] == ["f1"] and data["degraded"] is True


def test_a_zero_baseline_error_that_grew_alerts_with_an_infinite_drop() -> None:
    report = performance_report(rows([1.0, 2.0], [1.5, 2.0]), baseline={"mae": 0.0}, min_labels=0)
    assert report.degraded and math.isinf(report.alerts[0].drop)
    assert json.loads(report.to_json())["alerts"][0]["drop"] is None


# -- from a real prediction log --------------------------------------------------------------
def _write_log(root: Path, rng: np.random.Generator) -> list[dict[str, Any]]:
    """Three days of predictions of users 0..99, two entities a request; what was logged."""
    logged = []
    predictions = []
    for i in range(450):
        when = T0 + timedelta(minutes=10 * i)
        users = [int(u) for u in rng.integers(0, 100, 2)]
        scores = [float(s) for s in rng.random(2)]
        truth = [int(rng.random() < s) for s in scores]  # labels follow the scores
        predicted = [int(s > 0.5) for s in scores]
        predictions.append(
            Prediction(
                f"req-{i}",
                when,
                "churn",
                3,
                {"user_id": users},
                {"age": [30, 40]},
                predicted,
                [[1 - s, s] for s in scores],
                [],
                2.0,
            )
        )
        for row in range(2):
            logged.append(
                {
                    "request_id": f"req-{i}",
                    "row": row,
                    "when": when,
                    "user_id": users[row],
                    "score": scores[row],
                    "truth": truth[row],
                    "prediction": predicted[row],
                }
            )
    with PredictionLogWriter(root, "churn", flush_ms=20) as writer:
        writer.submit(predictions)
    return logged


def test_feedback_through_labelled_predictions_into_the_report(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    logged = _write_log(tmp_path, rng)
    labelled = [r for r in logged if r["request_id"] != "req-5"]  # one request never labelled
    items = [
        {"request_id": r["request_id"], "row": r["row"], "label": r["truth"]} for r in labelled
    ]
    record_feedback(tmp_path, "churn", items, now=T0 + 4 * DAY)
    joined = labelled_predictions(tmp_path, "churn")
    baseline = {"f1": 0.95, "auc": 0.5, "precision": 0.0, "recall": 0.0}
    report = performance_report(joined, baseline=baseline, min_labels=100)
    assert report.task == "classification" and report.overall.labels == len(labelled)
    y = [r["truth"] for r in labelled]
    pred = [r["prediction"] for r in labelled]
    scores = [r["score"] for r in labelled]
    got = report.overall.metrics
    assert close(got["f1"], f1_score(y, pred))
    assert close(got["precision"], precision_score(y, pred))
    assert close(got["recall"], recall_score(y, pred))
    assert close(got["auc"], roc_auc_score(y, scores))
    days = [T0 + k * DAY for k in range(4)]
    per_day = [sum(1 for r in labelled if d <= r["when"] < d + DAY) for d in days]
    assert [(w.start, w.labels) for w in report.windows] == list(zip(days, per_day, strict=True))
    assert [w.status for w in report.windows][-1] == "insufficient labels"
    assert {a.metric for a in report.alerts} == {"f1"}  # auc, precision and recall are above
    assert report.degraded


def test_labels_by_key_and_time_from_the_same_log(tmp_path: Path) -> None:
    rng = np.random.default_rng(4)
    logged = _write_log(tmp_path, rng)
    log = read_prediction_logs(tmp_path, "churn")
    # A user's outcome one minute after each prediction of them: it judges that prediction.
    labels = pa.table(
        {
            "user_id": [r["user_id"] for r in logged],
            "event_timestamp": pa.array([r["when"] + timedelta(minutes=1) for r in logged], UTC_US),
            "churned": [r["truth"] for r in logged],
        }
    )
    joined = join_labels(log, labels, "user_id", label="churned", max_delay="5m")
    report = performance_report(joined, min_labels=0)
    # Both entities of a request may be one user: one prediction, its later row wins.
    last: dict[tuple[datetime, int], dict[str, Any]] = {}
    for r in logged:
        last[(r["when"], r["user_id"])] = r
    expected = sorted(last.values(), key=lambda r: (r["when"], r["request_id"], r["row"]))
    assert report.overall.labels == joined.num_rows == len(expected)
    assert close(
        report.overall.metrics["auc"],
        roc_auc_score([r["truth"] for r in expected], [r["score"] for r in expected]),
    )
    assert close(
        report.overall.metrics["f1"],
        f1_score([r["truth"] for r in expected], [r["prediction"] for r in expected]),
    )
