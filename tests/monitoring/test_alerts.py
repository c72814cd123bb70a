"""Alerts POSTed to a webhook: a real HTTP server on loopback receives them (docs/monitoring.md,
"Alerts")."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from monitoring.webhook import Receiver
from skewless.errors import AlertDeliveryError
from skewless.monitoring import ColumnDrift, DriftReport
from skewless.monitoring.alerts import alert_payload, post_alert
from skewless.monitoring.monitor import MonitorResult


def column(name: str, drifted: bool) -> ColumnDrift:
    return ColumnDrift(name, "numerical", "wasserstein", 0.3 if drifted else 0.01, 0.1, None,
                       drifted, 5000, 4000)  # fmt: skip


def result(drifted: list[bool], prediction_drift: bool) -> MonitorResult:
    data = DriftReport({f"f{i}": column(f"f{i}", d) for i, d in enumerate(drifted)})
    prediction = DriftReport({"prediction": column("prediction", prediction_drift)})
    return MonitorResult(
        "churn", 3, datetime(2026, 12, 3, tzinfo=UTC), None, "churn_train", 4000, 2, data,
        prediction,
    )  # fmt: skip


def test_the_payload_names_what_drifted() -> None:
    run = result([True, False, False, False], prediction_drift=False)
    assert not run.drifted("dataset") and run.drifted("any") and not run.drifted("never")
    body = alert_payload(run, "any")
    assert body["drift"] is True
    assert body["features"]["drifted_columns"] == ["f0"]
    assert body["predictions"] == {"dataset_drift": False, "drifted_columns": []}
    assert body["text"] == (
        "skewless monitor churn v3: drift found (1 of 4 features drifted; "
        "0 prediction column(s) drifted)"
    )
    assert alert_payload(run, "dataset")["drift"] is False
    assert result([False], prediction_drift=True).drifted("dataset")


def test_an_alert_reaches_the_webhook(webhook: tuple[str, type[Receiver]]) -> None:
    url, handler = webhook
    payload = alert_payload(result([True, True], prediction_drift=True), "dataset")
    assert post_alert(url, payload) == 200
    ((path, headers, body),) = handler.received
    assert path == "/hook"
    assert headers["Content-Type"] == "application/json"
    assert json.loads(body) == json.loads(json.dumps(payload))


def test_undeliverable_alerts_are_one_line_errors(webhook: tuple[str, type[Receiver]]) -> None:
    url, handler = webhook
    handler.status = 500
    with pytest.raises(AlertDeliveryError, match=r"answered 500 .*check its URL"):
        post_alert(url, {"text": "x"})
    with pytest.raises(AlertDeliveryError, match="is not an http:// or https:// URL"):
        post_alert("ftp://example.org/hook", {})
    with pytest.raises(AlertDeliveryError, match="cannot be reached"):
        post_alert("http://127.0.0.1:9/hook", {}, timeout=2)
