"""Rich tables of ``skewless experiments``: records, their history and an analysis."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from rich.table import Table
from rich.text import Text

from skewless.cli._tables import fmt_time

if TYPE_CHECKING:
    from skewless.experiments.analysis_results import ArmResult, ExperimentAnalysis
    from skewless.experiments.records import ExperimentRecord

__all__ = ["analysis_tables", "decisions_table", "record_tables", "records_table"]

_STYLES = {
    "promote challenger": "bold green",
    "keep champion": "bold red",
    "continue": "yellow",
    "no significant difference": "yellow",
    "not enough data": "dim",
}


def _table(*columns: str, title: str | None = None) -> Table:
    table = Table(title=title, title_justify="left", header_style="bold")
    for column in columns:
        table.add_column(column, overflow="fold")
    return table


def _weights(weights: Mapping[str, float]) -> str:
    return ", ".join(f"{arm}={weight:g}" for arm, weight in weights.items())


def _time(text: Any) -> str:
    if isinstance(text, datetime):
        return fmt_time(text)
    return str(text or "-")[:19].replace("T", " ")


def records_table(records: list[ExperimentRecord]) -> Table:
    """One row per experiment: name, model, status, policy, arms and weights, start, stop."""
    table = _table(
        "NAME", "MODEL", "STATUS", "POLICY", "ARMS", "STARTED", "STOPPED", title="Experiments"
    )
    for r in records:
        shadows = [f"{a.name} (shadow)" for a in r.spec.shadow_arms]
        arms = ", ".join([_weights(r.weights), *shadows])
        status = Text(r.status, style="green" if r.status == "running" else "dim")
        table.add_row(
            Text(r.name),
            Text(r.spec.model),
            status,
            r.spec.policy,
            Text(arms),
            fmt_time(r.started_at),
            fmt_time(r.stopped_at),
        )
    return table


def decisions_table(decisions: list[dict[str, Any]] | tuple[dict[str, Any], ...]) -> Table:
    """The decisions taken, oldest first, with their facts."""
    table = _table("AT", "ACTION", "REASON", "DETAILS", title="Decisions")
    for d in decisions:
        facts = {k: v for k, v in d.items() if k not in {"at", "action", "reason"}}
        details = ", ".join(f"{k}={v}" for k, v in facts.items())
        table.add_row(
            _time(d.get("at")),
            Text(str(d.get("action"))),
            Text(str(d.get("reason"))),
            Text(details or "-"),
        )
    return table


def record_tables(record: ExperimentRecord) -> list[Table | Text]:
    """A record: its arms, its weights over time and its decisions."""
    spec = record.spec
    stopped = f", stopped {fmt_time(record.stopped_at)} ({record.stop_reason})"
    head = Text(
        f"experiment {spec.name} on model {spec.model}: {record.status}, policy {spec.policy}, "
        f"analysis {spec.analysis}, alpha {spec.alpha:g}, started {fmt_time(record.started_at)}"
        + (stopped if record.stopped_at else "")
        + (f", winner {record.winner}" if record.winner else "")
    )
    arms = _table("ARM", "MODEL", "ROLE", "DECLARED", "NOW", title="Arms")
    for arm in spec.arms:
        role = "shadow" if arm.shadow else ("champion" if arm is spec.champion else "challenger")
        now = "-" if arm.shadow else f"{record.weights.get(arm.name, 0.0):g}"
        arms.add_row(
            Text(arm.name), Text(arm.model), role, "-" if arm.shadow else f"{arm.weight:g}", now
        )
    history = _table("FROM", "WEIGHTS", "REASON", title="Weights")
    for change in record.history:
        history.add_row(fmt_time(change.at), Text(_weights(change.weights)), Text(change.reason))
    out: list[Table | Text] = [head, arms, history]
    if record.decisions:
        out.append(decisions_table(record.decisions))
    return out


def _pct(value: float | None, signed: bool = False) -> str:
    if value is None:
        return "-"
    return f"{value * 100:+.2f}%" if signed else f"{value * 100:.2f}%"


def _interval(ci: tuple[float, float] | None, unit: str = "pp") -> str:
    if ci is None:
        return "-"
    return f"{ci[0] * 100:+.2f} to {ci[1] * 100:+.2f} {unit}"


def _evidence(arm: ArmResult) -> str:
    if arm.probability_best is not None:
        return f"P(best) {arm.probability_best:.3f}"
    if arm.p_value is not None:
        return f"p {arm.p_value:.3g}"
    return "-"


def analysis_tables(analysis: ExperimentAnalysis) -> list[Table | Text]:
    """The window, the per-arm table, the notes and the decision."""
    head = Text(
        f"experiment {analysis.experiment} on model {analysis.model} ({analysis.status}): "
        f"{analysis.policy}, {analysis.method} analysis at alpha {analysis.comparison_alpha:.4g}, "
        f"rows from {fmt_time(analysis.start)} to {fmt_time(analysis.end)} UTC"
    )
    table = _table(
        "ARM",
        "ROLE",
        "LOGGED",
        "N",
        "CONVERSIONS",
        "RATE",
        "RATE CI",
        "LIFT",
        "DIFFERENCE CI",
        "EVIDENCE",
        "DECISION",
        title="Arms",
    )
    for arm in analysis.arms:
        rate_ci = "-" if arm.rate_ci is None else _interval(arm.rate_ci, "%").replace("+", "")
        table.add_row(
            Text(arm.name),
            arm.role,
            f"{arm.logged:,}",
            f"{arm.n:,}" if arm.role != "shadow" else "-",
            f"{arm.conversions:,}" if arm.role != "shadow" else "-",
            _pct(arm.rate),
            rate_ci,
            _pct(arm.lift, signed=True),
            _interval(arm.ci),
            _evidence(arm),
            Text(arm.decision, style=_STYLES.get(arm.decision, "")),
        )
    out: list[Table | Text] = [head, table]
    excluded = {k: v for k, v in analysis.excluded.items() if v}
    if excluded:
        shown = ", ".join(f"{v:,} {k}" for k, v in excluded.items())
        out.append(Text(f"left out: {shown} rows", style="dim"))
    out += [Text(f"note: {note}", style="dim") for note in analysis.notes]
    winner = f": {analysis.winner}" if analysis.winner else ""
    out.append(
        Text(f"decision: {analysis.decision}{winner}", style=_STYLES.get(analysis.decision, "bold"))
    )
    return out
