"""A live table of a run's steps on a terminal; nothing when standard error is not one."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

from skewless.pipelines.hooks import RunHook

if TYPE_CHECKING:
    from skewless.pipelines.records import PipelineRun, StepRecord

__all__ = ["LiveDisplay", "display_hook", "status_text"]

_STYLES = {
    "pending": "dim",
    "running": "yellow",
    "succeeded": "green",
    "failed": "bold red",
    "skipped-cached": "cyan",
}


def status_text(step: StepRecord) -> str:
    """What a step did, in words: ``skipped (cached from run X)``, ``failed after 3 attempts``.

    >>> from skewless.pipelines.records import StepRecord
    >>> status_text(StepRecord("train", status="skipped-cached", cached_from="r1"))
    'skipped-cached (cached from run r1)'
    """
    if step.status == "skipped-cached":
        return f"skipped-cached (cached from run {step.cached_from})"
    if step.status in ("failed", "succeeded") and step.attempts > 1:
        return f"{step.status} after {step.attempts} attempts"
    return step.status


def display_hook(enabled: bool | None = None) -> LiveDisplay | None:
    """The live display; by default only when standard error is a terminal."""
    if enabled is None:
        enabled = sys.stderr.isatty()
    return LiveDisplay() if enabled else None


class LiveDisplay(RunHook):
    """Redraws the table of steps (status, attempts, duration) as the run goes."""

    def __init__(self) -> None:
        self._live: Any = None

    def _table(self, run: PipelineRun) -> Any:
        from rich.table import Table
        from rich.text import Text

        table = Table(title=f"pipeline {run.pipeline} run {run.run_id}", title_justify="left")
        for column in ("STEP", "STATUS", "DURATION"):
            table.add_column(column)
        for step in run.steps:
            took = "-" if step.duration_s is None else f"{step.duration_s:.2f}s"
            style = _STYLES.get(step.status, "")
            table.add_row(Text(step.name), Text(status_text(step), style=style), took)
        return table

    def _show(self, run: PipelineRun) -> None:
        if self._live is None:
            from rich.console import Console
            from rich.live import Live

            self._live = Live(self._table(run), console=Console(file=sys.stderr))
            self._live.start()
        else:
            self._live.update(self._table(run))

    def run_started(self, run: PipelineRun) -> PipelineRun:
        self._show(run)
        return run

    def step_started(self, run: PipelineRun, step: StepRecord) -> None:
        self._show(run)

    def step_ended(self, run: PipelineRun, step: StepRecord) -> None:
        self._show(run)

    def run_ended(self, run: PipelineRun) -> None:
        self._show(run)
        self._live.stop()
        self._live = None
