"""Champion and challenger: what happens to a retrained version after its run, until it is
settled.

The retraining pipeline's ``rollout`` step opens a rollout (a registry document of kind
``pipeline_rollout``, named by the run) for the version it registered:

- phase ``experiment`` (rollout ``experiment`` or ``canary``): the version is the challenger
  of an experiment against the production version. At each tick the worker analyses it
  (:func:`~skewless.experiments.analysis.analyze_experiment`); when the challenger won
  significantly it is promoted through
  :func:`~skewless.experiments.promotion.promote_winner` (the gate again, on the run's holdout)
  and the rollout moves to ``watching``; when the champion won, the experiment ran past
  ``experiment_max`` without a significant win, or the experiment stopped (a canary that rolled
  back), the version is kept: registered, without an alias;
- phase ``watching`` (after any promotion by the pipeline): for the ``watch`` window the worker
  reads the promoted version's rows of the prediction log and its feedback. When a guard breaks
  (p99 latency, the share of rows answered without features, or a performance drop against its
  gate-time metrics) the ``production`` alias goes back to the version it replaced.

Every outcome is written on the run (a decision), on the rollout, and on the version as the tag
``skewless.challenger.outcome``. A pipeline's rollouts are handled under its lease, so two
workers never act on one.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import orjson

from skewless.errors import RegistryConflictError, SkewlessError, UnknownModelError
from skewless.pipelines.lease import Leases
from skewless.pipelines.records import RunStore
from skewless.pipelines.triggers import Evaluation, duration_text

if TYPE_CHECKING:
    from skewless.models.tracking import Tracking
    from skewless.registry import Registry
    from skewless.store import FeatureStore

__all__ = [
    "DEFAULT_GUARDS",
    "KIND",
    "OUTCOME_TAG",
    "Rollout",
    "RolloutStore",
    "check_rollouts",
    "set_outcome",
    "start_challenger",
]

KIND = "pipeline_rollout"
OUTCOME_TAG = "skewless.challenger.outcome"
DEFAULT_GUARDS: dict[str, Any] = {"max_p99_ms": None, "max_missing_rate": None, "min_labels": 500}
Phase = Literal["experiment", "watching", "done"]
_LEASE = timedelta(minutes=1)


@dataclass(frozen=True)
class Rollout:
    """A retrained version on its way to production, or not.

    Attributes:
        run_id, pipeline: the run that registered it.
        model, version: the challenger.
        phase: ``experiment``, ``watching`` or ``done``.
        opened_at: when the run opened it.
        previous: the production version it was measured against, or replaced.
        experiment: the experiment it is the challenger of.
        holdout: the run's holdout dataset (the gate of a winner); thresholds: its limits.
        experiment_max_s: how long an experiment may run without a significant result.
        watch_s: the watch window after a promotion (0: not watched).
        guards: the watch's limits (``max_p99_ms``, ``max_missing_rate``, ``min_labels``).
        promoted_at: when it reached production.
        outcome: ``promoted``, ``kept`` or ``rolled-back`` once done; reason: why.
        revision: the document's version in the registry.
    """

    run_id: str
    pipeline: str
    model: str
    version: int
    phase: Phase
    opened_at: datetime
    previous: int | None = None
    experiment: str | None = None
    holdout: str | None = None
    thresholds: dict[str, Any] = field(default_factory=dict)
    experiment_max_s: float = 14 * 86400.0
    watch_s: float = 86400.0
    guards: dict[str, Any] = field(default_factory=lambda: dict(DEFAULT_GUARDS))
    promoted_at: datetime | None = None
    outcome: str | None = None
    reason: str | None = None
    revision: int = 0

    def to_dict(self) -> dict[str, Any]:
        data = {k: v for k, v in vars(self).items() if k != "revision"}
        for name in ("opened_at", "promoted_at"):
            data[name] = data[name].isoformat() if data[name] is not None else None
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], revision: int = 0) -> Rollout:
        values = dict(data)
        for name in ("opened_at", "promoted_at"):
            if values.get(name):
                values[name] = datetime.fromisoformat(values[name])
        return cls(**values, revision=revision)


class RolloutStore:
    """The rollouts of one registry.

    Args:
        registry: the project's registry.
    """

    def __init__(self, registry: Registry) -> None:
        self.registry = registry

    def open(self, rollout: Rollout) -> Rollout:
        """Record a new rollout."""
        revision = self.registry.put_document(KIND, rollout.run_id, _dumps(rollout), expected=0)
        return replace(rollout, revision=revision)

    def save(self, rollout: Rollout) -> Rollout:
        """Write ``rollout`` over the revision it was read at.

        Raises:
            RegistryConflictError: another writer changed it since.
        """
        revision = self.registry.put_document(
            KIND, rollout.run_id, _dumps(rollout), expected=rollout.revision
        )
        return replace(rollout, revision=revision)

    def find(self, run_id: str) -> Rollout | None:
        """The rollout of run ``run_id``; None when it opened none."""
        found = self.registry.get_document(KIND, run_id)
        return None if found is None else Rollout.from_dict(orjson.loads(found.body), found.version)

    def list(self) -> list[Rollout]:
        """Every rollout, oldest run first."""
        return [
            Rollout.from_dict(orjson.loads(d.body), d.version)
            for d in self.registry.list_documents(KIND)
        ]


def set_outcome(tracking: Tracking, model: str, version: int, text: str) -> None:
    """Tag ``version`` of ``model`` with its challenger outcome (``kept: ...``, ...)."""
    tracking.client().set_model_version_tag(model, str(version), OUTCOME_TAG, text[:4000])


def start_challenger(
    store: FeatureStore,
    model: str,
    version: int,
    run_id: str,
    canary_steps: list[str] | None,
    share: float,
) -> tuple[str, int]:
    """Start experiment ``<model>-<run_id>``: ``version`` as the challenger of the production
    version, on a canary plan (``canary_steps``) or a split giving it ``share`` of the
    traffic; the experiment's name and the production version. The challenger is held from
    the retention rule until its rollout is settled.

    Raises:
        PipelineStepError: the model has no production version, or ``share`` is not a
            fraction between 0 and 1.
    """
    from skewless.errors import PipelineStepError
    from skewless.experiments.records import ExperimentStore
    from skewless.experiments.spec import load_experiment
    from skewless.models.holds import put_hold
    from skewless.models.tracking import tracking_for
    from skewless.models.versions import get_version_info

    tracking = tracking_for(store.config)
    try:
        champion = get_version_info(tracking, model, "production").version
    except UnknownModelError:
        raise PipelineStepError(
            f"model {model!r} has no production version to measure a challenger against: use "
            "rollout='promote' for its first version"
        ) from None
    if canary_steps is None and not 0.0 < float(share) < 1.0:
        raise PipelineStepError(
            f"experiment_share={share!r} must be a fraction between 0 and 1, e.g. 0.5"
        )
    name = f"{model}-{run_id}"
    weight = 0.0 if canary_steps is not None else float(share)
    spec: dict[str, Any] = {
        "name": name,
        "model": model,
        "arms": [
            {"name": "control", "model": f"{model}@production", "weight": 1.0 - weight},
            {"name": "challenger", "model": f"{model}/{version}", "weight": weight},
        ],
    }
    if canary_steps is not None:
        spec["canary"] = {"steps": list(canary_steps)}
    ExperimentStore(store.registry, store.now).start(load_experiment(spec))
    put_hold(tracking, model, version, "challenger", f"pipeline-{run_id}", None)
    return name, champion


def check_rollouts(
    store: FeatureStore, leases: Leases, owner: str, clock: Callable[[], datetime]
) -> list[Evaluation]:
    """Move every open rollout on as far as its evidence allows; what was done."""
    rollouts = RolloutStore(store.registry)
    done: list[Evaluation] = []
    for rollout in rollouts.list():
        if rollout.phase == "done":
            continue
        taken = leases.acquire(rollout.pipeline, owner, _LEASE)
        if taken.lease is None:
            continue  # a run of the pipeline is going: look again next tick
        try:
            found = _Settle(store, rollouts, clock).step(rollout)
        except SkewlessError as exc:
            found = Evaluation(rollout.pipeline, rollout.run_id, "error",
                               f"rollout of run {rollout.run_id}: {exc}")  # fmt: skip
        finally:
            leases.release(taken.lease)
        if found is not None:
            done.append(found)
    return done


class _Settle:
    """One look at one rollout."""

    def __init__(
        self, store: FeatureStore, rollouts: RolloutStore, clock: Callable[[], datetime]
    ) -> None:
        from skewless.models.tracking import tracking_for

        self.store = store
        self.rollouts = rollouts
        self.clock = clock
        self.tracking = tracking_for(store.config)

    def step(self, rollout: Rollout) -> Evaluation | None:
        current = self.rollouts.find(rollout.run_id)
        if current is None or current.phase == "done":
            return None
        if current.phase == "experiment":
            return self._experiment(current)
        return self._watch(current)

    # -- the experiment --------------------------------------------------------------------
    def _experiment(self, rollout: Rollout) -> Evaluation | None:
        from skewless.experiments.analysis import analyze_experiment
        from skewless.experiments.records import ExperimentStore
        from skewless.experiments.results import KEEP_CHAMPION, PROMOTE_CHALLENGER

        experiments = ExperimentStore(self.store.registry, self.clock)
        record = experiments.get(rollout.experiment or "")
        now = self.clock()
        if record.status == "stopped":
            if self._production(rollout.model) == rollout.version:
                return self._promoted(rollout, rollout.previous, "promoted by hand")
            reason = f"experiment {record.name} stopped: {record.stop_reason}"
            return self._close(rollout, "kept", reason)
        analysis = analyze_experiment(record, Path(self.store.repo_path), now=now)
        champion = record.spec.champion.name
        if analysis.decision == PROMOTE_CHALLENGER and analysis.winner is not None:
            return self._promote_winner(rollout, analysis, experiments)
        if analysis.decision == KEEP_CHAMPION:
            reason = f"the champion won experiment {record.name} significantly"
            experiments.stop(record.name, reason, winner=champion)
            return self._close(rollout, "kept", reason)
        if now - record.started_at >= timedelta(seconds=rollout.experiment_max_s):
            reason = (
                f"no significant win in experiment {record.name} within "
                f"{duration_text(rollout.experiment_max_s)} ({analysis.decision})"
            )
            experiments.stop(record.name, reason, winner=champion)
            return self._close(rollout, "kept", reason)
        return None

    def _promote_winner(self, rollout: Rollout, analysis: Any, experiments: Any) -> Evaluation:
        from skewless.experiments.promotion import promote_winner
        from skewless.models import Thresholds

        limits = Thresholds(**{"baseline": "production", **rollout.thresholds})
        outcome = promote_winner(
            analysis, experiments, self.store, dataset=rollout.holdout or "", thresholds=limits
        )
        if outcome.promoted is None:
            failed = ", ".join(c.name for c in outcome.gate.checks if not c.passed)
            reason = f"won experiment {analysis.experiment} but failed the gate ({failed})"
            record = experiments.get(analysis.experiment)
            if record.status == "running":
                experiments.stop(record.name, reason, winner=record.spec.champion.name)
            return self._close(rollout, "kept", reason)
        why = f"won experiment {analysis.experiment} significantly and passed the gate"
        return self._promoted(rollout, outcome.previous, why)

    def _promoted(self, rollout: Rollout, previous: int | None, why: str) -> Evaluation:
        now = self.clock()
        if rollout.watch_s <= 0:
            return self._close(replace(rollout, previous=previous, promoted_at=now),
                               "promoted", why)  # fmt: skip
        watching = replace(rollout, phase="watching", previous=previous, promoted_at=now)
        self.rollouts.save(watching)
        RunStore(self.store.registry).decide(
            rollout.run_id, now, "promoted", why, model=rollout.model, version=rollout.version,
            replaced=previous,
        )  # fmt: skip
        message = (
            f"run {rollout.run_id}: {rollout.model} v{rollout.version} promoted ({why}); "
            f"watched for {duration_text(rollout.watch_s)}"
        )
        return Evaluation(rollout.pipeline, rollout.run_id, "rollout", message)

    # -- the watch window ------------------------------------------------------------------
    def _watch(self, rollout: Rollout) -> Evaluation | None:
        now = self.clock()
        since = rollout.promoted_at or rollout.opened_at
        until = since + timedelta(seconds=rollout.watch_s)
        held = self._production(rollout.model)
        if held != rollout.version:
            reason = f"production moved to v{held} by hand during the watch: nothing rolled back"
            return self._close(rollout, "promoted", reason)
        breach = self._breach(rollout, since, min(now, until), now)
        if breach is not None:
            return self._rollback(rollout, breach)
        if now >= until:
            reason = f"guards held for the {duration_text(rollout.watch_s)} watch"
            return self._close(rollout, "promoted", reason)
        return None

    def _breach(
        self, rollout: Rollout, start: datetime, end: datetime, now: datetime
    ) -> str | None:
        from skewless.errors import PredictionLogError
        from skewless.monitoring.log_window import LogWindow

        log = LogWindow(Path(self.store.repo_path), rollout.model, since=start, until=end,
                        version=rollout.version, now=now)  # fmt: skip
        try:
            rows = log.read()
        except PredictionLogError:
            return None
        if rows.num_rows == 0:
            return None
        guards = {**DEFAULT_GUARDS, **rollout.guards}
        limit = guards.get("max_p99_ms")
        latency = rows.column("latency_ms").to_numpy(zero_copy_only=False)
        p99 = float(np.percentile(latency, 99))
        if limit is not None and p99 > float(limit):
            return f"p99 latency {p99:.1f} ms over {rows.num_rows} answers above {limit:g} ms"
        limit = guards.get("max_missing_rate")
        share = log.missing / rows.num_rows
        if limit is not None and share > float(limit):
            return f"{share:.1%} of {rows.num_rows} answers without features, above {limit:.1%}"
        return self._performance(rollout, log, int(guards.get("min_labels") or 1))

    def _performance(self, rollout: Rollout, log: Any, min_labels: int) -> str | None:
        from skewless.monitoring.monitor import MonitorContext
        from skewless.monitoring.performance_window import performance_step
        from skewless.serving.model import ServedModel, resolve_version
        from skewless.serving.reference import parse_model_ref

        ref = parse_model_ref(f"{rollout.model}/{rollout.version}")
        info = resolve_version(self.tracking, ref)
        if info.lineage is None:
            return None
        served = ServedModel(ref=ref, info=info, lineage=info.lineage, model=None)
        context = MonitorContext(self.tracking, self.store.datasets, Path(self.store.repo_path),
                                 log.now)  # fmt: skip
        width = f"{max(int((log.end - log.start).total_seconds()), 1)}s"
        notes: list[str] = []
        report = performance_step(window=width, min_labels=min_labels)(
            context, served, log, None, notes
        )
        if report is None or not report.degraded:
            return None
        metrics = sorted({a.metric for a in report.alerts if a.window is None})
        return f"performance dropped below its gate-time metrics: {', '.join(metrics)}"

    def _rollback(self, rollout: Rollout, breach: str) -> Evaluation:
        from skewless.models import promote

        if rollout.previous is None:
            reason = f"{breach}; no previous production version to roll back to"
            return self._close(rollout, "promoted", reason)
        promote(rollout.model, rollout.previous, "production", store=self.store)
        reason = f"rolled back to v{rollout.previous}: {breach} within the watch window"
        return self._close(rollout, "rolled-back", reason)

    # -- plumbing --------------------------------------------------------------------------
    def _production(self, model: str) -> int | None:
        from skewless.models.versions import get_version_info

        try:
            return get_version_info(self.tracking, model, "production").version
        except UnknownModelError:
            return None

    def _close(self, rollout: Rollout, outcome: str, reason: str) -> Evaluation:
        from skewless.models.holds import release_hold

        now = self.clock()
        with contextlib.suppress(RegistryConflictError):
            self.rollouts.save(replace(rollout, phase="done", outcome=outcome, reason=reason))
        set_outcome(self.tracking, rollout.model, rollout.version, f"{outcome}: {reason}")
        release_hold(self.tracking, rollout.model, rollout.version, "challenger",
                     f"pipeline-{rollout.run_id}")  # fmt: skip
        action = {"kept": "challenger-kept", "rolled-back": "rollback"}.get(outcome, "promoted")
        RunStore(self.store.registry).decide(
            rollout.run_id, now, action, reason, model=rollout.model, version=rollout.version,
            previous=rollout.previous,
        )  # fmt: skip
        message = f"run {rollout.run_id}: {rollout.model} v{rollout.version} {outcome}: {reason}"
        return Evaluation(rollout.pipeline, rollout.run_id, "rollout", message)


def _dumps(rollout: Rollout) -> str:
    return orjson.dumps(rollout.to_dict(), default=str).decode()
