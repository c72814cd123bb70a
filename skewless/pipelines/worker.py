"""The worker: evaluates every pipeline trigger and runs what fired, one run at a time per
pipeline, then looks after the rollouts the retraining pipeline left open.

Each :meth:`Worker.tick` reads the triggers (:mod:`skewless.pipelines.triggers`) and judges each
at the worker's clock:

- ``cron``: due when its expression was due since its last evaluation (or since it was
  scheduled); times missed while no worker ran fire one run, not one each;
- ``drift``: every ``every``, :func:`~skewless.monitoring.monitor.monitor_model` over the
  trigger's window; it fires when the result drifted as ``fail_on`` judges it (the case where
  ``skewless monitor`` exits 1). When monitoring cannot run (an unknown model, no prediction
  log, an empty window: where ``skewless monitor`` exits 2) the error is recorded on the
  trigger and nothing runs;
- ``performance``: the same monitoring run's performance report; it fires when the report is
  ``degraded``. Without labels for the window it does not judge.

A firing trigger first takes the pipeline's lease (:mod:`skewless.pipelines.lease`): held by
another worker, the trigger waits. Then the cooldown: no trigger-fired run of the pipeline
within the trigger's cooldown of the last one. Then it claims the firing (a compare-and-set on
the trigger, so two workers never both run it) and runs the pipeline with the trigger's params,
the run recording why it started. The clock and the sleep are injected, so a test goes through
a week of schedules in seconds.

Example:
    >>> worker = Worker(store, poll=timedelta(seconds=30))  # doctest: +SKIP
    >>> for evaluation in worker.tick():  # doctest: +SKIP
    ...     print(evaluation)
"""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from skewless.errors import RegistryConflictError
from skewless.models.holds import process_holder
from skewless.pipelines.execution import RunContext
from skewless.pipelines.hooks import RunHook
from skewless.pipelines.lease import Heartbeat, Lease, Leases
from skewless.pipelines.records import PipelineRun, RunStore, RunTrigger
from skewless.pipelines.rollouts import check_rollouts
from skewless.pipelines.triggers import (
    Action,
    Evaluation,
    Trigger,
    TriggerStore,
    cron_due,
    next_cron,
)

if TYPE_CHECKING:
    from skewless.monitoring.monitor import MonitorResult
    from skewless.store import FeatureStore

__all__ = ["DEFAULT_LEASE", "DEFAULT_POLL", "Evaluation", "Worker"]

DEFAULT_POLL = timedelta(seconds=30)
DEFAULT_LEASE = timedelta(minutes=5)


def _error_line(exc: BaseException) -> str:
    return (
        " ".join(part.strip() for part in str(exc).splitlines() if part.strip())
        or type(exc).__name__
    )


class _Guard(RunHook):
    """Records on the lease the run it guards, as soon as the run exists."""

    def __init__(self, heartbeat: Heartbeat) -> None:
        self.heartbeat = heartbeat

    def run_started(self, run: PipelineRun) -> PipelineRun:
        self.heartbeat.guard(run.run_id)
        return run


class Worker:
    """Evaluates the triggers of one repository and runs what fires.

    Args:
        store: the repository.
        clock: "now" (UTC); default the store's clock. Runs, leases and cooldowns read it.
        sleep: waits between ticks (a fake clock's ``advance`` in tests).
        poll: the longest wait between two ticks.
        lease: how long a lease holds between two renewals of the heartbeat.
        owner: the worker's name in leases (default ``host:pid:tag``).
        tracking: record runs in MLflow (default: when the repository uses MLflow).
        report: told each evaluation (default: nothing).
    """

    def __init__(
        self,
        store: FeatureStore,
        *,
        clock: Callable[[], datetime] | None = None,
        sleep: Callable[[float], None] = time.sleep,
        poll: timedelta = DEFAULT_POLL,
        lease: timedelta = DEFAULT_LEASE,
        owner: str | None = None,
        tracking: bool | None = None,
        report: Callable[[Evaluation], None] | None = None,
    ) -> None:
        self.store = store
        self.clock = clock or store.now
        self.sleep = sleep
        self.poll = poll
        self.lease_ttl = lease
        self.owner = owner or f"{process_holder()}:{uuid.uuid4().hex[:4]}"
        self.tracking = tracking
        self.report = report or (lambda evaluation: None)
        self.triggers = TriggerStore(store.registry)
        self.runs = RunStore(store.registry)
        self.leases = Leases(store.registry, self.clock)

    # -- the loop --------------------------------------------------------------------------
    def run(self, *, once: bool = False, until: datetime | None = None) -> None:
        """Tick until stopped (an interrupt), once (``once``), or until the clock reaches
        ``until``; between ticks, sleep until the next cron time or ``poll``."""
        while True:
            for evaluation in self.tick():
                self.report(evaluation)
            now = self.clock()
            if once or (until is not None and now >= until):
                return
            wake = self.next_wake(now)
            if until is not None:
                wake = min(wake, until)
            self.sleep(max((wake - now).total_seconds(), 0.0))

    def next_wake(self, now: datetime) -> datetime:
        """When the next tick is due: the next cron time of a trigger, or ``poll`` from now."""
        wake = now + self.poll
        for trigger in self.triggers.list():
            if trigger.kind == "cron" and trigger.cron:
                wake = min(wake, next_cron(trigger.cron, now))
            elif trigger.evaluated_at is not None:
                wake = min(wake, max(trigger.evaluated_at + trigger.every, now))
        return wake

    def tick(self) -> list[Evaluation]:
        """Evaluate every trigger at the clock's now, then the open rollouts; what was done
        (triggers that were not due are left out)."""
        done: list[Evaluation] = []
        for trigger in self.triggers.list():
            now = self.clock()
            try:
                found = self._evaluate(trigger, now)
            except Exception as exc:  # one broken trigger must not stop the others
                found = self._error(trigger, now, f"could not be evaluated: {_error_line(exc)}")
            if found is not None:
                done.append(found)
        done += check_rollouts(self.store, self.leases, self.owner, self.clock)
        return done

    # -- judging one trigger ---------------------------------------------------------------
    def _evaluate(self, trigger: Trigger, now: datetime) -> Evaluation | None:
        if trigger.kind == "cron":
            after = trigger.evaluated_at or trigger.created_at
            due, count = cron_due(trigger.cron or "", after, now)
            if due is None:
                return None
            missed = ""
            if count > 1:
                missed = f" ({count - 1} earlier time(s) missed while no worker ran)"
            reason = f"cron {trigger.cron!r} due at {due:%Y-%m-%d %H:%M} UTC{missed}"
            return self._fire(trigger, RunTrigger("cron", reason, now, trigger.id), now)
        if trigger.evaluated_at is not None and now - trigger.evaluated_at < trigger.every:
            return None
        cooling = self._cooling(trigger, now)
        if cooling is not None:
            return self._note(trigger, now, "cooldown", cooling)
        try:
            result = self._monitor(trigger, now)
        except Exception as exc:
            return self._error(
                trigger, now, f"monitoring {trigger.model} failed, so nothing ran: "
                f"{_error_line(exc)}",
            )  # fmt: skip
        fired, text = _judge(trigger, result)
        if not fired:
            return self._note(trigger, now, "quiet", text)
        return self._fire(trigger, RunTrigger(trigger.kind, text, now, trigger.id), now)

    def _monitor(self, trigger: Trigger, now: datetime) -> MonitorResult:
        from skewless.models.tracking import tracking_for
        from skewless.monitoring.monitor import MonitorContext, monitor_model
        from skewless.monitoring.performance_window import performance_step

        root = Path(self.store.repo_path)
        context = MonitorContext(tracking_for(self.store.config), self.store.datasets, root, now)
        labels = root / trigger.labels if trigger.labels else None
        return monitor_model(
            context,
            trigger.model or "",
            window=trigger.window,
            per_day=False,
            predictions=trigger.kind == "drift",
            labels=labels,
            performance=performance_step(label=trigger.label_column,
                                         timestamp=trigger.label_timestamp),
        )  # fmt: skip

    def _cooling(self, trigger: Trigger, now: datetime) -> str | None:
        """Why the pipeline is cooling down at ``now`` (None: it is not)."""
        if trigger.cooldown_s <= 0:
            return None
        fired = [r for r in self.runs.list(trigger.pipeline) if r.triggered and r.trigger]
        if not fired:
            return None
        last = max(fired, key=lambda r: r.trigger.at if r.trigger else r.started_at)
        assert last.trigger is not None
        until = last.trigger.at + trigger.cooldown
        if now >= until:
            return None
        return (
            f"pipeline {trigger.pipeline!r} is cooling down: run {last.run_id} was started by "
            f"trigger {last.trigger.trigger_id} at {last.trigger.at:%Y-%m-%d %H:%M} UTC, so no "
            f"trigger runs it before {until:%Y-%m-%d %H:%M} UTC (--cooldown)"
        )

    # -- firing ----------------------------------------------------------------------------
    def _fire(self, trigger: Trigger, why: RunTrigger, now: datetime) -> Evaluation | None:
        acquired = self.leases.acquire(trigger.pipeline, self.owner, self.lease_ttl)
        if acquired.lease is None:
            return Evaluation(
                trigger.pipeline, trigger.id, "locked", _locked(trigger, acquired.holder)
            )
        with Heartbeat(self.leases, acquired.lease, self.lease_ttl) as heartbeat:
            if acquired.lapsed is not None:
                self._abandon(acquired.lapsed, now)
            cooling = self._cooling(trigger, now)
            if cooling is not None:
                return self._note(trigger, now, "cooldown", cooling)
            try:
                self.triggers.save(
                    replace(trigger, evaluated_at=now, fired_at=now, last_error=None,
                            last_result=f"fired: {why.reason}")
                )  # fmt: skip
            except RegistryConflictError:  # another worker judged it meanwhile
                return None
            return self._start(trigger, why, heartbeat)

    def _start(self, trigger: Trigger, why: RunTrigger, heartbeat: Heartbeat) -> Evaluation:
        from skewless.pipelines.runner import pipeline_context, run_pipeline

        context = pipeline_context(
            self.store.config, self.store.registry, {"store": self.store}, progress=False,
            tracking=self.tracking, clock=self.clock,
        )  # fmt: skip
        context = _with_hook(context, _Guard(heartbeat))
        try:
            run = run_pipeline(context, trigger.pipeline, trigger.params, trigger=why)
        except Exception as exc:
            message = f"pipeline {trigger.pipeline!r} cannot run: {_error_line(exc)}"
            self.triggers.update(trigger, lambda t: replace(t, last_error=message))
            return Evaluation(
                trigger.pipeline, trigger.id, "error", f"trigger {trigger.id}: {message}"
            )
        self.triggers.update(
            trigger,
            lambda t: replace(t, last_run=run.run_id,
                              last_result=f"run {run.run_id} {run.status}: {why.reason}"),
        )  # fmt: skip
        verdict = run.status + (f" at step {run.failed_step}: {run.error}" if run.error else "")
        message = (
            f"trigger {trigger.id} of pipeline {trigger.pipeline!r} fired ({why.reason}): "
            f"run {run.run_id} {verdict}"
        )
        return Evaluation(trigger.pipeline, trigger.id, "fired", message, run.run_id)

    def _abandon(self, lapsed: Lease, now: datetime) -> None:
        """Record the run of a worker whose lease lapsed as failed, if it is still running."""
        run = self.runs.find(lapsed.run_id) if lapsed.run_id else None
        if run is None or run.status != "running":
            return
        error = (
            f"interrupted: worker {lapsed.owner} stopped during the run (its lease lapsed at "
            f"{lapsed.expires_at:%Y-%m-%d %H:%M:%S} UTC); resume with --resume {run.run_id}"
        )
        steps = tuple(
            replace(s, status="failed", error=error) if s.status == "running" else s
            for s in run.steps
        )
        failed = next((s.name for s in steps if s.status == "failed"), run.steps[0].name)
        if not any(s.status == "failed" for s in steps):
            steps = tuple(replace(s, status="failed", error=error) if s.name == failed else s
                          for s in steps)  # fmt: skip
        with contextlib.suppress(RegistryConflictError):
            self.runs.save(
                replace(run, status="failed", steps=steps, failed_step=failed, ended_at=now)
            )

    # -- recording -------------------------------------------------------------------------
    def _note(
        self, trigger: Trigger, now: datetime, action: Action, text: str
    ) -> Evaluation | None:
        try:
            self.triggers.save(
                replace(trigger, evaluated_at=now, last_result=text, last_error=None)
            )
        except RegistryConflictError:  # another worker judged it meanwhile
            return None
        return Evaluation(trigger.pipeline, trigger.id, action, f"trigger {trigger.id}: {text}")

    def _error(self, trigger: Trigger, now: datetime, text: str) -> Evaluation:
        self.triggers.update(
            trigger, lambda t: replace(t, evaluated_at=now, last_error=text, last_result=None)
        )
        return Evaluation(
            trigger.pipeline, trigger.id, "error",
            f"trigger {trigger.id} of pipeline {trigger.pipeline!r}: {text}",
        )  # fmt: skip


def _with_hook(context: RunContext, hook: RunHook) -> RunContext:
    return replace(context, hooks=[*context.hooks, hook])


def _locked(trigger: Trigger, holder: Lease | None) -> str:
    who = holder.owner if holder else "another worker"
    until = f" (its lease runs to {holder.expires_at:%H:%M:%S} UTC)" if holder else ""
    run = f" run {holder.run_id}" if holder and holder.run_id else " a run"
    return (
        f"pipeline {trigger.pipeline!r} is busy: worker {who} is running{run}{until}, and "
        f"a pipeline runs one run at a time; trigger {trigger.id} waits for it to end"
    )


def _judge(trigger: Trigger, result: MonitorResult) -> tuple[bool, str]:
    """Whether the monitoring run fires ``trigger``, and what it found, one line."""
    what = f"{result.model} v{result.version} against {result.reference}"
    if trigger.kind == "drift":
        if not result.drifted(trigger.fail_on):  # type: ignore[arg-type]
            return False, f"no drift of {what} (--fail-on {trigger.fail_on})"
        drifted = [*result.data.drifted_columns]
        if result.prediction is not None:
            drifted += list(result.prediction.drifted_columns)
        columns = f": {', '.join(drifted)} drifted" if drifted else ""
        return True, f"drift of {what} (--fail-on {trigger.fail_on}){columns}"
    performance: Any = result.performance
    if performance is None:
        return False, f"no labels for {what} in the window: performance not judged"
    if not performance.degraded:
        return False, f"no performance drop of {what}"
    metrics = sorted({a.metric for a in performance.alerts if a.window is None})
    return True, f"performance drop of {what}: {', '.join(metrics)} below the gate"
