"""The local runner: run a registered pipeline's steps in order, recording each as it goes.

Before any step runs, the runner imports every step's function from the repository and
refuses when one's code no longer has the hash the registry holds (re-apply first), then
runs the pipeline's check. Each step's inputs are bound as the pipeline declared; a step
whose code and inputs match a succeeded step of an earlier run is taken from that run's
output instead of running (``skipped-cached``); a step that raises is retried with doubling
waits as its policy says, and when it still fails the run records the traceback and stops.
``resume`` re-runs a failed run from its failed step, reusing the outputs before it.

Example:
    >>> context = RunContext(registry, repo_path, resources={"store": store})  # doctest: +SKIP
    >>> run = run_pipeline(context, "nightly", {"max_iter": 20})  # doctest: +SKIP
    >>> run.status, [s.status for s in run.steps]  # doctest: +SKIP
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from skewless.definitions import Pipeline, definition_hash
from skewless.definitions.pipeline import CHECK_KEY, code_hash
from skewless.errors import DefinitionError, PipelineInputError, UnknownObjectError
from skewless.pipelines.execution import Execution, RunContext, RunInfo, utc_now
from skewless.pipelines.outputs import OutputStore
from skewless.pipelines.params import run_params
from skewless.pipelines.records import PipelineRun, RunStore, RunTrigger, StepRecord, new_run_id
from skewless.repo import import_functions

if TYPE_CHECKING:
    from skewless.config import RepoConfig
    from skewless.registry import Registry

__all__ = [
    "RunContext",
    "RunInfo",
    "load_pipeline",
    "pipeline_context",
    "run_pipeline",
    "run_step",
]


def pipeline_context(
    config: RepoConfig,
    registry: Registry,
    resources: Mapping[str, Any],
    *,
    progress: bool | None = None,
    tracking: bool | None = None,
    clock: Callable[[], datetime] = utc_now,
    sleep: Callable[[float], None] = time.sleep,
) -> RunContext:
    """The context of runs in a repository, with its hooks.

    Args:
        progress: draw the live display (default: when standard error is a terminal).
        tracking: record runs in MLflow (default: when the repository uses MLflow).
    """
    from skewless.pipelines.display import display_hook
    from skewless.pipelines.tracking import tracking_hook

    hooks = [h for h in (tracking_hook(config, tracking), display_hook(progress)) if h]
    return RunContext(registry, Path(config.repo_path), resources, hooks, clock, sleep)


def load_pipeline(context: RunContext, name: str) -> tuple[Pipeline, dict[str, Callable[..., Any]]]:
    """The registered pipeline ``name`` and its functions, imported from the repository.

    Raises:
        PipelineInputError: no such pipeline, a function that cannot be imported, or one
            whose code changed since the pipeline was applied.
    """
    try:
        pipeline = context.registry.snapshot().get_pipeline(name)
    except UnknownObjectError as exc:
        raise PipelineInputError(str(exc)) from None
    steps = [*pipeline.steps, *([pipeline.check] if pipeline.check else [])]
    try:
        imported = import_functions(context.repo_path, sorted({s.reference for s in steps}))
    except DefinitionError as exc:
        raise PipelineInputError(f"pipeline {name!r}: {exc}") from None
    functions: dict[str, Callable[..., Any]] = {}
    for step in steps:
        fn = imported[step.reference]
        what = f"pipeline {name!r} step {step.name!r}"
        try:
            now = code_hash(fn, what)
        except DefinitionError as exc:
            raise PipelineInputError(str(exc)) from None
        if now != step.code_hash:
            raise PipelineInputError(
                f"{what}: the code of {step.reference} changed since the pipeline was applied: "
                "re-apply the repository (`skewless apply`) to run the new code"
            )
        functions[step.name] = fn
    return pipeline, functions


def run_pipeline(
    context: RunContext,
    name: str,
    params: Mapping[str, Any] | None = None,
    resume: str | None = None,
    trigger: RunTrigger | None = None,
) -> PipelineRun:
    """Run pipeline ``name`` (or resume its failed run ``resume``); the run's record.

    A step failure does not raise: the run's ``status`` is ``failed`` and its failed step's
    record holds the error and traceback.

    Args:
        trigger: why the run starts (default: ``manual``, run by hand); a resumed run keeps
            the trigger it started with.

    Raises:
        PipelineInputError: the pipeline cannot run (see :func:`load_pipeline`), a param is
            unknown, its check refused, or ``resume`` is not a failed run of it.
    """
    pipeline, functions = load_pipeline(context, name)
    runs = RunStore(context.registry)
    if resume is not None:
        if params:
            raise PipelineInputError(
                "--resume runs with the params of the run it resumes: leave out --params"
            )
        run = _resumed(runs, pipeline, resume, context.clock())
    else:
        values = run_params(pipeline, params)
        _check(context, pipeline, functions, values)
        run = runs.create(_new_run(pipeline, values, context.clock(), trigger=trigger))
    execution = Execution(context, pipeline, functions, runs, OutputStore(context.repo_path))
    return execution.run_all(run)


_RUN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:+\-]{0,127}")


def check_run_id(run_id: str) -> str:
    """``run_id`` when it is a safe run id (it names a directory of step outputs).

    >>> check_run_id("airflow-manual__2024-01-01T00:00:00+00:00")
    'airflow-manual__2024-01-01T00:00:00+00:00'

    Raises:
        PipelineInputError: it is empty, longer than 128 characters, or holds other
            characters than letters, digits, ``_``, ``.``, ``:``, ``+`` and ``-``.
    """
    if not isinstance(run_id, str) or not _RUN_ID.fullmatch(run_id) or ".." in run_id:
        raise PipelineInputError(
            f"run id {run_id!r} is not a run id: use up to 128 letters, digits, '_', '.', ':', "
            "'+' and '-', starting with a letter or digit"
        )
    return run_id


def run_step(
    context: RunContext,
    name: str,
    step: str,
    run_id: str,
    params: Mapping[str, Any] | None = None,
) -> PipelineRun:
    """Run one step of run ``run_id`` of pipeline ``name`` (for an orchestrator running each
    step as its own task). The run is created on its first step; a later step needs the
    steps it reads to have succeeded in that run.

    Raises:
        PipelineInputError: as :func:`run_pipeline`, or a step the step reads has not
            succeeded in the run, or the run belongs to another pipeline.
    """
    check_run_id(run_id)
    pipeline, functions = load_pipeline(context, name)
    target = pipeline.get_step(step) if step in pipeline.step_names else None
    if target is None:
        raise PipelineInputError(
            f"pipeline {name!r} has no step {step!r} (steps: {', '.join(pipeline.step_names)})"
        )
    runs = RunStore(context.registry)
    run = runs.find(run_id)
    if run is None:
        values = run_params(pipeline, params)
        _check(context, pipeline, functions, values)
        run = runs.create(_new_run(pipeline, values, context.clock(), run_id))
    elif run.pipeline != name:
        raise PipelineInputError(
            f"run {run_id} is a run of pipeline {run.pipeline!r}, not {name!r}: pass its name"
        )
    elif params:
        raise PipelineInputError(
            f"run {run_id} exists already with its params: leave out --params for its later steps"
        )
    for binding in pipeline.bindings[step]:
        if binding.source == "step" and not run.step(binding.name).done:
            raise PipelineInputError(
                f"step {step!r} reads the output of step {binding.name!r}, which has not "
                f"succeeded in run {run_id}: run `skewless pipelines step {name} "
                f"{binding.name} --run-id {run_id}` first"
            )
    execution = Execution(context, pipeline, functions, runs, OutputStore(context.repo_path))
    return execution.run_one(run, target)


def _new_run(
    pipeline: Pipeline,
    values: dict[str, Any],
    now: datetime,
    run_id: str | None = None,
    trigger: RunTrigger | None = None,
) -> PipelineRun:
    return PipelineRun(
        run_id=run_id or new_run_id(now),
        pipeline=pipeline.name,
        pipeline_hash=definition_hash(pipeline.to_spec()),
        params=values,
        status="running",
        steps=tuple(StepRecord(s.name) for s in pipeline.steps),
        started_at=now,
        trigger=trigger or RunTrigger("manual", "run by hand", now),
    )


def _check(
    context: RunContext,
    pipeline: Pipeline,
    functions: Mapping[str, Callable[..., Any]],
    values: Mapping[str, Any],
) -> None:
    """Run the pipeline's check; its error, as one line, says why the pipeline cannot run."""
    missing = sorted(
        {
            b.name
            for bindings in pipeline.bindings.values()
            for b in bindings
            if b.source == "resource" and b.name != "run" and b.name not in context.resources
        }
    )
    if missing:
        raise PipelineInputError(
            f"pipeline {pipeline.name!r} needs {', '.join(missing)}, which this runner was not "
            "given: run it with store.run_pipeline(...) or `skewless pipelines run`"
        )
    if pipeline.check is None:
        return
    kwargs: dict[str, Any] = {}
    info = RunInfo(pipeline.name, "", "check", 1, dict(values))
    for binding in pipeline.bindings[CHECK_KEY]:
        if binding.source == "param":
            kwargs[binding.parameter] = values[binding.name]
        elif binding.source == "resource":
            kwargs[binding.parameter] = (
                info if binding.name == "run" else (context.resources[binding.name])
            )
    try:
        functions["check"](**kwargs)
    except PipelineInputError:
        raise
    except Exception as exc:
        raise PipelineInputError(f"pipeline {pipeline.name!r} cannot run: {exc}") from None


def _resumed(runs: RunStore, pipeline: Pipeline, run_id: str, now: datetime) -> PipelineRun:
    run = runs.get(run_id)
    if run.pipeline != pipeline.name:
        raise PipelineInputError(
            f"run {run_id} is a run of pipeline {run.pipeline!r}, not {pipeline.name!r}"
        )
    if run.status != "failed" or run.failed_step is None:
        raise PipelineInputError(
            f"run {run_id} of pipeline {pipeline.name!r} is {run.status}, not failed: only a "
            "failed run resumes; start a new run instead"
        )
    if [s.name for s in run.steps] != list(pipeline.step_names):
        raise PipelineInputError(
            f"pipeline {pipeline.name!r} has other steps now than when run {run_id} ran: start a "
            "new run instead of resuming"
        )
    failed_at = pipeline.step_names.index(run.failed_step)
    for step, record in zip(pipeline.steps[:failed_at], run.steps[:failed_at], strict=True):
        if record.code_hash != step.code_hash:
            raise PipelineInputError(
                f"step {step.name!r} ran other code in run {run_id} than pipeline "
                f"{pipeline.name!r} holds now: start a new run instead of resuming"
            )
    steps = tuple(
        record if i < failed_at else StepRecord(record.name) for i, record in enumerate(run.steps)
    )
    resumed = replace(
        run,
        status="running",
        steps=steps,
        failed_step=None,
        ended_at=None,
        resumes=(*run.resumes, now.isoformat()),
    )
    return runs.save(resumed)
