"""Pipelines as code and their local runner.

A pipeline is a list of steps of plain functions declared in the repository (any ``.py`` file,
usually ``pipelines.py``), registered by ``skewless apply`` and versioned like every
definition. ``store.run_pipeline(name)`` or ``skewless pipelines run NAME`` runs it, recording
each step in the registry (and in MLflow when the repository uses it), skipping steps whose
code and inputs are unchanged, retrying as each step says, and resuming a failed run from its
failed step. Triggers (cron, drift, a performance drop) start runs through the worker
(``skewless pipelines worker``), one run at a time per pipeline, and a retrained challenger
reaches production only when it wins. See docs/pipelines.md.

Example:
    >>> from skewless.pipelines import Pipeline, Step  # doctest: +SKIP
    >>> nightly = Pipeline("nightly", steps=[Step("load", load), Step("fit", fit)],
    ...                    params={"max_iter": 15})  # doctest: +SKIP
"""

from skewless.definitions import Pipeline, Step
from skewless.pipelines.execution import RunInfo
from skewless.pipelines.hooks import RunHook
from skewless.pipelines.records import PipelineRun, RunStore, RunTrigger, StepRecord
from skewless.pipelines.retraining import TrainingSet, retraining_pipeline
from skewless.pipelines.runner import RunContext, run_pipeline, run_step
from skewless.pipelines.triggers import Trigger, TriggerStore, schedule
from skewless.pipelines.worker import Worker

__all__ = [
    "Pipeline",
    "PipelineRun",
    "RunContext",
    "RunHook",
    "RunInfo",
    "RunStore",
    "RunTrigger",
    "Step",
    "StepRecord",
    "TrainingSet",
    "Trigger",
    "TriggerStore",
    "Worker",
    "retraining_pipeline",
    "run_pipeline",
    "run_step",
    "schedule",
]
