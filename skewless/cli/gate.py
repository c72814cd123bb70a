"""``skewless gate``: judge a registered model version on a held-out saved dataset (for CI).

Exit codes: 0 when every check passed, 1 when any failed, 2 when the gate could not run
(an unknown dataset, model or version, a dataset without the label column or with other
features than the model's, the model's own training dataset, an unreachable server).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table
from rich.text import Text

from skewless.cli._context import cannot_run, console, open_store, status

if TYPE_CHECKING:
    from skewless.models import GateReport

__all__ = ["gate", "print_gate"]

BAD_INPUT = 2


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"


def print_gate(report: GateReport) -> None:
    """The metrics, the checks and the verdict."""
    out = console()
    m = report.model
    out.print(
        Text(
            f"model {m['name']} version {m['version']} ({m['task']}) on dataset "
            f"{report.dataset['name']} ({report.dataset['rows']:,} rows)"
        )
    )
    table = Table(title="Gate", title_justify="left", header_style="bold")
    for column in ("CHECK", "VALUE", "LIMIT", "RESULT", "NOTE"):
        table.add_column(column, overflow="fold")
    for c in report.checks:
        verdict = Text("pass", style="green") if c.passed else Text("FAIL", style="bold red")
        limit = f"{c.op} {_fmt(c.threshold)}" if c.threshold is not None else "-"
        table.add_row(Text(c.name), _fmt(c.value), limit, verdict, Text(c.note))
    shown = {c.metric for c in report.checks}
    for metric, value in report.metrics.items():
        if metric not in shown:
            table.add_row(Text(metric), _fmt(value), "-", Text("info", style="dim"), "")
    out.print(table)
    for note in report.notes:
        out.print(Text(f"note: {note}", style="dim"))
    if report.passed:
        out.print(Text("gate passed", style="green"))
    else:
        failed = ", ".join(c.name for c in report.checks if not c.passed)
        out.print(Text(f"gate FAILED: {failed}", style="bold red"))


def gate(
    ctx: typer.Context,
    model: Annotated[str, typer.Argument(help="The registered model.")],
    dataset: Annotated[str, typer.Option("--dataset", "-d", help="A held-out saved dataset.")],
    version: Annotated[
        str | None, typer.Option("--version", "-v", help="Version number (default: latest).")
    ] = None,
    alias: Annotated[
        str | None, typer.Option("--alias", help="Gate the version holding this alias.")
    ] = None,
    min_f1: Annotated[float | None, typer.Option("--min-f1")] = None,
    min_precision: Annotated[float | None, typer.Option("--min-precision")] = None,
    min_recall: Annotated[float | None, typer.Option("--min-recall")] = None,
    min_auc: Annotated[float | None, typer.Option("--min-auc")] = None,
    max_rmse: Annotated[float | None, typer.Option("--max-rmse")] = None,
    max_mae: Annotated[float | None, typer.Option("--max-mae")] = None,
    max_p99_ms: Annotated[
        float | None, typer.Option("--max-p99-ms", help="p99 single-row latency limit.")
    ] = None,
    max_size_mb: Annotated[float | None, typer.Option("--max-size-mb")] = None,
    baseline: Annotated[
        str | None, typer.Option("--baseline", help="Alias to compare with, e.g. production.")
    ] = None,
    max_regression: Annotated[
        float | None,
        typer.Option("--max-regression", help="Largest allowed drop of the primary metric."),
    ] = None,
    primary_metric: Annotated[
        str | None, typer.Option("--primary-metric", help="Default: f1 or rmse.")
    ] = None,
    label: Annotated[
        str | None, typer.Option("--label", help="The label column (default: from lineage).")
    ] = None,
    report_path: Annotated[
        Path | None, typer.Option("--report", help="Write the JSON report to this file.")
    ] = None,
) -> None:
    """Gate a model version on a held-out dataset: quality, latency, size, regression.

    Exits 0 when every check passes, 1 when any fails, 2 when the gate cannot run.
    """
    from skewless.models import Thresholds, run_gate

    if version is not None and alias is not None:
        _bad("pass --version or --alias, not both")
    thresholds = Thresholds(
        min_f1=min_f1,
        min_precision=min_precision,
        min_recall=min_recall,
        min_auc=min_auc,
        max_rmse=max_rmse,
        max_mae=max_mae,
        max_p99_ms=max_p99_ms,
        max_size_mb=max_size_mb,
        baseline=baseline,
        max_regression=max_regression,
        primary_metric=primary_metric,
    )
    with cannot_run(ctx, code=BAD_INPUT), open_store(ctx) as store, status("gating"):
        report = run_gate(
            model,
            dataset,
            version=version if version is not None else alias,
            thresholds=thresholds,
            store=store,
            label=label,
        )
    print_gate(report)
    if report_path is not None:
        try:
            report_path.write_text(json.dumps(report.to_dict(), indent=2) + "\n")
        except OSError as exc:
            _bad(f"cannot write --report {str(report_path)!r}: {exc.strerror or exc}")
    if not report.passed:
        raise typer.Exit(1)


def _bad(message: str) -> None:
    print(f"error: {message}", file=sys.stderr, flush=True)
    raise typer.Exit(BAD_INPUT)
