"""``skewless materialize`` and ``materialize-incremental``: load the online store."""

from collections.abc import Callable
from typing import Annotated, Any

import typer
from rich.text import Text

from skewless._time import parse_time
from skewless.cli._context import console, fail, guarded, open_store
from skewless.errors import MaterializationError

__all__ = ["materialize", "materialize_incremental", "print_report"]

_VIEWS_HELP = "Only this feature view (repeat the option for several; default: every online view)."


def print_report(report: Any) -> None:
    """One line per view: rows written and the range covered (``MaterializeReport.render``)."""
    out = console()
    for line in report.render().splitlines():
        out.print(Text(line))


def _run(ctx: typer.Context, work: Callable[[Any], Any]) -> None:
    """Run ``work(store)`` and print its report. When a view fails after others were written,
    the written views are printed (stdout) before the error line (stderr); exit code 1."""
    with open_store(ctx) as store:
        try:
            report = work(store)
        except MaterializationError as exc:
            if not exc.partial:
                raise
            out = console()
            for line in exc.committed:
                out.print(Text(line))
            fail(str(exc))
    print_report(report)


@guarded
def materialize(
    ctx: typer.Context,
    start: Annotated[str, typer.Argument(help="Start time, ISO-8601 (naive means UTC).")],
    end: Annotated[str, typer.Argument(help="End time, ISO-8601 (naive means UTC).")],
    views: Annotated[
        list[str] | None, typer.Option("--views", "-v", help=_VIEWS_HELP, show_default=False)
    ] = None,
) -> None:
    """Write the latest row per key with START <= event time <= END to the online store.

    END before START is an error. A progress bar is drawn on a terminal.

    Rerunning a range, or running an older range after a newer one, leaves the same state:
    an older row never replaces a newer one. The watermark stops at now when END is later.
    When a view fails, the views written before it are printed, then the error; exit code 1.
    """
    start_time, end_time = parse_time(start, "START"), parse_time(end, "END")
    _run(ctx, lambda store: store.materialize(start_time, end_time, views or None))


@guarded
def materialize_incremental(
    ctx: typer.Context,
    end: Annotated[
        str | None,
        typer.Argument(help="End time, ISO-8601 (naive means UTC); default: now."),
    ] = None,
    views: Annotated[
        list[str] | None, typer.Option("--views", "-v", help=_VIEWS_HELP, show_default=False)
    ] = None,
) -> None:
    """Materialize each view from where the last run stopped (its watermark) up to END.

    A view never materialized starts at END minus its TTL (all history when unbounded).
    """
    end_time = parse_time(end, "END") if end is not None else None
    _run(ctx, lambda store: store.materialize_incremental(end_time, views or None))
