"""Pipeline runs in the registry: one document of kind ``pipeline_run`` per run id.

A :class:`PipelineRun` holds, per step, its status, attempts, the digest of its inputs and of
its output (with a short preview), the params it read, its code hash, how long it took and,
when it failed, the error and its traceback. The runner writes the document as each step
starts and ends (compare-and-set on the document's version, so two writers never lose each
other's change), so ``skewless pipelines show RUN_ID`` shows a run while it is going.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

import orjson

from skewless.errors import PipelineInputError, RegistryConflictError

if TYPE_CHECKING:
    from skewless.registry import Registry

__all__ = [
    "KIND",
    "STEP_STATUSES",
    "TRIGGER_KINDS",
    "PipelineRun",
    "RunStore",
    "RunTrigger",
    "StepRecord",
    "new_run_id",
]

KIND = "pipeline_run"
StepStatus = Literal["pending", "running", "succeeded", "failed", "skipped-cached"]
RunStatus = Literal["running", "succeeded", "failed"]
STEP_STATUSES: tuple[str, ...] = ("pending", "running", "succeeded", "failed", "skipped-cached")
TriggerKind = Literal["cron", "drift", "performance", "manual"]
TRIGGER_KINDS: tuple[str, ...] = ("cron", "drift", "performance", "manual")
_ATTEMPTS = 20


def new_run_id(now: datetime) -> str:
    """A run id that sorts by start time: ``20250301T120000-1a2b3c``."""
    return f"{now.astimezone(UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"


@dataclass(frozen=True)
class StepRecord:
    """What one step of a run did.

    Attributes:
        name: the step.
        status: ``pending``, ``running``, ``succeeded``, ``failed`` or ``skipped-cached``.
        attempts: how many times the function was called in this run.
        code_hash: the hash of the function's source that ran.
        params: the pipeline params the step read.
        inputs_digest: sha256 over its bound inputs (upstream output digests, params).
        cache_key: sha256 of the code hash and the inputs digest.
        output_digest: sha256 of the pickled output.
        output_preview: a short text of the output.
        output_path: where the output is kept (relative to the repository).
        cached_from: the run whose output was reused (a cache hit, or an earlier attempt
            of a resumed run).
        started_at, duration_s: when it started and how long it took (all attempts).
        error: the last error, one line; traceback: its traceback.
    """

    name: str
    status: StepStatus = "pending"
    attempts: int = 0
    code_hash: str = ""
    params: dict[str, Any] = field(default_factory=dict)
    inputs_digest: str = ""
    cache_key: str = ""
    output_digest: str = ""
    output_preview: str = ""
    output_path: str = ""
    cached_from: str | None = None
    started_at: datetime | None = None
    duration_s: float | None = None
    error: str | None = None
    traceback: str | None = None

    @property
    def done(self) -> bool:
        """The step has an output this run can use."""
        return self.status in ("succeeded", "skipped-cached")

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["started_at"] = self.started_at.isoformat() if self.started_at else None
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> StepRecord:
        values = dict(data)
        started = values.get("started_at")
        values["started_at"] = datetime.fromisoformat(started) if started else None
        return cls(**values)


@dataclass(frozen=True)
class RunTrigger:
    """Why a run started.

    Attributes:
        kind: ``cron``, ``drift``, ``performance`` (a trigger of the worker) or ``manual``.
        reason: what fired, one line (``cron '0 3 * * 1' due at ...``, ``drift of churn v3``).
        at: when it fired (UTC).
        trigger_id: the trigger that fired (None for a manual run).
    """

    kind: TriggerKind
    reason: str
    at: datetime
    trigger_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "reason": self.reason,
            "at": self.at.isoformat(),
            "trigger_id": self.trigger_id,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RunTrigger:
        return cls(
            kind=data["kind"],
            reason=str(data.get("reason") or ""),
            at=datetime.fromisoformat(data["at"]),
            trigger_id=data.get("trigger_id"),
        )


@dataclass(frozen=True)
class PipelineRun:
    """One run of a pipeline.

    Attributes:
        run_id: the run's id (sorts by start time).
        pipeline: the pipeline's name; pipeline_hash: its definition hash when the run began.
        params: every param of the run (defaults with the overrides given).
        status: ``running``, ``succeeded`` or ``failed``.
        steps: a record per step, in the pipeline's order.
        started_at, ended_at: when the run started and last ended (UTC).
        failed_step: the step that failed (None unless ``failed``).
        resumes: when the run was resumed, each time.
        mlflow_run_id: the MLflow parent run, when MLflow tracked the run.
        trigger: why the run started (None for a run recorded before triggers existed).
        decisions: what was decided after the run about what it produced
            (``{"at", "action", "reason", ...}``: a challenger kept, a rollback), in order.
        version: the document's version in the registry.
    """

    run_id: str
    pipeline: str
    pipeline_hash: str
    params: dict[str, Any]
    status: RunStatus
    steps: tuple[StepRecord, ...]
    started_at: datetime
    ended_at: datetime | None = None
    failed_step: str | None = None
    resumes: tuple[str, ...] = ()
    mlflow_run_id: str | None = None
    trigger: RunTrigger | None = None
    decisions: tuple[dict[str, Any], ...] = ()
    version: int = 0

    @property
    def triggered(self) -> bool:
        """Whether a trigger of the worker (not a person) started the run."""
        return self.trigger is not None and self.trigger.kind != "manual"

    @property
    def error(self) -> str | None:
        """The failed step's error, one line."""
        if self.failed_step is None:
            return None
        return self.step(self.failed_step).error

    def step(self, name: str) -> StepRecord:
        """The record of step ``name``.

        Raises:
            PipelineInputError: the run has no such step.
        """
        for record in self.steps:
            if record.name == name:
                return record
        names = ", ".join(s.name for s in self.steps)
        raise PipelineInputError(
            f"run {self.run_id} of pipeline {self.pipeline!r} has no step {name!r} (steps: {names})"
        )

    def with_step(self, record: StepRecord) -> PipelineRun:
        """This run with ``record`` replacing the step of its name."""
        steps = tuple(record if s.name == record.name else s for s in self.steps)
        return replace(self, steps=steps)

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "pipeline": self.pipeline,
            "pipeline_hash": self.pipeline_hash,
            "params": self.params,
            "status": self.status,
            "steps": [s.to_dict() for s in self.steps],
            "started_at": self.started_at.isoformat(),
            "ended_at": self.ended_at.isoformat() if self.ended_at else None,
            "failed_step": self.failed_step,
            "resumes": list(self.resumes),
            "mlflow_run_id": self.mlflow_run_id,
            "trigger": self.trigger.to_dict() if self.trigger else None,
            "decisions": list(self.decisions),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], version: int = 0) -> PipelineRun:
        ended = data.get("ended_at")
        trigger = data.get("trigger")
        return cls(
            run_id=data["run_id"],
            pipeline=data["pipeline"],
            pipeline_hash=data["pipeline_hash"],
            params=dict(data.get("params") or {}),
            status=data["status"],
            steps=tuple(StepRecord.from_dict(s) for s in data["steps"]),
            started_at=datetime.fromisoformat(data["started_at"]),
            ended_at=datetime.fromisoformat(ended) if ended else None,
            failed_step=data.get("failed_step"),
            resumes=tuple(data.get("resumes") or ()),
            mlflow_run_id=data.get("mlflow_run_id"),
            trigger=RunTrigger.from_dict(trigger) if trigger else None,
            decisions=tuple(data.get("decisions") or ()),
            version=version,
        )


class RunStore:
    """The pipeline runs of one registry.

    Args:
        registry: the project's registry.
    """

    def __init__(self, registry: Registry) -> None:
        self.registry = registry

    def create(self, run: PipelineRun) -> PipelineRun:
        """Record a new run; the run at its stored version."""
        version = self.registry.put_document(KIND, run.run_id, _dumps(run), expected=0)
        return replace(run, version=version)

    def save(self, run: PipelineRun) -> PipelineRun:
        """Write ``run`` over the version it was read at; the run at its new version.

        Raises:
            RegistryConflictError: another writer changed the run since.
        """
        version = self.registry.put_document(KIND, run.run_id, _dumps(run), expected=run.version)
        return replace(run, version=version)

    def decide(self, run_id: str, at: datetime, action: str, reason: str, **facts: Any) -> None:
        """Record a decision on run ``run_id`` (re-read and retried when another writer
        changed it meanwhile).

        Raises:
            PipelineInputError: there is no such run.
            RegistryConflictError: the run kept changing under every attempt.
        """
        entry = {"at": at.isoformat(), "action": action, "reason": reason, **facts}
        for _ in range(_ATTEMPTS):
            run = self.get(run_id)
            try:
                self.save(replace(run, decisions=(*run.decisions, entry)))
                return
            except RegistryConflictError:
                continue
        raise RegistryConflictError(
            f"pipeline run {run_id} kept changing under {_ATTEMPTS} attempts to record a "
            "decision: retry"
        )

    def find(self, run_id: str) -> PipelineRun | None:
        """Run ``run_id``; None when there is none."""
        document = self.registry.get_document(KIND, run_id)
        if document is None:
            return None
        return PipelineRun.from_dict(orjson.loads(document.body), document.version)

    def get(self, run_id: str) -> PipelineRun:
        """Run ``run_id``.

        Raises:
            PipelineInputError: there is no such run.
        """
        run = self.find(run_id)
        if run is None:
            raise PipelineInputError(
                f"no pipeline run {run_id!r} in registry {self.registry.location}: list runs "
                "with `skewless pipelines runs NAME`"
            )
        return run

    def list(self, pipeline: str | None = None) -> list[PipelineRun]:
        """Every run (of ``pipeline``, if given), oldest first."""
        runs = [
            PipelineRun.from_dict(orjson.loads(d.body), d.version)
            for d in self.registry.list_documents(KIND)
        ]
        if pipeline is not None:
            runs = [r for r in runs if r.pipeline == pipeline]
        return sorted(runs, key=lambda r: (r.started_at, r.run_id))


def _dumps(run: PipelineRun) -> str:
    return orjson.dumps(run.to_dict(), default=str).decode()
