"""Experiment records in the registry: what ran, with which weights when, and what was decided.

An :class:`ExperimentRecord` is a registry document of kind ``experiment`` (see
:mod:`skewless.registry.documents`): the declared spec, its status, the weights in force and
their history, and the decisions taken (canary steps, rollbacks, promotions), each with its
time and reason. Every change is a compare-and-set write, so a prediction server polling the
record's version sees weight changes and stops within its poll interval, and two writers
(a canary driver and a person stopping the experiment) never overwrite each other.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

import orjson

from skewless.errors import ExperimentInputError, RegistryConflictError, UnknownObjectError
from skewless.experiments.spec import WEIGHT_TOLERANCE, ExperimentSpec

if TYPE_CHECKING:
    from skewless.registry import Registry

__all__ = ["KIND", "ExperimentRecord", "ExperimentStore", "WeightChange"]

KIND = "experiment"
Status = Literal["running", "stopped"]
_ATTEMPTS = 20


@dataclass(frozen=True)
class WeightChange:
    """The weights of the answering arms from ``at`` on, and why they changed."""

    at: datetime
    weights: dict[str, float]
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {"at": self.at.isoformat(), "weights": self.weights, "reason": self.reason}


@dataclass(frozen=True)
class ExperimentRecord:
    """An experiment as the registry holds it.

    Attributes:
        spec: the declared experiment.
        status: ``running`` or ``stopped``.
        started_at, stopped_at: when it started and stopped (UTC).
        weights: the weights in force now (arm name -> weight; shadows are not listed).
        history: every weight change, the first one the declared weights.
        decisions: what was decided and why (``{"at", "action", "reason", ...}``), in order.
        stop_reason: why it stopped.
        version: the record's version in the registry (grows with every change).
    """

    spec: ExperimentSpec
    status: Status
    started_at: datetime
    weights: dict[str, float]
    history: tuple[WeightChange, ...]
    decisions: tuple[dict[str, Any], ...] = ()
    stopped_at: datetime | None = None
    stop_reason: str | None = None
    version: int = 0
    winner: str | None = field(default=None)

    @property
    def name(self) -> str:
        return self.spec.name

    def weights_at(self, when: datetime) -> dict[str, float]:
        """The weights that were in force at ``when``."""
        current = self.history[0].weights
        for change in self.history:
            if change.at <= when:
                current = change.weights
        return current

    def to_dict(self) -> dict[str, Any]:
        return {
            "spec": self.spec.to_dict(),
            "status": self.status,
            "started_at": self.started_at.isoformat(),
            "stopped_at": self.stopped_at.isoformat() if self.stopped_at else None,
            "stop_reason": self.stop_reason,
            "winner": self.winner,
            "weights": self.weights,
            "history": [h.to_dict() for h in self.history],
            "decisions": list(self.decisions),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], version: int = 0) -> ExperimentRecord:
        return cls(
            spec=ExperimentSpec.model_validate(data["spec"]),
            status=data["status"],
            started_at=datetime.fromisoformat(data["started_at"]),
            stopped_at=datetime.fromisoformat(data["stopped_at"]) if data["stopped_at"] else None,
            stop_reason=data.get("stop_reason"),
            winner=data.get("winner"),
            weights={k: float(v) for k, v in data["weights"].items()},
            history=tuple(
                WeightChange(datetime.fromisoformat(h["at"]), dict(h["weights"]), h["reason"])
                for h in data["history"]
            ),
            decisions=tuple(data.get("decisions") or ()),
            version=version,
        )


class ExperimentStore:
    """Experiment records of one registry.

    Args:
        registry: the project's registry.
        clock: "now" (UTC); tests pass a fake clock.
    """

    def __init__(self, registry: Registry, clock: Callable[[], datetime] | None = None) -> None:
        self.registry = registry
        self.clock = clock or (lambda: datetime.now(UTC))

    def start(self, spec: ExperimentSpec) -> ExperimentRecord:
        """Record ``spec`` as running. Starting the same spec again returns the running record.

        Raises:
            ExperimentInputError: an experiment of that name exists with another spec, or
                another running experiment already splits the same model.
        """
        existing = self._read(spec.name)
        if existing is not None:
            if existing.spec == spec and existing.status == "running":
                return existing
            raise ExperimentInputError(
                f"experiment {spec.name!r} exists already ({existing.status}, started "
                f"{existing.started_at:%Y-%m-%d %H:%M} UTC): choose another name"
            )
        for other in self.list():
            if other.status == "running" and other.spec.model == spec.model:
                raise ExperimentInputError(
                    f"experiment {other.name!r} already splits the traffic of model "
                    f"{spec.model!r}: stop it first (`skewless experiments stop {other.name}`)"
                )
        now = self.clock()
        weights = _initial_weights(spec)
        record = ExperimentRecord(
            spec=spec,
            status="running",
            started_at=now,
            weights=weights,
            history=(WeightChange(now, weights, "started"),),
        )
        version = self.registry.put_document(KIND, spec.name, _dumps(record), expected=0)
        return replace(record, version=version)

    def get(self, name: str) -> ExperimentRecord:
        """The record of experiment ``name``.

        Raises:
            UnknownObjectError: no experiment of that name (the message lists them).
        """
        found = self._read(name)
        if found is None:
            known = ", ".join(r.name for r in self.list()) or "none"
            raise UnknownObjectError(
                f"no experiment named {name!r} in registry {self.registry.location} "
                f"(experiments: {known}): start it with `skewless experiments start FILE`"
            )
        return found

    def version(self, name: str) -> int:
        """The record's version (0 when there is none): cheap to poll for changes."""
        return self.registry.document_version(KIND, name)

    def list(self) -> list[ExperimentRecord]:
        """Every experiment of the project, by name."""
        return [
            ExperimentRecord.from_dict(orjson.loads(d.body), d.version)
            for d in self.registry.list_documents(KIND)
        ]

    def running_for(self, model: str) -> ExperimentRecord | None:
        """The running experiment that splits ``model``'s traffic, if any."""
        return next(
            (r for r in self.list() if r.status == "running" and r.spec.model == model), None
        )

    def set_weights(
        self,
        name: str,
        weights: Mapping[str, float],
        reason: str,
        *,
        expected_version: int | None = None,
    ) -> ExperimentRecord:
        """Put ``weights`` (every answering arm, summing to 1) in force from now on.

        Args:
            expected_version: change only the record of this version (one attempt): a
                controller that decided on what it read never applies it to a record that
                moved meanwhile.

        Raises:
            ExperimentInputError: unknown arms, missing arms, weights not summing to 1, or
                the experiment is stopped.
            RegistryConflictError: the record is not at ``expected_version``.
        """
        new = {k: float(v) for k, v in weights.items()}

        def change(record: ExperimentRecord) -> ExperimentRecord:
            _check_running(record)
            _check_weights(record.spec, new)
            now = self.clock()
            return replace(
                record, weights=new, history=(*record.history, WeightChange(now, new, reason))
            )

        return self._update(name, change, expected_version)

    def decide(self, name: str, action: str, reason: str, **facts: Any) -> ExperimentRecord:
        """Record a decision (``action``: e.g. ``canary-step``, ``rollback``, ``promote``)."""

        def change(record: ExperimentRecord) -> ExperimentRecord:
            entry = {"at": self.clock().isoformat(), "action": action, "reason": reason, **facts}
            return replace(record, decisions=(*record.decisions, entry))

        return self._update(name, change)

    def stop(self, name: str, reason: str, winner: str | None = None) -> ExperimentRecord:
        """Stop experiment ``name``: servers route every request to the champion again.

        Raises:
            ExperimentInputError: it is stopped already, or ``winner`` is not one of its arms.
        """

        def change(record: ExperimentRecord) -> ExperimentRecord:
            _check_running(record)
            if winner is not None and winner not in {a.name for a in record.spec.arms}:
                arms = ", ".join(a.name for a in record.spec.arms)
                raise ExperimentInputError(
                    f"{winner!r} is not an arm of experiment {name!r} (arms: {arms})"
                )
            return replace(
                record,
                status="stopped",
                stopped_at=self.clock(),
                stop_reason=reason,
                winner=winner,
            )

        return self._update(name, change)

    # -- plumbing ----------------------------------------------------------------------------
    def _read(self, name: str) -> ExperimentRecord | None:
        found = self.registry.get_document(KIND, name)
        if found is None:
            return None
        return ExperimentRecord.from_dict(orjson.loads(found.body), found.version)

    def _update(
        self,
        name: str,
        change: Callable[[ExperimentRecord], ExperimentRecord],
        expected_version: int | None = None,
    ) -> ExperimentRecord:
        for _ in range(_ATTEMPTS if expected_version is None else 1):
            record = self.get(name)
            if expected_version is not None and record.version != expected_version:
                raise RegistryConflictError(
                    f"experiment {name!r} is at version {record.version}, not "
                    f"{expected_version}: it changed meanwhile; read it again"
                )
            updated = change(record)
            try:
                version = self.registry.put_document(
                    KIND, name, _dumps(updated), expected=record.version
                )
            except RegistryConflictError:
                if expected_version is not None:
                    raise
                continue
            return replace(updated, version=version)
        raise RegistryConflictError(
            f"experiment {name!r} kept changing under {_ATTEMPTS} attempts to update it: retry"
        )


def _dumps(record: ExperimentRecord) -> str:
    return orjson.dumps(record.to_dict()).decode()


def _initial_weights(spec: ExperimentSpec) -> dict[str, float]:
    if spec.canary is not None:
        champion, challenger = spec.live_arms
        share = spec.canary[0].share
        return {champion.name: 1.0 - share, challenger.name: share}
    if spec.policy != "split":
        live = spec.live_arms
        return {a.name: 1.0 / len(live) for a in live}
    return spec.weights()


def _check_running(record: ExperimentRecord) -> None:
    if record.status != "running":
        raise ExperimentInputError(
            f"experiment {record.name!r} stopped at {record.stopped_at:%Y-%m-%d %H:%M} UTC "
            f"({record.stop_reason}): start a new experiment to change it"
        )


def _check_weights(spec: ExperimentSpec, weights: Mapping[str, float]) -> None:
    arms = {a.name for a in spec.live_arms}
    unknown, missing = sorted(set(weights) - arms), sorted(arms - set(weights))
    if unknown or missing:
        raise ExperimentInputError(
            f"weights must name each answering arm of {spec.name!r} once "
            f"({', '.join(sorted(arms))}); unknown: {unknown or 'none'}, "
            f"missing: {missing or 'none'}"
        )
    total = sum(weights.values())
    if abs(total - 1.0) > WEIGHT_TOLERANCE or any(w < 0 for w in weights.values()):
        raise ExperimentInputError(
            f"weights {dict(weights)} must be at least 0 and sum to 1 (they sum to {total:g})"
        )
