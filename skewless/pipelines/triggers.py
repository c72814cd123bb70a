"""Triggers of pipeline runs: registry documents of kind ``pipeline_trigger`` that the worker
(:mod:`skewless.pipelines.worker`) evaluates.

A trigger names a pipeline and when to run it: on a cron schedule (``cron``, in UTC), when
monitoring finds drift in a model (``drift``: the case where ``skewless monitor`` exits 1), or
when the model's measured performance drops (``performance``: the monitor's performance report
is ``degraded``). Each also holds the params its runs get, its cooldown (no trigger-fired run of
the pipeline within that time of its last one) and what its last evaluation found. Every write
is a compare-and-set on the document's version, so two workers never both claim one firing.

Example:
    >>> check_cron("0 3 * * 1")
    '0 3 * * 1'
    >>> from datetime import datetime, UTC
    >>> cron_due("0 * * * *", datetime(2025, 3, 3, 0, 30, tzinfo=UTC),
    ...          datetime(2025, 3, 3, 2, 10, tzinfo=UTC))
    (datetime.datetime(2025, 3, 3, 2, 0, tzinfo=datetime.timezone.utc), 2)
"""

from __future__ import annotations

import builtins
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

import orjson

from skewless.errors import PipelineInputError, RegistryConflictError

if TYPE_CHECKING:
    from skewless.registry import Registry

__all__ = [
    "DEFAULT_COOLDOWN",
    "DEFAULT_EVERY",
    "KIND",
    "TRIGGER_KINDS",
    "Action",
    "Evaluation",
    "Trigger",
    "TriggerStore",
    "check_cron",
    "cron_due",
    "duration_text",
    "new_trigger_id",
    "next_cron",
    "schedule",
]

KIND = "pipeline_trigger"
TriggerKind = Literal["cron", "drift", "performance"]
TRIGGER_KINDS: tuple[str, ...] = ("cron", "drift", "performance")
DEFAULT_COOLDOWN = timedelta(days=1)
"""The cooldown of a drift or performance trigger unless given (a cron trigger has none)."""
DEFAULT_EVERY = timedelta(hours=1)
"""How often the worker monitors the model of a drift or performance trigger."""
Action = Literal["fired", "quiet", "cooldown", "locked", "error", "rollout"]
_ATTEMPTS = 20
_MAX_MISSED = 100_000


def _croniter() -> Any:
    try:
        from croniter import croniter
    except ImportError:  # pragma: no cover - the extra is part of the test install
        raise PipelineInputError(
            "cron triggers need croniter: pip install 'skewless[pipelines]'"
        ) from None
    return croniter


def check_cron(expression: str) -> str:
    """``expression``, stripped, when it is a five-field cron expression.

    Raises:
        PipelineInputError: it is not one.
    """
    text = " ".join(str(expression).split())
    croniter = _croniter()
    if len(text.split()) != 5 or not croniter.is_valid(text):
        raise PipelineInputError(
            f"--cron {expression!r} is not a cron expression: write five fields, minute hour "
            'day-of-month month day-of-week, in UTC, e.g. "0 3 * * 1" (Mondays at 03:00)'
        )
    return text


def next_cron(expression: str, after: datetime) -> datetime:
    """The first time ``expression`` is due strictly after ``after`` (UTC)."""
    found = _croniter()(expression, after.astimezone(UTC)).get_next(datetime)
    return found.astimezone(UTC)


def cron_due(expression: str, after: datetime, now: datetime) -> tuple[datetime | None, int]:
    """The latest time ``expression`` was due in ``(after, now]``, and how many times it was
    due there (``(None, 0)``: not due)."""
    schedule = _croniter()(expression, after.astimezone(UTC))
    latest, count = None, 0
    while count < _MAX_MISSED:
        candidate = schedule.get_next(datetime).astimezone(UTC)
        if candidate > now:
            break
        latest, count = candidate, count + 1
    return latest, count


@dataclass(frozen=True)
class Trigger:
    """When the worker runs a pipeline.

    Attributes:
        id: the trigger's id (``cron-1a2b3c``), unique within its pipeline.
        pipeline: the pipeline it runs.
        kind: ``cron``, ``drift`` or ``performance``.
        created_at: when it was scheduled (a cron trigger is due from then on).
        cron: the cron expression (UTC) of a ``cron`` trigger.
        model: the model a ``drift`` or ``performance`` trigger monitors (``NAME``,
            ``NAME@ALIAS``, ``NAME/VERSION``).
        window_s: the monitoring window, in seconds.
        fail_on: what counts as drift (``dataset`` or ``any``, as ``skewless monitor``).
        every_s: how often the model is monitored, in seconds.
        labels, label_column, label_timestamp: a labels file for the performance report
            (None: the feedback recorded through ``/feedback``).
        params: the params of the runs it starts.
        cooldown_s: no trigger-fired run of the pipeline within this many seconds of its
            last one.
        evaluated_at: the last evaluation; fired_at: the last time it started a run.
        last_run: the run it last started; last_result: what its last evaluation found;
            last_error: why its last evaluation could not judge (monitoring failed, or the
            pipeline could not run), cleared by the next one that could.
        version: the document's version in the registry.
    """

    id: str
    pipeline: str
    kind: TriggerKind
    created_at: datetime
    cron: str | None = None
    model: str | None = None
    window_s: float = 86400.0
    fail_on: str = "dataset"
    every_s: float = DEFAULT_EVERY.total_seconds()
    labels: str | None = None
    label_column: str = "label"
    label_timestamp: str = "event_timestamp"
    params: dict[str, Any] = field(default_factory=dict)
    cooldown_s: float = 0.0
    evaluated_at: datetime | None = None
    fired_at: datetime | None = None
    last_run: str | None = None
    last_result: str | None = None
    last_error: str | None = None
    version: int = 0

    @property
    def key(self) -> str:
        """The document's name: ``<pipeline>/<id>``."""
        return f"{self.pipeline}/{self.id}"

    @property
    def cooldown(self) -> timedelta:
        return timedelta(seconds=self.cooldown_s)

    @property
    def window(self) -> timedelta:
        return timedelta(seconds=self.window_s)

    @property
    def every(self) -> timedelta:
        return timedelta(seconds=self.every_s)

    def describe(self) -> str:
        """What fires it, in words: ``cron '0 3 * * 1'``, ``drift of churn (1d, dataset)``."""
        if self.kind == "cron":
            return f"cron {self.cron!r}"
        what = "drift" if self.kind == "drift" else "performance drop"
        window = duration_text(self.window_s)
        detail = f"{window}, --fail-on {self.fail_on}" if self.kind == "drift" else window
        return f"{what} of {self.model} ({detail}, every {duration_text(self.every_s)})"

    def to_dict(self) -> dict[str, Any]:
        data = {k: v for k, v in vars(self).items() if k != "version"}
        for name in ("created_at", "evaluated_at", "fired_at"):
            value = data[name]
            data[name] = value.isoformat() if value is not None else None
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], version: int = 0) -> Trigger:
        values = dict(data)
        for name in ("created_at", "evaluated_at", "fired_at"):
            if values.get(name):
                values[name] = datetime.fromisoformat(values[name])
        return cls(**values, version=version)


def duration_text(seconds: float) -> str:
    """Seconds as the shortest exact ``1d``, ``6h``, ``5m`` or ``30s``.

    >>> duration_text(86400), duration_text(5400), duration_text(45)
    ('1d', '90m', '45s')
    """
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


def new_trigger_id(kind: str) -> str:
    """A fresh trigger id: ``<kind>-<6 hex digits>``."""
    return f"{kind}-{uuid.uuid4().hex[:6]}"


class TriggerStore:
    """The pipeline triggers of one registry.

    Args:
        registry: the project's registry.
    """

    def __init__(self, registry: Registry) -> None:
        self.registry = registry

    def add(self, trigger: Trigger) -> Trigger:
        """Record a new trigger; the trigger at its stored version."""
        version = self.registry.put_document(KIND, trigger.key, _dumps(trigger), expected=0)
        return replace(trigger, version=version)

    def save(self, trigger: Trigger) -> Trigger:
        """Write ``trigger`` over the version it was read at; the trigger at its new version.

        Raises:
            RegistryConflictError: another worker changed it since.
        """
        version = self.registry.put_document(
            KIND, trigger.key, _dumps(trigger), expected=trigger.version
        )
        return replace(trigger, version=version)

    def update(self, trigger: Trigger, change: Callable[[Trigger], Trigger]) -> Trigger | None:
        """Apply ``change`` to the stored trigger, re-reading it after a conflict; the
        trigger written, or None when it was removed meanwhile."""
        for _ in range(_ATTEMPTS):
            current = self.find(trigger.pipeline, trigger.id)
            if current is None:
                return None
            try:
                return self.save(change(current))
            except RegistryConflictError:
                continue
        raise RegistryConflictError(
            f"trigger {trigger.id} of pipeline {trigger.pipeline!r} kept changing under "
            f"{_ATTEMPTS} attempts to record its evaluation: retry"
        )

    def find(self, pipeline: str, trigger_id: str) -> Trigger | None:
        """Trigger ``trigger_id`` of ``pipeline``; None when there is none."""
        found = self.registry.get_document(KIND, f"{pipeline}/{trigger_id}")
        if found is None:
            return None
        return Trigger.from_dict(orjson.loads(found.body), found.version)

    def list(self, pipeline: str | None = None) -> list[Trigger]:
        """Every trigger (of ``pipeline``, if given), by pipeline then creation."""
        found = [
            Trigger.from_dict(orjson.loads(d.body), d.version)
            for d in self.registry.list_documents(KIND)
        ]
        if pipeline is not None:
            found = [t for t in found if t.pipeline == pipeline]
        return sorted(found, key=lambda t: (t.pipeline, t.created_at, t.id))

    def remove(self, pipeline: str, trigger_id: str | None = None) -> builtins.list[str]:
        """Remove trigger ``trigger_id`` of ``pipeline`` (every trigger of it when None);
        the ids removed.

        Raises:
            PipelineInputError: there is no such trigger.
        """
        found = self.list(pipeline)
        if trigger_id is not None:
            found = [t for t in found if t.id == trigger_id]
        if not found:
            known = ", ".join(t.id for t in self.list(pipeline)) or "none"
            which = f"trigger {trigger_id!r}" if trigger_id else "trigger"
            raise PipelineInputError(
                f"pipeline {pipeline!r} has no {which} (its triggers: {known}): list them with "
                f"`skewless pipelines triggers {pipeline}`"
            )
        for trigger in found:
            self.registry.delete_document(KIND, trigger.key)
        return [t.id for t in found]


def schedule(
    registry: Registry,
    pipeline: str,
    now: datetime,
    *,
    cron: str | None = None,
    on_drift: str | None = None,
    on_performance_drop: str | None = None,
    params: Mapping[str, Any] | None = None,
    window: timedelta = timedelta(days=1),
    fail_on: str = "dataset",
    every: timedelta = DEFAULT_EVERY,
    cooldown: timedelta | None = None,
    labels: str | None = None,
    label_column: str = "label",
    label_timestamp: str = "event_timestamp",
) -> Trigger:
    """Record a trigger of the registered pipeline ``pipeline``: exactly one of ``cron``,
    ``on_drift`` (a model) and ``on_performance_drop`` (a model).

    Args:
        now: when it is scheduled (a cron trigger is due from then on).
        params: the params of its runs, checked against the pipeline's now.
        window, fail_on, every, labels, label_column, label_timestamp: the monitoring of a
            drift or performance trigger (see :class:`Trigger`).
        cooldown: default none for a cron trigger, :data:`DEFAULT_COOLDOWN` for the others.

    Raises:
        PipelineInputError: no such pipeline, not exactly one kind, an invalid cron
            expression, an unknown param, a bad ``fail_on`` or a duration that is not positive.
    """
    from skewless.errors import UnknownObjectError
    from skewless.pipelines.params import run_params

    chosen = [(k, v) for k, v in (("cron", cron), ("drift", on_drift),
              ("performance", on_performance_drop)) if v]  # fmt: skip
    if len(chosen) != 1:
        raise PipelineInputError(
            "give exactly one of --cron EXPR, --on-drift MODEL and --on-performance-drop MODEL"
        )
    kind, what = chosen[0]
    try:
        found = registry.snapshot().get_pipeline(pipeline)
    except UnknownObjectError as exc:
        raise PipelineInputError(str(exc)) from None
    run_params(found, params)
    if fail_on not in ("dataset", "any"):
        raise PipelineInputError(f"--fail-on {fail_on!r} is not one of dataset, any")
    for name, value in (("--window", window), ("--every", every)):
        if value <= timedelta(0):
            raise PipelineInputError(f"{name} must be a positive duration, e.g. 1h or 1d")
    if cooldown is not None and cooldown < timedelta(0):
        raise PipelineInputError("--cooldown must be a duration of 0s or more, e.g. 1d")
    if cooldown is None:
        cooldown = timedelta(0) if kind == "cron" else DEFAULT_COOLDOWN
    trigger = Trigger(
        id=new_trigger_id(kind),
        pipeline=pipeline,
        kind=kind,  # type: ignore[arg-type]
        created_at=now,
        cron=check_cron(what) if kind == "cron" else None,
        model=None if kind == "cron" else what,
        window_s=window.total_seconds(),
        fail_on=fail_on,
        every_s=every.total_seconds(),
        labels=labels,
        label_column=label_column,
        label_timestamp=label_timestamp,
        params=dict(params or {}),
        cooldown_s=cooldown.total_seconds(),
    )
    return TriggerStore(registry).add(trigger)


@dataclass(frozen=True)
class Evaluation:
    """What the worker did about one trigger (or rollout) in one tick.

    Attributes:
        pipeline: the pipeline; trigger: the trigger's id (or the run of a rollout).
        action: ``fired`` (a run ran), ``quiet`` (no drift, no drop), ``cooldown``, ``locked``
            (another worker holds the pipeline), ``error`` (could not judge, or could not
            run) or ``rollout`` (a challenger promoted, kept or rolled back).
        message: one line saying so.
        run_id: the run started, when one was.
    """

    pipeline: str
    trigger: str
    action: Action
    message: str
    run_id: str | None = None

    def __str__(self) -> str:
        return self.message


def _dumps(trigger: Trigger) -> str:
    return orjson.dumps(trigger.to_dict(), default=str).decode()
