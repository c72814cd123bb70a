"""``skewless pipelines schedule | triggers | unschedule | worker``: when pipelines run by
themselves, and the worker that runs them (docs/pipelines.md, "Triggers" and "The worker")."""

from __future__ import annotations

import signal
import sys
from datetime import datetime, timedelta
from types import FrameType
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table
from rich.text import Text

from skewless.cli._context import console, guarded, open_store
from skewless.cli._tables import fmt_time

if TYPE_CHECKING:
    from skewless.pipelines.triggers import Evaluation, Trigger

__all__ = ["schedule", "triggers", "unschedule", "worker"]


def _duration(text: str, option: str, allow_zero: bool = False) -> timedelta:
    from skewless.config import parse_duration
    from skewless.errors import PipelineInputError

    try:
        found = parse_duration(text.strip())
    except ValueError:
        found = None
    if (
        not isinstance(found, timedelta)
        or found < timedelta(0)
        or (found == timedelta(0) and not allow_zero)
    ):
        raise PipelineInputError(f"{option} {text!r} is not a duration: write e.g. 30s, 1h or 1d")
    return found


@guarded
def schedule(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The registered pipeline.")],
    cron: Annotated[
        str | None, typer.Option("--cron", help='Run on a cron schedule (UTC), e.g. "0 3 * * 1".')
    ] = None,
    on_drift: Annotated[
        str | None,
        typer.Option("--on-drift", metavar="MODEL", help="Run when monitoring finds drift."),
    ] = None,
    on_performance_drop: Annotated[
        str | None,
        typer.Option(
            "--on-performance-drop", metavar="MODEL", help="Run when the performance drops."
        ),
    ] = None,
    params: Annotated[
        list[str] | None,
        typer.Option("--params", "-p", help="A param of its runs: KEY=VALUE (repeatable)."),
    ] = None,
    window: Annotated[str, typer.Option("--window", help="The monitoring window.")] = "1d",
    fail_on: Annotated[
        str, typer.Option("--fail-on", help="What counts as drift: dataset or any.")
    ] = "dataset",
    every: Annotated[str, typer.Option("--every", help="How often to monitor the model.")] = "1h",
    cooldown: Annotated[
        str | None,
        typer.Option(
            "--cooldown",
            help="No trigger-fired run within this time of the last one (default: 1d for "
            "--on-drift and --on-performance-drop, none for --cron).",
        ),
    ] = None,
    labels: Annotated[
        str | None,
        typer.Option("--labels", help="Labels file for the performance report (repo-relative)."),
    ] = None,
    label_column: Annotated[str, typer.Option("--label-column")] = "label",
    label_timestamp: Annotated[str, typer.Option("--label-timestamp")] = "event_timestamp",
) -> None:
    """Add a trigger: run NAME on a cron schedule, on drift, or on a performance drop."""
    from skewless.pipelines.params import parse_pairs
    from skewless.pipelines.triggers import schedule as add_trigger

    with open_store(ctx) as store:
        trigger = add_trigger(
            store.registry, name, store.now(), cron=cron, on_drift=on_drift,
            on_performance_drop=on_performance_drop, params=parse_pairs(params or []),
            window=_duration(window, "--window"), fail_on=fail_on,
            every=_duration(every, "--every"),
            cooldown=None if cooldown is None else _duration(cooldown, "--cooldown", True),
            labels=labels, label_column=label_column, label_timestamp=label_timestamp,
        )  # fmt: skip
        nxt = _next(trigger, store.now())
    console().print(
        Text(
            f"trigger {trigger.id}: pipeline {name} runs on {trigger.describe()}"
            + (f", next at {nxt} UTC" if nxt else "")
            + " (run the worker: `skewless pipelines worker`)"
        )
    )


def _next(trigger: Trigger, now: datetime) -> str | None:
    from skewless.pipelines.triggers import next_cron

    if trigger.kind != "cron" or not trigger.cron:
        return None
    after = max(now, trigger.evaluated_at or trigger.created_at)
    return fmt_time(next_cron(trigger.cron, after))


@guarded
def triggers(
    ctx: typer.Context,
    name: Annotated[str | None, typer.Argument(help="Only this pipeline's triggers.")] = None,
) -> None:
    """List the triggers (of one pipeline): what fires them and what they last found."""
    from skewless.pipelines.triggers import TriggerStore, duration_text

    with open_store(ctx) as store:
        found = TriggerStore(store.registry).list(name)
        now = store.now()
    out = console()
    if not found:
        which = f" of pipeline {name!r}" if name else ""
        out.print(Text(f"No trigger{which}: add one with `skewless pipelines schedule NAME`."))
        return
    table = Table(title="Triggers", title_justify="left", header_style="bold")
    for column in ("ID", "PIPELINE", "FIRES ON", "COOLDOWN", "LAST FIRED", "NEXT", "LAST RESULT"):
        table.add_column(column, overflow="fold")
    for t in found:
        result = (
            Text(f"error: {t.last_error}", style="bold red")
            if t.last_error
            else Text(t.last_result or "-")
        )
        table.add_row(
            t.id, t.pipeline, t.describe(), duration_text(t.cooldown_s) if t.cooldown_s else "-",
            fmt_time(t.fired_at), _next(t, now) or "-", result,
        )  # fmt: skip
    out.print(table)


@guarded
def unschedule(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The pipeline.")],
    trigger_id: Annotated[
        str | None, typer.Option("--trigger", help="Remove only this trigger.")
    ] = None,
) -> None:
    """Remove the triggers of a pipeline (or one of them)."""
    from skewless.pipelines.triggers import TriggerStore

    with open_store(ctx) as store:
        removed = TriggerStore(store.registry).remove(name, trigger_id)
    console().print(Text(f"removed trigger(s) {', '.join(removed)} of pipeline {name}"))


def _stop(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


@guarded
def worker(
    ctx: typer.Context,
    once: Annotated[
        bool, typer.Option("--once", help="Evaluate every trigger once, then exit.")
    ] = False,
    poll: Annotated[
        str, typer.Option("--poll", help="The longest wait between two evaluations.")
    ] = "30s",
    lease: Annotated[
        str,
        typer.Option("--lease", help="How long a pipeline's lease holds between heartbeats."),
    ] = "5m",
) -> None:
    """Run the worker: evaluate the triggers, run what fires (one run at a time per
    pipeline), settle challengers and watch promotions. Stops on Ctrl-C or SIGTERM."""
    from skewless.pipelines.worker import Worker

    every, ttl = _duration(poll, "--poll"), _duration(lease, "--lease")
    with open_store(ctx) as store:

        def report(evaluation: Evaluation) -> None:
            print(f"{fmt_time(store.now())} {evaluation.message}", flush=True)

        running = Worker(store, poll=every, lease=ttl, report=report)
        previous = signal.signal(signal.SIGTERM, _stop)
        print(f"worker {running.owner} started", flush=True)
        try:
            running.run(once=once)
        except KeyboardInterrupt:
            print(f"worker {running.owner} stopped", file=sys.stderr, flush=True)
        finally:
            signal.signal(signal.SIGTERM, previous)
