"""``skewless monitor MODEL``: drift of a served model's features, predictions and accuracy over
a window of its prediction log, against its training reference (for CI and for retraining).

Exit codes follow ``skewless gate``: 0 when no drift was found, 1 when drift was found as
``--fail-on`` judges it, 2 when monitoring could not run (an unknown model or dataset, no
prediction log, an empty window, an undeliverable webhook), so a trigger on exit code 1
never fires on a broken configuration.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from skewless.cli._context import cannot_run, console, open_store

if TYPE_CHECKING:
    from skewless.monitoring.monitor import MonitorResult
    from skewless.monitoring.report import DriftReport

__all__ = ["monitor", "print_monitor"]

DRIFT = 1
BAD_INPUT = 2


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"


def _drift_table(title: str, report: DriftReport) -> Table:
    table = Table(title=title, title_justify="left", header_style="bold")
    for column in ("COLUMN", "TEST", "STATISTIC", "THRESHOLD", "P-VALUE", "DRIFT", "NULLS"):
        table.add_column(column, overflow="fold")
    for name, c in report.columns.items():
        verdict = Text("DRIFT", style="bold red") if c.drifted else Text("ok", style="green")
        table.add_row(
            Text(name),
            c.test,
            _fmt(c.statistic),
            _fmt(c.threshold),
            _fmt(c.p_value),
            verdict,
            str(c.current_nulls),
        )
    return table


def _performance_table(performance: Any) -> Table | None:
    data = performance.to_dict()
    overall = data.get("overall") or {}
    metrics = overall.get("metrics") or {}
    if not metrics:
        return None
    baseline = data.get("baseline") or {}
    table = Table(
        title=f"Performance ({overall.get('labels', 0)} labels)",
        title_justify="left",
        header_style="bold",
    )
    for column in ("METRIC", "NOW", "AT GATE", "ALERT"):
        table.add_column(column)
    alerted = {a.get("metric") for a in data.get("alerts") or [] if a.get("window") is None}
    for metric, value in metrics.items():
        flag = Text("ALERT", style="bold red") if metric in alerted else Text("-", style="dim")
        table.add_row(metric, _fmt(value), _fmt(baseline.get(metric)), flag)
    return table


def print_monitor(result: MonitorResult, fail_on: str) -> None:
    """The tables of each report and the verdict."""
    out = console()
    window = result.to_dict()["window"]
    out.print(
        Text(
            f"model {result.model} version {result.version}: {result.rows:,} logged rows "
            f"({result.missing:,} without features) from {window['start'] or 'the start'} to "
            f"{window['end'] or 'now'}, against dataset {result.reference}"
        )
    )
    data = result.data
    out.print(
        _drift_table(
            f"Feature drift: {len(data.drifted_columns)} of {len(data.columns)} columns "
            f"({data.share_drifted:.0%})",
            data,
        )
    )
    if result.prediction is not None:
        out.print(_drift_table("Prediction drift", result.prediction))
    if result.performance is not None:
        table = _performance_table(result.performance)
        if table is not None:
            out.print(table)
    for note in result.notes:
        out.print(Text(f"note: {note}", style="dim"))
    if result.drifted(fail_on):  # type: ignore[arg-type]
        out.print(Text(f"drift found (--fail-on {fail_on})", style="bold red"))
    else:
        out.print(Text(f"no drift (--fail-on {fail_on})", style="green"))


@contextmanager
def _steps() -> Iterator[Callable[[str, int | None], Callable[[int], None]]]:
    from skewless._progress import progress

    with ExitStack() as stack:

        def step(description: str, total: int | None) -> Callable[[int], None]:
            return stack.enter_context(progress(description, total=total)).advance

        yield step


def monitor(
    ctx: typer.Context,
    model: Annotated[
        str,
        typer.Argument(help="NAME@ALIAS, NAME/VERSION or NAME (alias production)."),
    ],
    window: Annotated[
        str, typer.Option("--window", help="How far back to read the log: 1d, 12h, 7d.")
    ] = "1d",
    reference: Annotated[
        str | None,
        typer.Option("--reference", help="Reference dataset (default: the training set)."),
    ] = None,
    report_path: Annotated[
        Path | None, typer.Option("--report", help="Write the HTML report to this file.")
    ] = None,
    json_path: Annotated[
        Path | None, typer.Option("--json", help="Write the JSON report to this file.")
    ] = None,
    fail_on: Annotated[
        str,
        typer.Option(
            "--fail-on",
            help="dataset: exit 1 when the features or predictions drift as a dataset or "
            "performance drops; any: when any column drifts or any alert fires; never.",
        ),
    ] = "dataset",
    webhook: Annotated[
        str | None,
        typer.Option("--webhook", help="POST a JSON alert to this URL when drift is found."),
    ] = None,
    labels: Annotated[
        Path | None,
        typer.Option(
            "--labels",
            help="Parquet/CSV of labels joined by entity key and time (default: the "
            "feedback recorded through /feedback).",
        ),
    ] = None,
    label_column: Annotated[
        str, typer.Option("--label-column", help="The label column of --labels.")
    ] = "label",
    label_timestamp: Annotated[
        str, typer.Option("--label-timestamp", help="The time column of --labels.")
    ] = "event_timestamp",
    per_day: Annotated[
        bool, typer.Option("--per-day/--no-per-day", help="Also compare each day.")
    ] = True,
    predictions: Annotated[
        bool,
        typer.Option("--predictions/--no-predictions", help="Also compare the predictions."),
    ] = True,
) -> None:
    """Check a served model for drift: features, predictions and (with labels) accuracy.

    Exits 0 when no drift is found, 1 when drift is found (as --fail-on judges it), 2 when
    monitoring cannot run. See docs/monitoring.md, "skewless monitor".
    """
    with cannot_run(ctx, code=BAD_INPUT):
        result = _run(
            ctx, model, window, reference, fail_on, labels, label_column, label_timestamp,
            per_day, predictions,
        )  # fmt: skip
        _write(result, report_path, json_path)
        print_monitor(result, fail_on)
        drifted = result.drifted(fail_on)  # type: ignore[arg-type]
        if webhook is not None and drifted:
            from skewless.monitoring.alerts import alert_payload, post_alert

            post_alert(webhook, alert_payload(result, fail_on))  # type: ignore[arg-type]
            console().print(Text(f"alert sent to {webhook}", style="dim"))
    if drifted:
        raise typer.Exit(DRIFT)


def _run(
    ctx: typer.Context,
    model: str,
    window: str,
    reference: str | None,
    fail_on: str,
    labels: Path | None,
    label_column: str,
    label_timestamp: str,
    per_day: bool,
    predictions: bool,
) -> MonitorResult:
    from skewless.errors import DriftInputError
    from skewless.models.tracking import tracking_for
    from skewless.monitoring.monitor import FAIL_ON, MonitorContext, monitor_model
    from skewless.monitoring.performance_window import performance_step

    if fail_on not in FAIL_ON:
        raise DriftInputError(f"--fail-on {fail_on!r} is not one of {', '.join(FAIL_ON)}")
    span = _window(window)
    with open_store(ctx) as store, _steps() as step:
        context = MonitorContext(
            tracking=tracking_for(store.config),
            datasets=store.datasets,
            root=store.repo_path,
            now=store.now(),
        )
        return monitor_model(
            context,
            model,
            window=span,
            reference=reference,
            per_day=per_day,
            predictions=predictions,
            labels=labels,
            step=step,
            performance=performance_step(label=label_column, timestamp=label_timestamp),
        )


def _write(result: MonitorResult, report: Path | None, json_path: Path | None) -> None:
    from skewless._files import write_text_atomically
    from skewless.monitoring.html_monitor import render_monitor_html

    if json_path is not None:
        write_text_atomically(json_path, result.to_json())
    if report is not None:
        write_text_atomically(report, render_monitor_html(result.to_dict()))


def _window(text: str) -> timedelta:
    from skewless.config import parse_duration
    from skewless.errors import DriftInputError

    try:
        parsed = parse_duration(text.strip())
    except ValueError:
        parsed = None
    if not isinstance(parsed, timedelta) or parsed <= timedelta(0):
        raise DriftInputError(f"--window {text!r} is not a duration: write e.g. 1d, 12h or 7d")
    return parsed
