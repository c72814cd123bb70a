"""``skewless logs NAME``: what a prediction log holds; ``--compact`` applies its retention."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from skewless.cli._context import console, fail, guarded, repo_dir, status
from skewless.cli._tables import fmt_time

__all__ = ["logs", "parse_cli_duration"]


def parse_cli_duration(value: str, option: str) -> timedelta:
    """``1d``, ``12h``, ``30m``, ``45s`` as a timedelta; a one-line error for anything else.

    >>> parse_cli_duration("12h", "--since")
    datetime.timedelta(seconds=43200)
    """
    from skewless.config import parse_duration

    try:
        parsed = parse_duration(value.strip())
    except ValueError:
        parsed = None
    if not isinstance(parsed, timedelta) or parsed <= timedelta(0):
        fail(f"{option} {value!r} is not a duration: write e.g. 30d, 1d, 12h or 30m")
    return parsed


def _fmt_ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} ms"


def _summary_tables(summary: Any) -> list[Table | Text]:
    since = f"since {fmt_time(summary.since)}" if summary.since else "the whole log"
    out: list[Table | Text] = []
    counts = Table(
        title=f"Prediction log {summary.name} ({since})", title_justify="left", header_style="bold"
    )
    for column in ("REQUESTS", "ENTITIES", "MISSING", "CACHED", "P50", "P99", "FIRST", "LAST"):
        counts.add_column(column, overflow="fold")
    counts.add_row(
        str(summary.requests),
        str(summary.entities),
        str(summary.missing),
        str(summary.cached),
        _fmt_ms(summary.latency_p50_ms),
        _fmt_ms(summary.latency_p99_ms),
        fmt_time(summary.first),
        fmt_time(summary.last),
    )
    out.append(counts)
    if summary.versions:
        versions = Table(title="By model version", title_justify="left", header_style="bold")
        for column in ("VERSION", "REQUESTS", "ENTITIES", "MISSING"):
            versions.add_column(column)
        for v in summary.versions:
            versions.add_row(
                str(v["model_version"]), str(v["requests"]), str(v["entities"]), str(v["missing"])
            )
        out.append(versions)
    if summary.prediction_mean is not None:
        out.append(Text(f"mean prediction: {summary.prediction_mean:.6g}"))
    if summary.prediction_counts:
        classes = Table(title="Predictions", title_justify="left", header_style="bold")
        classes.add_column("PREDICTION", overflow="fold")
        classes.add_column("COUNT")
        for value, count in summary.prediction_counts.items():
            classes.add_row(Text(value), str(count))
        out.append(classes)
    return out


@guarded
def logs(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The prediction log (the served model's name).")],
    since: Annotated[
        str | None,
        typer.Option("--since", help="Only requests answered in this last span: 1d, 12h, 30m."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")] = False,
    compact: Annotated[
        bool,
        typer.Option(
            "--compact",
            help="Delete the days older than --retention and merge each past day's files.",
        ),
    ] = False,
    retention: Annotated[
        str,
        typer.Option("--retention", help="With --compact: the days kept, e.g. 30d (none: all)."),
    ] = "30d",
) -> None:
    """Summarize a prediction log: requests, entities, missing, cached, model versions,
    latency and predictions; or compact it with --compact."""
    root = repo_dir(ctx)
    if compact:
        _compact(root, name, retention, as_json)
        return
    from skewless.serving.logs_read import log_summary

    span = parse_cli_duration(since, "--since") if since is not None else None
    with status("reading the prediction log"):
        summary = log_summary(root, name, since=span)
    if as_json:
        typer.echo(json.dumps(summary.to_dict(), indent=2))
        return
    out = console()
    if summary.requests == 0:
        span_text = f" in the last {since}" if since else ""
        out.print(Text(f"no requests in prediction log {name}{span_text}"))
        return
    for part in _summary_tables(summary):
        out.print(part)


def _compact(root: Any, name: str, retention: str, as_json: bool) -> None:
    from dataclasses import asdict

    from skewless.serving.logs_compact import compact_prediction_logs

    kept = (
        None
        if retention.strip().lower() == "none"
        else parse_cli_duration(retention, "--retention")
    )
    with status("compacting the prediction log"):
        report = compact_prediction_logs(root, name, retention=kept)
    if as_json:
        typer.echo(json.dumps(asdict(report), indent=2))
        return
    out = console()
    out.print(
        Text(
            f"{name}: merged {report.files_merged} files ({report.rows_merged} rows) of "
            f"{len(report.merged_days)} days, deleted {len(report.deleted_days)} days older "
            f"than {retention}, removed {report.temporaries_removed} stale temporary files"
        )
    )
    for day in report.deleted_days:
        out.print(Text(f"deleted {day}"))
    for day in report.skipped_days or []:
        out.print(Text(f"left {day} as it is (columns of clashing types)", style="yellow"))
