"""The page of a ``skewless monitor`` run: the verdict, then feature drift, prediction drift
and performance, each a section built from its report's ``to_dict`` (one self-contained HTML
file, as the drift report: see :mod:`skewless.monitoring.html`).

Example:
    >>> from skewless.monitoring import ColumnDrift, DriftReport
    >>> data = DriftReport({"age": ColumnDrift("age", "numerical", "ks", 0.4, 0.05, 0.001,
    ...                                        True, 900, 800)})
    >>> run = {"model": {"name": "churn", "version": 3}, "window": {"start": None, "end": None},
    ...        "reference": "churn_train", "rows": 800, "missing": 0,
    ...        "drift": {"dataset": True, "any": True}, "data": data.to_dict(),
    ...        "prediction": None, "performance": None, "notes": []}
    >>> "Feature drift" in render_monitor_html(run)
    True
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from skewless.monitoring.html import _e, _finite, _num, _pct, page, report_sections

__all__ = ["render_monitor_html"]


def _instant(text: Any) -> str:
    """An ISO instant as ``2026-12-01 09:30 UTC``."""
    return str(text)[:16].replace("T", " ") + " UTC"


def _window(run: Mapping[str, Any]) -> str:
    window = run.get("window") or {}
    start = _instant(window["start"]) if window.get("start") else "the start"
    end = _instant(window["end"]) if window.get("end") else "now"
    return f"{_e(start)} to {_e(end)}"


def _overview(run: Mapping[str, Any]) -> str:
    data = run.get("data") or {}
    prediction = run.get("prediction")
    performance = run.get("performance")
    drift = run.get("drift") or {}
    found = bool(drift.get("dataset"))
    as_dataset = "; dataset drift" if data.get("dataset_drift") else ""
    items = [
        f"<li>Features: {len(data.get('drifted_columns') or [])} of "
        f"{len(data.get('columns') or {})} columns drifted "
        f"({_pct(data.get('share_drifted'))}){as_dataset}</li>"
    ]
    if prediction is not None:
        drifted = prediction.get("drifted_columns") or []
        items.append(
            f"<li>Predictions: {', '.join(_e(c) for c in drifted) or 'no column'} drifted</li>"
        )
    if performance is not None:
        alerts = performance.get("alerts") or []
        items.append(f"<li>Performance: {len(alerts)} alert(s)</li>")
    notes = "".join(f"<li>{_e(n)}</li>" for n in run.get("notes") or [])
    return (
        '<section aria-labelledby="overview-heading"><h2 id="overview-heading">Verdict</h2>'
        f'<p class="verdict {"drift" if found else "no-drift"}" id="verdict">'
        f"<strong>{'Drift found' if found else 'No drift'}</strong> "
        f"(features or predictions drifting as a dataset, or performance below its "
        f'threshold)</p><ul id="overview">{"".join(items)}</ul>'
        + (f'<h3>Notes</h3><ul id="notes">{notes}</ul>' if notes else "")
        + "</section>"
    )


def _window_label(window: Mapping[str, Any]) -> str:
    start = str(window.get("start") or "")
    return start[:16].replace("T", " ") if start else "all"


def _alert_span(alert: Mapping[str, Any]) -> str:
    if alert.get("window"):
        return f"over the window of {_e(_window_label({'start': alert['window']}))}"
    return "over the whole window"


def _performance(performance: Mapping[str, Any]) -> tuple[str, list[dict[str, Any]]]:
    windows: Sequence[Mapping[str, Any]] = performance.get("windows") or []
    overall: Mapping[str, Any] = performance.get("overall") or {}
    baseline: Mapping[str, Any] = performance.get("baseline") or {}
    metrics = list((overall.get("metrics") or {}).keys())
    labels = [_window_label(w) for w in windows]
    head = "".join(f'<th scope="col" class="num">{_e(m)}</th>' for m in metrics)
    rows = []
    for label, w in zip(labels, windows, strict=True):
        values = w.get("metrics") or {}
        cells = "".join(f'<td class="num">{_num(values.get(m))}</td>' for m in metrics)
        rows.append(
            f'<tr><th scope="row">{_e(label)}</th><td class="num">{int(w.get("labels") or 0):,}'
            f"</td><td>{_e(w.get('status') or '')}</td>{cells}</tr>"
        )
    overall_cells = "".join(
        f'<td class="num">{_num((overall.get("metrics") or {}).get(m))}</td>' for m in metrics
    )
    rows.append(
        f'<tr><th scope="row">whole window</th><td class="num">'
        f"{int(overall.get('labels') or 0):,}</td><td>{_e(overall.get('status') or '')}</td>"
        f"{overall_cells}</tr>"
    )
    if baseline:
        cells = "".join(f'<td class="num">{_num(baseline.get(m))}</td>' for m in metrics)
        rows.append(
            f'<tr><th scope="row">at the gate</th><td class="num">&ndash;</td><td></td>{cells}</tr>'
        )
    alerts = performance.get("alerts") or []
    alert_items = "".join(
        f"<li>{_e(a.get('metric'))} {_alert_span(a)}: {_num(a.get('current'))} against "
        f"{_num(a.get('baseline'))} at the gate (threshold {_num(a.get('threshold'))})</li>"
        for a in alerts
    )
    charts, figures = [], []
    for i, metric in enumerate(metrics):
        values = [_finite((w.get("metrics") or {}).get(metric)) for w in windows]
        if len(values) < 2:
            continue
        chart_id = f"performance-chart-{i}"
        charts.append(
            {
                "id": chart_id,
                "metric": metric,
                "windows": labels,
                "values": values,
                "baseline": _finite(baseline.get(metric)),
            }
        )
        figures.append(
            f'<figure><div class="chart timeline"><canvas id="{chart_id}" role="img" '
            f'aria-label="{_e(metric)} per window over {len(labels)} windows, against its '
            f'value at the gate"></canvas></div><figcaption>{_e(metric)} per window; the '
            "dashed line is its value at the gate.</figcaption></figure>"
        )
    html = (
        '<div class="scroll"><table id="performance-table"><caption>Metrics per window, '
        'on the predictions that have labels</caption><thead><tr><th scope="col">Window</th>'
        f'<th scope="col" class="num">Labels</th><th scope="col">Status</th>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table></div>"
        f'<p id="performance-alerts">Alerts: {len(alerts)}</p>'
        + (f"<ul>{alert_items}</ul>" if alert_items else "")
        + "".join(figures)
    )
    return html, charts


def render_monitor_html(run: Mapping[str, Any]) -> str:
    """The page of a monitoring run.

    Args:
        run: the shape of :meth:`MonitorResult.to_dict()
            <skewless.monitoring.monitor.MonitorResult.to_dict>`.
    """
    model = run.get("model") or {}
    title = f"Monitoring {model.get('name')} version {model.get('version')}"
    header = (
        f'<header><h1>{_e(title)}</h1><p class="meta">Prediction log from {_window(run)}: '
        f"{int(run.get('rows') or 0):,} rows ({int(run.get('missing') or 0):,} without "
        f"features) &middot; reference: <strong>{_e(run.get('reference'))}</strong></p>"
        "</header>"
    )
    spec: dict[str, list[Any]] = {"distributions": [], "timelines": [], "performance": []}
    parts = [_overview(run)]
    for key, heading, prefix in (
        ("data", "Feature drift", "features-"),
        ("prediction", "Prediction drift", "predictions-"),
    ):
        report = run.get(key)
        if report is None:
            continue
        body, charts = report_sections(report, prefix=prefix, level=3)
        spec["distributions"] += charts["distributions"]
        spec["timelines"] += charts["timelines"]
        parts.append(
            f'<section aria-labelledby="{prefix}heading"><h2 id="{prefix}heading">'
            f"{heading}</h2>{body}</section>"
        )
    performance = run.get("performance")
    if performance is not None:
        body, metric_charts = _performance(performance)
        spec["performance"] = metric_charts
        parts.append(
            '<section aria-labelledby="performance-heading"><h2 id="performance-heading">'
            f"Performance</h2>{body}</section>"
        )
    return page(title, header, "".join(parts), spec)
