"""The page of an experiment's analysis: one self-contained HTML file (Chart.js inlined, nothing
fetched), built on the drift report's page helpers (:func:`skewless.monitoring.html.page`).

It shows the decision and the per-arm table, each arm's conversion rate with its interval, the
cumulative lift of each challenger over time with its interval as a band, the weights over time
and the decisions. Every figure is also in a table, so the page reads without JavaScript; every
name is user data and is escaped.

Example:
    >>> analysis = {"experiment": "exp", "model": "churn", "status": "running",
    ...             "policy": "split", "method": "sequential", "alpha": 0.05,
    ...             "comparison_alpha": 0.05, "window": {"start": "2026-03-01T00:00:00+00:00",
    ...             "end": "2026-03-02T00:00:00+00:00"}, "bucket": "hour",
    ...             "decision": "continue", "winner": None, "arms": [], "excluded": {},
    ...             "series": [], "record": {}, "notes": []}
    >>> "Experiment exp" in render_experiment_html(analysis)
    True
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from skewless.monitoring.html import _e, _finite, _num, _pct, page

__all__ = ["render_experiment_html"]

_VERDICT_CLASS = {"promote challenger": "no-drift", "keep champion": "drift"}


def _instant(text: Any) -> str:
    return _e(str(text or "")[:16].replace("T", " ") + " UTC") if text else "&ndash;"


def _signed_pct(value: Any) -> str:
    number = _finite(value)
    return "n/a" if number is None else f"{number * 100:+.2f}%"


def _interval(ci: Sequence[Any] | None, signed: bool = True) -> str:
    if not ci:
        return "&ndash;"
    low, high = _finite(ci[0]), _finite(ci[1])
    if low is None or high is None:
        return "n/a"
    sign = "+" if signed else ""
    return f"{low * 100:{sign}.1f}% to {high * 100:{sign}.1f}%"


def _p_value(value: Any) -> str:
    return "&ndash;" if value is None else _num(value, 3)


def _evidence(arm: Mapping[str, Any]) -> str:
    if arm.get("probability_best") is not None:
        return f"P(best) {_num(arm['probability_best'], 3)}"
    if arm.get("p_value") is not None:
        return f"p {_num(arm['p_value'], 3)}"
    return "&ndash;"


def _with_interval(value: str, interval: Sequence[Any] | None, signed: bool = True) -> str:
    if not interval:
        return value
    return f'{value}<span class="role">{_interval(interval, signed)}</span>'


def _points(value: Any) -> str:
    number = _finite(value)
    return "&ndash;" if number is None else f"{number * 100:+.2f} pp"


def _arms_table(arms: Sequence[Mapping[str, Any]]) -> str:
    rows = []
    for arm in arms:
        shadow = arm.get("role") == "shadow"
        n = "&ndash;" if shadow else f"{int(arm.get('n') or 0):,}"
        conversions = "&ndash;" if shadow else f"{int(arm.get('conversions') or 0):,}"
        rate = "&ndash;" if arm.get("rate") is None else _pct(arm.get("rate"))
        lift = "&ndash;" if arm.get("lift") is None else _signed_pct(arm.get("lift"))
        ci = arm.get("ci")
        difference = _with_interval(_points(arm.get("difference")), ci)
        difference = difference.replace("%", " pp") if ci else difference
        rows.append(
            f'<tr><th scope="row">{_e(arm.get("name"))}'
            f'<span class="role">{_e(arm.get("role"))} &middot; {_e(arm.get("model"))}</span></th>'
            f'<td class="num">{int(arm.get("logged") or 0):,}</td>'
            f'<td class="num">{n}</td><td class="num">{conversions}</td>'
            f'<td class="num">{_with_interval(rate, arm.get("rate_ci"), signed=False)}</td>'
            f'<td class="num">{_with_interval(lift, arm.get("lift_ci"))}</td>'
            f'<td class="num">{difference}</td>'
            f'<td class="num">{_evidence(arm)}</td>'
            f'<td class="wrap">{_e(arm.get("decision"))}</td></tr>'
        )
    return (
        '<div class="scroll"><table id="arms-table" class="nowrap"><caption>Per arm: answered '
        "rows, rows with feedback (N), conversions and the rate; for a challenger its lift "
        "over the champion and the difference in rate (percentage points), each with its "
        'interval below</caption><thead><tr><th scope="col">Arm (role, model)</th>'
        '<th scope="col" class="num">Logged</th><th scope="col" class="num">N</th>'
        '<th scope="col" class="num">Conversions</th><th scope="col" class="num">Rate</th>'
        '<th scope="col" class="num">Lift</th><th scope="col" class="num">Difference</th>'
        '<th scope="col" class="num">Evidence</th><th scope="col">Decision</th></tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table></div>"
    )


def _summary(analysis: Mapping[str, Any]) -> str:
    decision = str(analysis.get("decision") or "")
    winner = analysis.get("winner")
    excluded = {k: v for k, v in (analysis.get("excluded") or {}).items() if v}
    left_out = ", ".join(f"{int(v):,} {_e(k)}" for k, v in excluded.items()) or "none"
    notes = "".join(f"<li>{_e(n)}</li>" for n in analysis.get("notes") or [])
    return (
        '<section aria-labelledby="summary-heading"><h2 id="summary-heading">Summary</h2>'
        f'<p class="verdict {_VERDICT_CLASS.get(decision, "")}" id="verdict">'
        f"<strong>{_e(decision.capitalize())}</strong>"
        + (f": <strong>{_e(winner)}</strong>" if winner else "")
        + f" ({_e(analysis.get('method'))} analysis, alpha "
        f"{_num(analysis.get('comparison_alpha'))} per challenger)</p>"
        f"{_arms_table(analysis.get('arms') or [])}"
        f'<p id="excluded">Rows left out: {left_out}.</p>'
        + (f'<h3>Notes</h3><ul id="notes">{notes}</ul>' if notes else "")
        + "</section>"
    )


def _rates(arms: Sequence[Mapping[str, Any]]) -> tuple[str, dict[str, Any] | None]:
    live = [a for a in arms if a.get("role") != "shadow" and a.get("rate") is not None]
    if not live:
        return "", None
    chart = {
        "id": "rates-chart",
        "arms": [str(a.get("name")) for a in live],
        "champion": [a.get("role") == "champion" for a in live],
        "rates": [_finite(a.get("rate")) for a in live],
        "intervals": [[_finite(v) for v in a.get("rate_ci") or [None, None]] for a in live],
    }
    html = (
        '<figure><div class="chart"><canvas id="rates-chart" role="img" '
        f'aria-label="Conversion rate of {len(live)} arms, with their intervals"></canvas></div>'
        "<figcaption>Conversion rate per arm (the champion in blue); the pale bar is the "
        "rate's interval.</figcaption></figure>"
    )
    return html, chart


def _lift_section(index: int, arm: str, points: Sequence[Mapping[str, Any]]) -> tuple[str, dict]:
    chart_id = f"lift-chart-{index}"
    labels = [str(p.get("at") or "")[:16].replace("T", " ") for p in points]
    lift_ci = [p.get("lift_ci") or [None, None] for p in points]
    chart = {
        "id": chart_id,
        "arm": arm,
        "at": labels,
        "lift": [_finite(p.get("lift")) for p in points],
        "low": [_finite(ci[0]) for ci in lift_ci],
        "high": [_finite(ci[1]) for ci in lift_ci],
    }
    rows = "".join(
        f'<tr><th scope="row">{_e(label)}</th><td class="num">{int(p.get("control_n") or 0):,}'
        f'</td><td class="num">{int(p.get("treatment_n") or 0):,}</td>'
        f'<td class="num">{_signed_pct(p.get("lift"))}</td>'
        f'<td class="num">{_interval(p.get("lift_ci"))}</td>'
        f'<td class="num">{_p_value(p.get("p_value"))}</td></tr>'
        for label, p in zip(labels, points, strict=True)
    )
    html = (
        f'<article class="column" id="lift-{index}" aria-labelledby="lift-{index}-heading">'
        f'<h3 id="lift-{index}-heading">{_e(arm)} against the champion</h3><figure>'
        f'<div class="chart timeline"><canvas id="{chart_id}" role="img" aria-label="Cumulative '
        f"lift of {_e(arm)} over the champion at {len(points)} points, with its interval as a "
        'band"></canvas></div><figcaption>Cumulative lift over the champion (the line) and '
        "its interval (the band); the dashed line is no difference.</figcaption></figure>"
        f'<details><summary>The series as a table</summary><table id="lift-table-{index}">'
        '<thead><tr><th scope="col">Up to</th><th scope="col" class="num">Champion N</th>'
        f'<th scope="col" class="num">{_e(arm)} N</th><th scope="col" class="num">Lift</th>'
        '<th scope="col" class="num">Lift interval</th><th scope="col" class="num">p-value</th>'
        f"</tr></thead><tbody>{rows}</tbody></table></details></article>"
    )
    return html, chart


def _history(record: Mapping[str, Any]) -> str:
    changes = record.get("history") or []
    weights = "".join(
        f"<tr><td>{_instant(c.get('at'))}</td><td>"
        + ", ".join(f"{_e(k)} {_num(v, 3)}" for k, v in (c.get("weights") or {}).items())
        + f"</td><td>{_e(c.get('reason'))}</td></tr>"
        for c in changes
    )
    decisions = "".join(
        f"<tr><td>{_instant(d.get('at'))}</td><td>{_e(d.get('action'))}</td>"
        f"<td>{_e(d.get('reason'))}</td><td>"
        + ", ".join(f"{_e(k)}={_e(v)}" for k, v in d.items() if k not in {"at", "action", "reason"})
        + "</td></tr>"
        for d in record.get("decisions") or []
    )
    return (
        '<section aria-labelledby="history-heading"><h2 id="history-heading">Weights and '
        'decisions</h2><div class="scroll"><table id="weights-table"><caption>The weights of '
        'the answering arms, from each time on</caption><thead><tr><th scope="col">From</th>'
        '<th scope="col">Weights</th><th scope="col">Reason</th></tr></thead>'
        f"<tbody>{weights}</tbody></table></div>"
        '<div class="scroll"><table id="decisions-table"><caption>Decisions</caption><thead>'
        '<tr><th scope="col">At</th><th scope="col">Action</th><th scope="col">Reason</th>'
        '<th scope="col">Details</th></tr></thead>'
        f"<tbody>{decisions or '<tr><td colspan=4>none yet</td></tr>'}</tbody></table></div>"
        "</section>"
    )


def render_experiment_html(analysis: Mapping[str, Any]) -> str:
    """The page of an experiment's analysis.

    Args:
        analysis: the shape of :meth:`ExperimentAnalysis.to_dict()
            <skewless.experiments.analysis_results.ExperimentAnalysis.to_dict>`.

    Returns:
        The page's text: charts drawn by an inlined Chart.js, nothing fetched from anywhere.
    """
    window = analysis.get("window") or {}
    title = f"Experiment {analysis.get('experiment')}"
    header = (
        f'<header><h1>{_e(title)}</h1><p class="meta">Model <strong>'
        f"{_e(analysis.get('model'))}</strong> &middot; {_e(analysis.get('status'))} &middot; "
        f"policy {_e(analysis.get('policy'))} &middot; rows answered from "
        f"{_instant(window.get('start'))} to {_instant(window.get('end'))}</p></header>"
    )
    rates_html, rates_chart = _rates(analysis.get("arms") or [])
    lifts, charts = [], []
    for index, entry in enumerate(analysis.get("series") or []):
        html, chart = _lift_section(index, str(entry.get("arm")), entry.get("points") or [])
        lifts.append(html)
        charts.append(chart)
    body = (
        _summary(analysis)
        + (
            '<section aria-labelledby="rates-heading"><h2 id="rates-heading">Conversion rates'
            f"</h2>{rates_html}</section>"
            if rates_html
            else ""
        )
        + '<section aria-labelledby="lifts-heading"><h2 id="lifts-heading">Cumulative lift, per '
        f"{_e(analysis.get('bucket'))}</h2>"
        + ("".join(lifts) or "<p>No challenger to compare.</p>")
        + "</section>"
        + _history(analysis.get("record") or {})
    )
    spec = {"distributions": [], "rates": [rates_chart] if rates_chart else [], "lifts": charts}
    return page(title, header, body, spec)
