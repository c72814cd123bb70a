"""Hooks around the runner's loop: each observes a run without the loop knowing what for.

A hook is told when a run starts and ends and when each step starts and ends; the MLflow
hook (:mod:`skewless.pipelines.tracking`) and the live display
(:mod:`skewless.pipelines.display`) are hooks, and so is anything a caller adds.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from skewless.pipelines.records import PipelineRun, StepRecord

__all__ = ["RunHook"]


class RunHook:
    """Does nothing at each point of a run; subclasses override what they need."""

    def run_started(self, run: PipelineRun) -> PipelineRun:
        """The run is about to run its steps; returns the run (a hook may add to it)."""
        return run

    def step_started(self, run: PipelineRun, step: StepRecord) -> None:
        """``step`` starts running (not called for a step taken from the cache)."""

    def step_ended(self, run: PipelineRun, step: StepRecord) -> None:
        """``step`` succeeded, failed or was taken from the cache."""

    def run_ended(self, run: PipelineRun) -> None:
        """The run succeeded or failed."""
