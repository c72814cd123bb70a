"""Running the steps of one run: binding inputs, the cache, attempts, and the records.

:class:`Execution` is the runner's loop (see :mod:`skewless.pipelines.runner`). Each step's
record is written to the registry when the step starts and when it ends, and every hook is
told; an output is kept on disk before its step is recorded as succeeded, so a record never
points at an output that is not there.
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from skewless.definitions import Pipeline, Step
from skewless.definitions.pipeline import Binding
from skewless.errors import PipelineInputError
from skewless.pipelines.hooks import RunHook
from skewless.pipelines.outputs import OutputStore, digest_of, preview_of, value_digest
from skewless.pipelines.records import PipelineRun, RunStore, StepRecord

if TYPE_CHECKING:
    from skewless.registry import Registry

__all__ = ["Execution", "RunContext", "RunInfo", "cache_key", "utc_now"]

_TRACEBACK_CHARS = 20_000


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class RunContext:
    """What a run needs: the registry, the repository, what steps may receive, and hooks.

    Attributes:
        registry: holds the pipeline and its runs.
        repo_path: the repository, whose files the steps' functions are imported from.
        resources: what a parameter named like a resource receives (``store``: the
            repository's FeatureStore); ``run`` is filled by the runner itself.
        hooks: observers of the run (MLflow, the live display).
        clock: "now" (UTC).
        sleep: waits between attempts (tests pass a recorder).
    """

    registry: Registry
    repo_path: Path
    resources: Mapping[str, Any] = field(default_factory=dict)
    hooks: Sequence[RunHook] = ()
    clock: Callable[[], datetime] = utc_now
    sleep: Callable[[float], None] = time.sleep


@dataclass(frozen=True)
class RunInfo:
    """What a step's ``run`` parameter receives: which run and attempt this is.

    Attributes:
        pipeline: the pipeline's name.
        run_id: the run's id (empty in the pipeline's check, before the run exists).
        step: the step running.
        attempt: 1 for the first attempt.
        params: every param of the run.
    """

    pipeline: str
    run_id: str
    step: str
    attempt: int
    params: Mapping[str, Any]


def cache_key(code: str, inputs_digest: str) -> str:
    """The cache key of a step: its code hash and its inputs' digest, hashed together.

    >>> cache_key("c", "i") == cache_key("c", "i") != cache_key("c", "j")
    True
    """
    return digest_of(f"{code}\n{inputs_digest}".encode())


def _error_line(exc: BaseException) -> str:
    text = " ".join(part.strip() for part in str(exc).splitlines() if part.strip())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _pick(value: Any, attr: str) -> Any:
    if not attr:
        return value
    if isinstance(value, Mapping):
        return value[attr]
    return getattr(value, attr)


class Execution:
    """The steps of one pipeline, run against its records.

    Args:
        context: the run's context.
        pipeline: the registered pipeline.
        functions: step name -> the imported function.
        runs: where runs are recorded.
        outputs: where outputs are kept.
    """

    def __init__(
        self,
        context: RunContext,
        pipeline: Pipeline,
        functions: Mapping[str, Callable[..., Any]],
        runs: RunStore,
        outputs: OutputStore,
    ) -> None:
        self.context = context
        self.pipeline = pipeline
        self.functions = functions
        self.runs = runs
        self.outputs = outputs
        self._loaded: dict[str, Any] = {}
        self._earlier: list[PipelineRun] | None = None

    # -- the loop --------------------------------------------------------------------------
    def run_all(self, run: PipelineRun) -> PipelineRun:
        """Run every step not done yet, in order, until one fails; the ended run."""
        run = self._started(run)
        try:
            for step in self.pipeline.steps:
                if run.step(step.name).done:
                    continue
                run = self._step(run, step)
                if run.step(step.name).status == "failed":
                    break
        except BaseException as exc:  # an interrupt: the run must not stay "running"
            run = self._interrupted(run, exc)
            raise
        return self._ended(run)

    def run_one(self, run: PipelineRun, step: Step) -> PipelineRun:
        """Run ``step`` of ``run``; the run, ended when its last step is done or one failed."""
        run = self._started(run)
        try:
            run = self._step(run, step)
        except BaseException as exc:
            run = self._interrupted(run, exc)
            raise
        if run.step(step.name).status == "failed" or all(s.done for s in run.steps):
            return self._ended(run)
        return run

    def _started(self, run: PipelineRun) -> PipelineRun:
        for hook in self.context.hooks:
            run = hook.run_started(run)
        if run.status != "running":
            run = replace(run, status="running", ended_at=None, failed_step=None)
        return self.runs.save(run)

    def _ended(self, run: PipelineRun) -> PipelineRun:
        failed = next((s.name for s in run.steps if s.status == "failed"), None)
        ended = self.context.clock()
        if failed:
            run = replace(run, status="failed", failed_step=failed, ended_at=ended)
        else:
            run = replace(run, status="succeeded", failed_step=None, ended_at=ended)
        run = self.runs.save(run)
        for hook in self.context.hooks:
            hook.run_ended(run)
        return run

    def _interrupted(self, run: PipelineRun, exc: BaseException) -> PipelineRun:
        current = self.runs.find(run.run_id) or run
        running = next((s for s in current.steps if s.status == "running"), None)
        if running is not None:
            current = current.with_step(
                replace(running, status="failed", error=f"interrupted ({_error_line(exc)})")
            )
        return self._ended(current)

    # -- one step --------------------------------------------------------------------------
    def _step(self, run: PipelineRun, step: Step) -> PipelineRun:
        bindings = self.pipeline.bindings[step.name]
        used = {b.name: run.params[b.name] for b in bindings if b.source == "param"}
        inputs_digest = self._inputs_digest(run, bindings)
        key = cache_key(step.code_hash, inputs_digest)
        record = StepRecord(
            step.name, code_hash=step.code_hash, params=used, inputs_digest=inputs_digest,
            cache_key=key,
        )  # fmt: skip
        hit = self._cache_hit(run, step, key) if step.cache else None
        if hit is not None:
            record = replace(
                record,
                status="skipped-cached",
                output_digest=hit.output_digest,
                output_preview=hit.output_preview,
                output_path=hit.output_path,
                cached_from=hit.cached_from,
                started_at=self.context.clock(),
                duration_s=0.0,
            )
            return self._ended_step(run, record)
        record = replace(record, status="running", started_at=self.context.clock())
        run = self.runs.save(run.with_step(record))
        for hook in self.context.hooks:
            hook.step_started(run, record)
        return self._attempts(run, step, record, bindings)

    def _attempts(
        self, run: PipelineRun, step: Step, record: StepRecord, bindings: tuple[Binding, ...]
    ) -> PipelineRun:
        fn = self.functions[step.name]
        began = time.perf_counter()
        attempt = 0
        while True:
            attempt += 1
            try:
                kwargs = self._arguments(run, step, bindings, attempt)
                value = fn(**kwargs)
            except PipelineInputError as exc:  # an output that is gone: retrying cannot help
                failure = _failure(record, attempt, exc, began)
                return self._ended_step(run, failure)
            except Exception as exc:
                failure = _failure(record, attempt, exc, began)
                if attempt > step.retries:
                    return self._ended_step(run, failure)
                run = self.runs.save(run.with_step(replace(failure, status="running")))
                self.context.sleep(step.backoff_s * 2 ** (attempt - 1))
                continue
            break
        path, digest = self.outputs.save(self.pipeline.name, run.run_id, step.name, value)
        self._loaded[step.name] = value
        done = replace(
            record,
            status="succeeded",
            attempts=attempt,
            output_digest=digest,
            output_preview=preview_of(value),
            output_path=path,
            duration_s=time.perf_counter() - began,
            error=None,
            traceback=None,
        )
        return self._ended_step(run, done)

    def _ended_step(self, run: PipelineRun, record: StepRecord) -> PipelineRun:
        run = self.runs.save(run.with_step(record))
        for hook in self.context.hooks:
            hook.step_ended(run, record)
        return run

    # -- inputs ----------------------------------------------------------------------------
    def _inputs_digest(self, run: PipelineRun, bindings: tuple[Binding, ...]) -> str:
        parts = []
        for b in bindings:
            if b.source == "step":
                source = run.step(b.name).output_digest
            elif b.source == "param":
                source = value_digest(run.params[b.name])
            else:
                source = b.name
            parts.append(f"{b.parameter}={b.source}:{b.name}.{b.attr}:{source}")
        return digest_of("\n".join(parts).encode())

    def _arguments(
        self, run: PipelineRun, step: Step, bindings: tuple[Binding, ...], attempt: int
    ) -> dict[str, Any]:
        kwargs: dict[str, Any] = {}
        for b in bindings:
            if b.source == "step":
                kwargs[b.parameter] = _pick(self._output(run, b.name), b.attr)
            elif b.source == "param":
                kwargs[b.parameter] = run.params[b.name]
            elif b.source == "resource" and b.name == "run":
                kwargs[b.parameter] = RunInfo(
                    self.pipeline.name, run.run_id, step.name, attempt, dict(run.params)
                )
            elif b.source == "resource":
                kwargs[b.parameter] = self.context.resources[b.name]
        return kwargs

    def _output(self, run: PipelineRun, name: str) -> Any:
        if name not in self._loaded:
            self._loaded[name] = self.outputs.load(run.step(name).output_path)
        return self._loaded[name]

    # -- the cache -------------------------------------------------------------------------
    def _cache_hit(self, run: PipelineRun, step: Step, key: str) -> StepRecord | None:
        if self._earlier is None:
            self._earlier = [
                r for r in self.runs.list(self.pipeline.name) if r.run_id != run.run_id
            ]
        for earlier in reversed(self._earlier):
            for record in earlier.steps:
                if (
                    record.name == step.name
                    and record.done
                    and record.cache_key == key
                    and self.outputs.exists(record.output_path)
                ):
                    if record.cached_from is None:
                        return replace(record, cached_from=earlier.run_id)
                    return record
        return None


def _failure(record: StepRecord, attempt: int, exc: BaseException, began: float) -> StepRecord:
    text = "".join(traceback.format_exception(exc))
    return replace(
        record,
        status="failed",
        attempts=attempt,
        duration_s=time.perf_counter() - began,
        error=_error_line(exc),
        traceback=text[-_TRACEBACK_CHARS:],
    )
