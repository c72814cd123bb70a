"""``skewless pipelines run | runs | show | step``: run registered pipelines and read their runs
(``schedule | triggers | unschedule | worker``: :mod:`skewless.cli.pipelines_triggers`).

Exit codes of ``run`` and ``step``: 0 when the run succeeded (or the step did), 1 when a step
failed (the run's record holds the traceback; ``show RUN_ID`` prints it), 2 when the pipeline
could not run at all (not registered, code changed since apply, an unknown param, a missing
model or feature service, a run that cannot be resumed).
"""

from __future__ import annotations

import sys
from collections import Counter
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from skewless.cli import pipelines_triggers
from skewless.cli._context import cannot_run, console, guarded, open_store
from skewless.cli._tables import fmt_time

if TYPE_CHECKING:
    from skewless.pipelines.records import PipelineRun

__all__ = ["app", "print_run", "run", "runs", "show", "step"]

FAILED = 1
CANNOT_RUN = 2

app = typer.Typer(
    name="pipelines",
    help="Pipelines: run them, list their runs, show a run, schedule them, run the worker.",
    no_args_is_help=True,
    rich_markup_mode=None,
)

_STYLES = {"succeeded": "green", "failed": "bold red", "running": "yellow"}


def _table(*columns: str, title: str | None = None) -> Table:
    table = Table(title=title, title_justify="left", header_style="bold")
    for column in columns:
        table.add_column(column, overflow="fold")
    return table


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}s"


def print_run(run: PipelineRun, tracebacks: bool = False) -> None:
    """The run's steps (status, attempts, duration, output or error), and its verdict."""
    from skewless.pipelines.display import status_text

    out = console()
    out.print(Text(f"pipeline {run.pipeline} run {run.run_id}", style="bold"))
    table = _table("STEP", "STATUS", "ATTEMPTS", "DURATION", "OUTPUT / ERROR")
    for s in run.steps:
        style = {"failed": "bold red", "succeeded": "green", "skipped-cached": "cyan"}.get(
            s.status, "dim"
        )
        detail = s.error if s.status == "failed" else s.output_preview
        table.add_row(
            Text(s.name),
            Text(status_text(s), style=style),
            str(s.attempts),
            _seconds(s.duration_s),
            Text(detail or ""),
        )
    out.print(table)
    facts = [f"started {fmt_time(run.started_at)}", f"params {run.params}"]
    if run.resumes:
        facts.append(f"resumed {len(run.resumes)} time(s)")
    if run.mlflow_run_id:
        facts.append(f"MLflow run {run.mlflow_run_id}")
    if run.trigger is not None:
        facts.append(f"trigger {run.trigger.kind}: {run.trigger.reason}")
    out.print(Text("; ".join(facts), style="dim"))
    for decision in run.decisions:
        out.print(Text(f"{decision.get('at', '')[:19]} {decision.get('action')}: "
                       f"{decision.get('reason')}"))  # fmt: skip
    if tracebacks:
        for s in run.steps:
            if s.traceback:
                out.print(Text(f"traceback of step {s.name}:", style="bold red"))
                out.print(Text(s.traceback.rstrip()))
    verdict = Text(f"run {run.status}", style=_STYLES.get(run.status, ""))
    if run.status == "failed":
        verdict.append(f" at step {run.failed_step}: {run.error}")
        verdict.append(f" (resume with --resume {run.run_id})", style="dim")
    out.print(verdict)


def _cannot_run(ctx: typer.Context) -> AbstractContextManager[None]:
    """Any error before or around the run: one line, exit 2."""
    return cannot_run(ctx, code=CANNOT_RUN)


def _finish(run: PipelineRun) -> None:
    print_run(run)
    if run.status == "failed":
        print(
            f"error: pipeline {run.pipeline} run {run.run_id} failed at step {run.failed_step}: "
            f"{run.error}; see `skewless pipelines show {run.run_id}`",
            file=sys.stderr,
            flush=True,
        )
        raise typer.Exit(FAILED)


def _context(store: Any) -> Any:
    from skewless.pipelines.runner import pipeline_context

    return pipeline_context(store.config, store.registry, {"store": store}, clock=store.now)


ParamsOption = Annotated[
    list[str] | None,
    typer.Option("--params", "-p", help="Override a param: KEY=VALUE (repeatable)."),
]


def run(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The registered pipeline.")],
    params: ParamsOption = None,
    resume: Annotated[
        str | None, typer.Option("--resume", help="Resume this failed run from its failed step.")
    ] = None,
) -> None:
    """Run a pipeline: every step in order, recorded, cached, retried as declared.

    Exits 0 when the run succeeded, 1 when a step failed, 2 when the pipeline cannot run.
    """
    from skewless.pipelines.params import parse_pairs
    from skewless.pipelines.runner import run_pipeline

    with _cannot_run(ctx), open_store(ctx) as store:
        result = run_pipeline(_context(store), name, parse_pairs(params or []), resume)
    _finish(result)


def step(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The registered pipeline.")],
    step_name: Annotated[str, typer.Argument(metavar="STEP", help="The step to run.")],
    run_id: Annotated[str, typer.Option("--run-id", help="The run (created by its first step).")],
    params: ParamsOption = None,
) -> None:
    """Run one step of a run, for an orchestrator that runs each step as its own task.

    Exits 0 when the step succeeded, 1 when it failed, 2 when it cannot run.
    """
    from skewless.pipelines.params import parse_pairs
    from skewless.pipelines.runner import run_step

    with _cannot_run(ctx), open_store(ctx) as store:
        result = run_step(_context(store), name, step_name, run_id, parse_pairs(params or []))
    print_run(result)
    if result.step(step_name).status == "failed":
        raise typer.Exit(FAILED)


@guarded
def runs(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The pipeline.")],
) -> None:
    """List the runs of a pipeline, newest first."""
    from skewless.pipelines.records import RunStore

    with open_store(ctx) as store:
        found = RunStore(store.registry).list(name)
    out = console()
    if not found:
        out.print(Text(f"No run of pipeline {name!r} yet: run `skewless pipelines run {name}`."))
        return
    table = _table(
        "RUN", "STATUS", "STARTED", "DURATION", "STEPS", "TRIGGER", title=f"Runs of {name}"
    )
    for r in reversed(found):
        took = (r.ended_at - r.started_at).total_seconds() if r.ended_at else None
        counts = _counts(r)
        table.add_row(
            Text(r.run_id),
            Text(r.status + (f" at {r.failed_step}" if r.failed_step else ""),
                 style=_STYLES.get(r.status, "")),
            fmt_time(r.started_at),
            _seconds(took),
            counts,
            r.trigger.kind if r.trigger else "-",
        )  # fmt: skip
    out.print(table)


def _counts(run: PipelineRun) -> str:
    counted = Counter(s.status for s in run.steps)
    parts = [f"{counted[s]} {s}" for s in ("succeeded", "skipped-cached", "failed") if counted[s]]
    return ", ".join(parts) or "-"


@guarded
def show(
    ctx: typer.Context,
    run_id: Annotated[str, typer.Argument(metavar="RUN_ID", help="The run.")],
) -> None:
    """Show one run: each step's status, attempts, duration, output, and any traceback."""
    from skewless.pipelines.records import RunStore

    with open_store(ctx) as store:
        found = RunStore(store.registry).get(run_id)
    print_run(found, tracebacks=True)


def export(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The registered pipeline.")],
    to: Annotated[str, typer.Option("--to", help="airflow or kubeflow.")],
    out: Annotated[
        Path | None,
        typer.Option("--out", help="The file to write (default: <name>_dag.py / <name>.yaml)."),
    ] = None,
    schedule: Annotated[
        str | None, typer.Option("--schedule", help="Airflow: the DAG's cron schedule.")
    ] = None,
    kfp_format: Annotated[
        str,
        typer.Option("--format", help="Kubeflow: yaml (compiled, needs kfp) or python."),
    ] = "yaml",
    image: Annotated[
        str, typer.Option("--image", help="Kubeflow: the image that runs the steps.")
    ] = "python:3.11-slim",
    skewless_command: Annotated[
        str | None,
        typer.Option("--skewless", help="The skewless command the tasks run (default: this one)."),
    ] = None,
) -> None:
    """Write the pipeline for an orchestrator: an Airflow DAG file, or a Kubeflow Pipelines
    definition, whose tasks each run `skewless pipelines step NAME STEP --run-id ...`.

    Exits 0 when the file is written, 2 when it cannot be.
    """
    from skewless._files import write_text_atomically
    from skewless.errors import PipelineInputError
    from skewless.pipelines.export import (
        TARGETS,
        airflow_dag_source,
        compile_kubeflow,
        kubeflow_pipeline_source,
    )

    with _cannot_run(ctx), open_store(ctx) as store:
        if to not in TARGETS:
            raise PipelineInputError(f"--to {to!r} is not one of {', '.join(TARGETS)}")
        if kfp_format not in ("yaml", "python"):
            raise PipelineInputError(f"--format {kfp_format!r} is not yaml or python")
        pipeline = store.registry.snapshot().get_pipeline(name)
        repo = Path(store.repo_path)
        command = skewless_command or str(Path(sys.executable).with_name("skewless"))
        if to == "airflow":
            target = out or Path(f"{name}_dag.py")
            source = airflow_dag_source(pipeline, repo, skewless=command, schedule=schedule)
            write_text_atomically(target, source)
        else:
            text = kubeflow_pipeline_source(pipeline, repo, image=image, skewless=command)
            if kfp_format == "python":
                target = out or Path(f"{name}_kfp.py")
                write_text_atomically(target, text)
            else:
                target = out or Path(f"{name}.yaml")
                compile_kubeflow(text, target)
    console().print(Text(f"wrote {target} ({to})"))


app.command("run")(run)
app.command("step")(step)
app.command("runs")(runs)
app.command("show")(show)
app.command("schedule")(pipelines_triggers.schedule)
app.command("triggers")(pipelines_triggers.triggers)
app.command("unschedule")(pipelines_triggers.unschedule)
app.command("worker")(pipelines_triggers.worker)
app.command("export")(export)
