"""``skewless experiments start | list | show | stop | analyze``: A/B experiments between model
versions (not MLflow experiments), their records in the registry and their results.

Exit codes: 0 when the command did what was asked (``analyze`` whatever the analysis decides);
1 when ``analyze --promote`` promoted nothing (no winner yet, or the winner failed its gate);
2 when the command could not run (an unknown experiment, a bad file, no gate dataset), with
one ``error:`` line on stderr.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import fields
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import orjson
import typer
from rich.text import Text

from skewless.cli._context import cannot_run, console, open_store, status

if TYPE_CHECKING:
    from skewless.experiments.records import ExperimentStore
    from skewless.models import Thresholds
    from skewless.store import FeatureStore

__all__ = ["analyze", "app", "list_experiments", "show", "start", "stop"]

NOT_PROMOTED = 1
BAD_INPUT = 2
T = TypeVar("T")

app = typer.Typer(
    name="experiments",
    help="A/B experiments between model versions (not MLflow experiments): start, list, show, "
    "stop, analyze.",
    no_args_is_help=True,
    rich_markup_mode=None,
)


def _run(ctx: typer.Context, step: Callable[[], T]) -> T:
    """``step()``, its errors reported on one line with exit code 2."""
    with cannot_run(ctx, code=BAD_INPUT):
        return step()


@contextmanager
def _experiments(ctx: typer.Context) -> Iterator[tuple[FeatureStore, ExperimentStore]]:
    from skewless.experiments.records import ExperimentStore

    with open_store(ctx) as store:
        yield store, ExperimentStore(store.registry, store.now)


def _print(*parts: Any) -> None:
    out = console()
    for part in parts:
        out.print(part)


@app.command("start")
def start(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="The experiment's YAML file.")],
) -> None:
    """Record an experiment as running; a server started with --experiment NAME routes by it."""
    from skewless.experiments.spec import load_experiment

    def step() -> str:
        spec = load_experiment(file)
        with _experiments(ctx) as (_, experiments):
            record = experiments.start(spec)
        arms = ", ".join(f"{k}={v:g}" for k, v in record.weights.items())
        return f"experiment {record.name} running on model {spec.model} ({arms})"

    _print(Text(_run(ctx, step), style="green"))


@app.command("list")
def list_experiments(ctx: typer.Context) -> None:
    """List the experiments: model, status, arms and their weights now, start and stop."""
    from skewless.cli.experiments_tables import records_table

    def step() -> Any:
        with _experiments(ctx) as (_, experiments):
            return experiments.list()

    records = _run(ctx, step)
    _print(records_table(records) if records else Text("no experiments yet", style="dim"))


@app.command("show")
def show(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The experiment.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the record as JSON.")] = False,
) -> None:
    """Show an experiment: its spec and arms, its weights over time and its decisions."""
    from skewless.cli.experiments_tables import record_tables

    def step() -> Any:
        with _experiments(ctx) as (_, experiments):
            return experiments.get(name)

    record = _run(ctx, step)
    if as_json:
        sys.stdout.write(orjson.dumps(record.to_dict(), option=orjson.OPT_INDENT_2).decode())
        sys.stdout.write("\n")
        return
    _print(*record_tables(record))


@app.command("stop")
def stop(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The experiment.")],
    winner: Annotated[
        str | None, typer.Option("--winner", help="The arm that won, to record it.")
    ] = None,
    reason: Annotated[str, typer.Option("--reason", help="Why it stops.")] = "stopped by hand",
) -> None:
    """Stop an experiment: servers route every request to the champion again."""

    def step() -> Any:
        with _experiments(ctx) as (_, experiments):
            return experiments.stop(name, reason, winner=winner)

    record = _run(ctx, step)
    won = f", winner {record.winner}" if record.winner else ""
    _print(Text(f"experiment {record.name} stopped ({record.stop_reason}{won})"))


def parse_thresholds(items: list[str]) -> Thresholds:
    """``["min_f1=0.8", "max_p99_ms=50"]`` as gate :class:`~skewless.models.Thresholds`.

    Raises:
        ExperimentInputError: an item not ``NAME=VALUE``, an unknown name or a bad number.
    """
    from skewless.errors import ExperimentInputError
    from skewless.models import Thresholds

    names = {f.name for f in fields(Thresholds)}
    text_fields = {"baseline", "primary_metric"}
    values: dict[str, Any] = {}
    for item in items:
        key, _, value = item.partition("=")
        key = key.strip().replace("-", "_")
        if not value or key not in names:
            raise ExperimentInputError(
                f"--gate-threshold {item!r} is not NAME=VALUE with NAME one of "
                f"{', '.join(sorted(names))} (e.g. min_f1=0.8)"
            )
        try:
            values[key] = value.strip() if key in text_fields else float(value)
        except ValueError:
            raise ExperimentInputError(
                f"--gate-threshold {item!r}: {value!r} is not a number"
            ) from None
    return Thresholds(**values)


@app.command("analyze")
def analyze(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The experiment.")],
    json_path: Annotated[
        Path | None, typer.Option("--json", help="Write the analysis as JSON to this file.")
    ] = None,
    report_path: Annotated[
        Path | None, typer.Option("--report", help="Write the HTML page to this file.")
    ] = None,
    promote: Annotated[
        bool,
        typer.Option("--promote", help="Gate the winner and promote it to the champion's alias."),
    ] = False,
    gate_dataset: Annotated[
        str | None,
        typer.Option("--gate-dataset", help="The held-out dataset the winner is gated on."),
    ] = None,
    gate_threshold: Annotated[
        list[str] | None,
        typer.Option("--gate-threshold", help="A gate limit NAME=VALUE, e.g. min_f1=0.8."),
    ] = None,
    to: Annotated[
        str | None,
        typer.Option("--to", help="The alias to promote to (default: the champion's)."),
    ] = None,
    log: Annotated[
        str | None, typer.Option("--log", help="The prediction log (default: the model's).")
    ] = None,
) -> None:
    """Compute an experiment's results from its prediction log and feedback.

    Exits 0 when the analysis ran, 1 when --promote promoted nothing, 2 when it cannot run.
    """
    from skewless.cli.experiments_tables import analysis_tables

    if promote and gate_dataset is None:
        _run(ctx, lambda: _refuse("--promote needs --gate-dataset NAME: a held-out saved dataset"))
    thresholds = _run(ctx, lambda: parse_thresholds(gate_threshold or []))

    def step() -> Any:
        from skewless.experiments.analysis import analyze_experiment

        with _experiments(ctx) as (store, experiments), status("analysing"):
            record = experiments.get(name)
            analysis = analyze_experiment(record, store.repo_path, now=store.now(), log=log)
        _write(analysis, json_path, report_path)
        return analysis

    analysis = _run(ctx, step)
    _print(*analysis_tables(analysis))
    if not promote:
        return
    if analysis.winner is None:
        _print(Text(f"nothing promoted: the analysis says {analysis.decision!r}", style="bold"))
        raise typer.Exit(NOT_PROMOTED)
    _promote(ctx, analysis, str(gate_dataset), thresholds, to)


def _refuse(message: str) -> None:
    from skewless.errors import ExperimentInputError

    raise ExperimentInputError(message)


def _write(analysis: Any, json_path: Path | None, report_path: Path | None) -> None:
    from skewless._files import write_text_atomically

    if json_path is not None:
        write_text_atomically(json_path, analysis.to_json())
    if report_path is not None:
        from skewless.experiments.html import render_experiment_html

        write_text_atomically(report_path, render_experiment_html(analysis.to_dict()))


def _promote(
    ctx: typer.Context, analysis: Any, dataset: str, thresholds: Thresholds, to: str | None
) -> None:
    from skewless.cli.gate import print_gate

    def step() -> Any:
        from skewless.experiments.promotion import promote_winner

        with _experiments(ctx) as (store, experiments), status("gating"):
            return promote_winner(
                analysis, experiments, store, dataset=dataset, thresholds=thresholds, to=to
            )

    outcome = _run(ctx, step)
    print_gate(outcome.gate)
    previous = f"version {outcome.previous}" if outcome.previous is not None else "no version"
    if outcome.promoted is None:
        _print(
            Text(
                f"nothing promoted: {outcome.model} version {outcome.version} failed its "
                f"gate; {outcome.alias} still serves {previous}",
                style="bold red",
            )
        )
        raise typer.Exit(NOT_PROMOTED)
    _print(
        Text(
            f"promoted {outcome.model} version {outcome.version} ({outcome.arm}) to "
            f"{outcome.alias}, replacing {previous}; experiment {analysis.experiment} "
            "stopped",
            style="bold green",
        )
    )
