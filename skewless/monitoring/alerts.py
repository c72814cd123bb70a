"""Alerts: a short JSON summary of a monitoring run, POSTed to a webhook.

The body (``alert_payload``) says which model and window, whether drift was found as
``--fail-on`` judges it, the drifted feature and prediction columns and the performance
alerts; the whole report stays in ``--json``/``--report``. Slack's and most chat tools'
incoming webhooks read its ``text`` field. See docs/monitoring.md, "Alerts".
"""

from __future__ import annotations

import urllib.error
import urllib.request
from typing import TYPE_CHECKING, Any

import orjson

from skewless._version import __version__
from skewless.errors import AlertDeliveryError

if TYPE_CHECKING:
    from skewless.monitoring.monitor import FailOn, MonitorResult

__all__ = ["TIMEOUT_SECONDS", "alert_payload", "post_alert"]

TIMEOUT_SECONDS = 10.0


def alert_payload(result: MonitorResult, fail_on: FailOn) -> dict[str, Any]:
    """The alert's body: a one-line ``text`` and the figures behind it."""
    data = result.data
    prediction = result.prediction
    alerts = [_as_dict(a) for a in _alerts(result)]
    drifted = result.drifted(fail_on)
    parts = [f"{len(data.drifted_columns)} of {len(data.columns)} features drifted"]
    if prediction is not None:
        parts.append(f"{len(prediction.drifted_columns)} prediction column(s) drifted")
    if alerts:
        parts.append(f"{len(alerts)} performance alert(s)")
    verdict = "drift found" if drifted else "no drift"
    text = f"skewless monitor {result.model} v{result.version}: {verdict} ({'; '.join(parts)})"
    return {
        "text": text,
        "model": {"name": result.model, "version": result.version},
        "window": result.to_dict()["window"],
        "fail_on": fail_on,
        "drift": drifted,
        "features": {
            "share_drifted": data.share_drifted,
            "dataset_drift": data.dataset_drift,
            "drifted_columns": data.drifted_columns,
        },
        "predictions": (
            {
                "dataset_drift": prediction.dataset_drift,
                "drifted_columns": prediction.drifted_columns,
            }
            if prediction is not None
            else None
        ),
        "performance_alerts": alerts,
    }


def _alerts(result: MonitorResult) -> list[Any]:
    return list(getattr(result.performance, "alerts", None) or [])


def _as_dict(alert: Any) -> dict[str, Any]:
    if isinstance(alert, dict):
        return dict(alert)
    to_dict = getattr(alert, "to_dict", None)
    return dict(to_dict()) if callable(to_dict) else dict(vars(alert))


def post_alert(url: str, payload: dict[str, Any], timeout: float = TIMEOUT_SECONDS) -> int:
    """POST ``payload`` as JSON to ``url``; the status code (2xx).

    Raises:
        AlertDeliveryError: ``url`` is not http(s), cannot be reached in ``timeout``
            seconds, or answers with a status of 300 or more.
    """
    if not url.startswith(("http://", "https://")):
        raise AlertDeliveryError(
            f"webhook {url!r} is not an http:// or https:// URL: pass the webhook's full URL"
        )
    request = urllib.request.Request(
        url,
        data=orjson.dumps(payload),
        method="POST",
        headers={"Content-Type": "application/json", "User-Agent": f"skewless/{__version__}"},
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            status = int(response.status)
    except urllib.error.HTTPError as exc:
        raise AlertDeliveryError(
            f"webhook {url} answered {exc.code} {exc.reason}: check its URL and that it "
            "accepts JSON POSTs"
        ) from None
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise AlertDeliveryError(
            f"webhook {url} cannot be reached ({reason}): check the URL and the network"
        ) from None
    if status >= 300:
        raise AlertDeliveryError(f"webhook {url} answered {status}: check its URL")
    return status
