"""Canary rollouts: the challenger's share of traffic grows step by step (``10% for 5m, 50% for
5m, 100%``) while guard metrics read from the prediction log hold, and falls back to the
champion, with the reason recorded, the moment one breaks.

:meth:`CanaryController.tick` is one look: it reads the log rows of the current step (since the
weights last changed), measures the challenger's guards and decides ``wait`` (too few requests
yet), ``hold`` (guards hold, the step's time is not up), ``advance`` (to the next step),
``complete`` (the last step reached: the challenger answers all traffic; promoting it is the
analysis' call) or ``rollback`` (a guard broke: every request goes to the champion and the
experiment stops). The clock is injected, so a test runs a whole plan in seconds; the
prediction server ticks it on its poll loop. See docs/experiments.md, "Canary rollouts".

Guards, over the challenger's rows of the step:

- error rate: answers the champion gave in its place (``assignment == "fallback"``: the
  challenger raised or timed out) over all requests routed to it;
- p99 latency of its answers (``latency_ms``);
- prediction drift against the champion's answers of the same step: the largest
  ``drift_report`` statistic over ``prediction`` and the class probabilities (Evidently's
  defaults: normed Wasserstein for scores, Jensen-Shannon for classes);
- the primary metric, once labels exist for both arms: a rollback when the challenger's
  conversion rate is significantly lower (``proportion_test`` at the experiment's alpha).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from skewless.errors import DriftInputError, RegistryConflictError
from skewless.experiments.fixed import proportion_test
from skewless.experiments.records import ExperimentRecord, ExperimentStore

__all__ = ["CanaryController", "CanaryDecision", "GuardReading", "LogReader"]

Action = Literal["wait", "hold", "advance", "complete", "rollback", "stopped"]
LogReader = Callable[[datetime, datetime], tuple[pa.Table, pa.Table | None]]
"""``(start, end) -> (log rows, labelled rows or None)`` of the experiment's model."""


@dataclass(frozen=True)
class GuardReading:
    """The challenger's guard metrics over one step (None: not measurable yet)."""

    requests: int
    fallbacks: int
    error_rate: float | None
    p99_ms: float | None
    prediction_drift: float | None
    champion_rate: float | None = None
    challenger_rate: float | None = None
    primary_p_value: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in vars(self).items()}


@dataclass(frozen=True)
class CanaryDecision:
    """What one look decided, the challenger's share after it, and why."""

    action: Action
    share: float
    reason: str
    reading: GuardReading | None = None


class CanaryController:
    """Drives the canary plan of one experiment.

    Args:
        experiments: the experiment records.
        name: the experiment (its spec has a ``canary`` plan).
        read: reads the model's log rows (and labelled rows) between two instants.
        clock: "now" (UTC).
    """

    def __init__(
        self,
        experiments: ExperimentStore,
        name: str,
        read: LogReader,
        clock: Callable[[], datetime],
    ) -> None:
        self.experiments = experiments
        self.name = name
        self.read = read
        self.clock = clock

    def tick(self) -> CanaryDecision:
        """One look at the current step (see the module docstring)."""
        record = self.experiments.get(self.name)
        spec = record.spec
        plan = spec.canary or ()
        champion, challenger = (a.name for a in spec.live_arms)
        share = record.weights.get(challenger, 0.0)
        if record.status != "running":
            return CanaryDecision("stopped", share, record.stop_reason or "stopped")
        step = _step_index(plan, share)
        since = record.history[-1].at
        now = self.clock()
        rows, labelled = self.read(since, now)
        reading = measure(rows, labelled, record.name, champion, challenger, spec.alpha)
        breach = _breach(reading, record)
        if breach is not None:
            return self._rollback(record, champion, challenger, breach, reading)
        guard = spec.guard
        if reading.requests < guard.min_requests:
            why = f"{reading.requests} of {guard.min_requests} requests to judge the step"
            return CanaryDecision("wait", share, why, reading)
        hold = plan[step].hold
        if hold is None:
            return CanaryDecision("complete", share, "the last step: guards hold", reading)
        if now - since < hold:
            return CanaryDecision("hold", share, f"guards hold; step held for {hold}", reading)
        following = plan[step + 1].share
        weights = {champion: 1.0 - following, challenger: following}
        reason = f"step {step + 1} held {hold} with guards holding: {following:.0%}"
        try:
            self.experiments.set_weights(
                self.name, weights, reason, expected_version=record.version
            )
        except RegistryConflictError:
            return CanaryDecision("hold", share, "another process moved the experiment", reading)
        self.experiments.decide(
            self.name, "canary-step", reason, share=following, guards=reading.to_dict()
        )
        return CanaryDecision("advance", following, reason, reading)

    def _rollback(
        self,
        record: ExperimentRecord,
        champion: str,
        challenger: str,
        breach: str,
        reading: GuardReading,
    ) -> CanaryDecision:
        reason = f"rolled back: {breach}"
        try:
            self.experiments.set_weights(
                self.name, {champion: 1.0, challenger: 0.0}, reason, expected_version=record.version
            )
        except RegistryConflictError:
            return CanaryDecision("hold", record.weights[challenger], "moved meanwhile", reading)
        self.experiments.decide(self.name, "rollback", reason, guards=reading.to_dict())
        self.experiments.stop(self.name, reason, winner=champion)
        return CanaryDecision("rollback", 0.0, reason, reading)


def _step_index(plan: tuple[Any, ...], share: float) -> int:
    """The step whose share is in force (the nearest one)."""
    return int(np.argmin([abs(s.share - share) for s in plan]))


def _breach(reading: GuardReading, record: ExperimentRecord) -> str | None:
    guard = record.spec.guard
    if reading.requests + reading.fallbacks < max(1, guard.min_requests // 10):
        return None  # nothing to judge yet
    limit = guard.max_error_rate
    if limit is not None and reading.error_rate is not None and reading.error_rate > limit:
        return (
            f"error rate {reading.error_rate:.2%} ({reading.fallbacks} of "
            f"{reading.requests + reading.fallbacks} requests answered by the champion instead) "
            f"above {limit:.2%}"
        )
    limit = guard.max_p99_ms
    if limit is not None and reading.p99_ms is not None and reading.p99_ms > limit:
        return f"p99 latency {reading.p99_ms:.1f} ms above {limit:g} ms"
    limit = guard.max_prediction_drift
    drift = reading.prediction_drift
    if limit is not None and drift is not None and drift > limit:
        return f"prediction drift {drift:.3f} against the champion above {limit:g}"
    p = reading.primary_p_value
    if (
        p is not None
        and p < record.spec.alpha
        and (reading.challenger_rate or 0.0) < (reading.champion_rate or 0.0)
    ):
        return (
            f"conversion rate {reading.challenger_rate:.2%} significantly below the "
            f"champion's {reading.champion_rate:.2%} (p = {p:.3g})"
        )
    return None


def measure(
    rows: pa.Table,
    labelled: pa.Table | None,
    experiment: str,
    champion: str,
    challenger: str,
    alpha: float = 0.05,
) -> GuardReading:
    """The challenger's guard metrics over ``rows`` (log rows of the step)."""
    if rows.num_rows == 0 or "experiment" not in rows.column_names:
        return GuardReading(0, 0, None, None, None)
    rows = rows.filter(pc.equal(rows.column("experiment"), experiment))
    arm, assignment = rows.column("arm"), rows.column("assignment")
    answered = pc.is_in(assignment, pa.array(["sticky", "bandit"]))
    mine = rows.filter(pc.and_(answered, pc.equal(arm, challenger)))
    theirs = rows.filter(pc.and_(answered, pc.equal(arm, champion)))
    fallbacks = rows.filter(pc.equal(assignment, "fallback")).num_rows
    requests = mine.num_rows
    total = requests + fallbacks
    latency = mine.column("latency_ms").to_numpy(zero_copy_only=False)
    rates = _primary(labelled, experiment, champion, challenger, alpha)
    return GuardReading(
        requests=requests,
        fallbacks=fallbacks,
        error_rate=fallbacks / total if total else None,
        p99_ms=float(np.percentile(latency, 99)) if latency.size else None,
        prediction_drift=_prediction_drift(theirs, mine),
        **rates,
    )


def _prediction_drift(champion: pa.Table, challenger: pa.Table) -> float | None:
    from skewless.monitoring.drift import drift_report
    from skewless.monitoring.log_window import probability_columns

    if champion.num_rows < 2 or challenger.num_rows < 2:
        return None

    def side(t: pa.Table) -> pa.Table:
        out = pa.table({"prediction": t.column("prediction")})
        for name, values in probability_columns(t.column("probabilities")).items():
            out = out.append_column(name, values)
        return out

    try:
        report = drift_report(side(champion), side(challenger))
    except DriftInputError:
        return None
    statistics = [
        c.statistic
        for c in report.columns.values()
        if c.p_value is None and math.isfinite(c.statistic)
    ]
    return max(statistics) if statistics else None


def _primary(
    labelled: pa.Table | None, experiment: str, champion: str, challenger: str, alpha: float
) -> dict[str, float | None]:
    empty: dict[str, float | None] = {}
    if labelled is None or labelled.num_rows == 0 or "experiment" not in labelled.column_names:
        return empty
    rows = labelled.filter(pc.equal(labelled.column("experiment"), experiment))
    counts = []
    for arm in (champion, challenger):
        mine = rows.filter(
            pc.and_(
                pc.equal(rows.column("arm"), arm),
                pc.is_in(rows.column("assignment"), pa.array(["sticky", "bandit"])),
            )
        )
        labels = [bool(v) for v in mine.column("label").to_pylist() if v is not None]
        counts.append((sum(labels), len(labels)))
    (c_conv, c_n), (t_conv, t_n) = counts
    if c_n == 0 or t_n == 0:
        return empty
    result = proportion_test(c_conv, c_n, t_conv, t_n, alpha=alpha)
    return {
        "champion_rate": result.control_rate,
        "challenger_rate": result.treatment_rate,
        "primary_p_value": result.p_value,
    }
