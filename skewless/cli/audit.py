"""``skewless audit``: compare online values with an offline recomputation (a CI gate)."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from skewless.cli._context import console, fail, guarded, open_store, status
from skewless.cli._tables import fmt_time

if TYPE_CHECKING:
    from skewless.audit_report import AuditReport

__all__ = ["audit", "fmt_age", "parse_request_data", "print_audit"]


def parse_request_data(items: list[str]) -> dict[str, Any]:
    """``name=value`` pairs; a value is read as JSON when it parses (``3.5``, ``true``),
    else kept as text.

    >>> parse_request_data(["price=3.5", "country=FR"])
    {'price': 3.5, 'country': 'FR'}
    """
    out: dict[str, Any] = {}
    for item in items:
        name, sep, text = item.partition("=")
        if not sep or not name.strip():
            fail(f"--request-data {item!r} is not NAME=VALUE: write e.g. --request-data price=9.5")
        try:
            out[name.strip()] = json.loads(text)
        except ValueError:
            out[name.strip()] = text
    return out


def fmt_age(age: timedelta) -> str:
    """A duration to the two largest units: ``3d 4h``, ``2h 5m``, ``4m 10s``, ``12s``.

    >>> fmt_age(timedelta(days=3, hours=4, minutes=1)), fmt_age(timedelta(seconds=12.5))
    ('3d 4h', '12s')
    """
    seconds = int(age.total_seconds())
    days, rest = divmod(seconds, 86_400)
    hours, rest = divmod(rest, 3_600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes}m"
    return f"{minutes}m {secs}s" if minutes else f"{secs}s"


def _cell(value: Any, width: int = 40) -> Text:
    text = repr(value)
    return Text(text if len(text) <= width else text[: width - 1] + "…")


def print_audit(report: AuditReport) -> None:
    """The per-feature table, the views that were not audited and the lag table."""
    out = console()
    table = Table(title="Skew", title_justify="left", header_style="bold")
    for column in ("FEATURE", "COMPARED", "MISMATCHES", "RATE", "EXAMPLE (key: online != offline)"):
        table.add_column(column, overflow="fold")
    for f in report.features:
        example = Text("")
        if f.examples:
            key, online, offline = f.examples[0]
            keys = ", ".join(f"{k}={v!r}" for k, v in key.items())
            example = Text(f"{keys}: ") + _cell(online) + Text(" != ") + _cell(offline)
        rate = Text(f"{f.mismatch_rate:.2%}", style="red" if f.mismatches else "")
        table.add_row(Text(f.ref), str(f.compared), str(f.mismatches), rate, example)
    out.print(table)
    for v in report.views:
        if v.status != "audited":
            out.print(Text(f"{v.name}: {v.status}" + (f" ({v.reason})" if v.reason else "")))
        elif v.ahead:
            out.print(Text(f"{v.name}: {v.ahead} sampled keys hold online rows newer than T"))
    lag = Table(
        title="Lag (not online yet; never counted as skew)",
        title_justify="left",
        header_style="bold",
    )
    for column in (
        "VIEW",
        "WATERMARK",
        "T",
        "BEHIND",
        "KEYS WITH NEWER ROWS",
        "KEYS WITH LATE ROWS",
    ):
        lag.add_column(column, overflow="fold")
    for item in report.lag:
        mark = fmt_time(item.watermark) if item.watermark else "never materialized"
        behind = fmt_age(item.behind) if item.behind is not None else "-"
        counts = (f"{item.pending_keys:,}", f"{item.late_keys:,}")
        lag.add_row(Text(item.name), mark, fmt_time(item.at), behind, *counts)
    out.print(lag)
    lagging = sum(f.lagging for f in report.features)
    if lagging:
        out.print(Text(f"{lagging} differing values are explained by late rows (lag)"))
    if report.ok:
        out.print(Text("no skew", style="green"))
    else:
        out.print(Text(f"skew: {report.mismatches} mismatching values", style="bold red"))


@guarded
def audit(
    ctx: typer.Context,
    features: Annotated[
        str | None,
        typer.Option(
            "--features", "-f", help="Comma-separated view:feature refs (default: every one)."
        ),
    ] = None,
    feature_service: Annotated[
        str | None, typer.Option("--feature-service", "-s", help="Audit this service's features.")
    ] = None,
    sample: Annotated[
        int, typer.Option("--sample", "-n", min=1, help="Entity keys compared per view.")
    ] = 100,
    seed: Annotated[int, typer.Option("--seed", help="Picks the sample of keys.")] = 0,
    at: Annotated[
        str | None,
        typer.Option("--at", help="Audit no later than this time, ISO-8601 (default: now)."),
    ] = None,
    request_data: Annotated[
        list[str] | None,
        typer.Option(
            "--request-data",
            help="NAME=VALUE for a request-data column of on-demand views (repeatable).",
            show_default=False,
        ),
    ] = None,
    json_path: Annotated[
        Path | None, typer.Option("--json", help="Also write the report as JSON to this file.")
    ] = None,
) -> None:
    """Read a sample of keys online at T and recompute them offline at T; report skew and lag.

    T is, per view, the earlier of its watermark and now. Exits 0 when every compared value
    agrees and 1 when any differs (rows not online yet are lag, never skew).
    """
    from skewless._time import parse_time

    if features is not None and feature_service is not None:
        fail("pass --features or --feature-service, not both")
    wanted: Any = None
    if features is not None:
        wanted = [ref.strip() for ref in features.split(",") if ref.strip()]
        if not wanted:
            fail("--features is empty: pass e.g. --features user_stats:total_purchases")
    elif feature_service is not None:
        wanted = feature_service
    limit = parse_time(at, "--at") if at is not None else None
    given = parse_request_data(request_data or [])
    with open_store(ctx) as store:
        if feature_service is not None:
            store.get_feature_service(feature_service)  # an unknown name fails clearly
        with status("auditing"):
            report = store.audit(wanted, sample, seed, limit, given or None)
    print_audit(report)
    if json_path is not None:
        try:
            json_path.write_text(json.dumps(report.to_dict(), indent=2) + "\n")
        except OSError as exc:
            fail(f"cannot write --json {str(json_path)!r}: {exc.strerror or exc}")
    if not report.ok:
        raise typer.Exit(1)
