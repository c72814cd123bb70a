"""The records the registry reads and writes: object versions, changes and watermarks."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from skewless.definitions import Definition, Kind, definition_hash

__all__ = [
    "KIND_ORDER",
    "Action",
    "ObjectChange",
    "ObjectRecord",
    "ObjectVersion",
    "Watermark",
]

Action = Literal["add", "change", "remove"]

KIND_ORDER: tuple[Kind, ...] = (
    "entity",
    "feature_view",
    "on_demand_feature_view",
    "feature_service",
    "pipeline",
)
"""Dependency order: views name entities, on-demand views name views, services name views,
pipelines name services."""


@dataclass(frozen=True)
class ObjectRecord:
    """An object as the registry currently holds it."""

    kind: Kind
    name: str
    version: int
    spec: dict[str, Any]
    hash: str
    updated_at: datetime


@dataclass(frozen=True)
class ObjectVersion:
    """One entry of an object's history; ``removed`` marks the version that deleted it.

    A removal record carries the spec and hash of the definition that was removed.
    """

    kind: Kind
    name: str
    version: int
    created_at: datetime
    hash: str
    spec: dict[str, Any]
    removed: bool = False


@dataclass(frozen=True)
class ObjectChange:
    """One object added, changed or removed by a plan.

    ``base_version`` is the object's registry version when the plan was made (None: it did
    not exist); :meth:`Registry.commit` refuses the change if the object moved since.

    Attributes:
        kind: ``entity``, ``feature_view`` or ``feature_service``.
        name: the object's name.
        action: ``add``, ``change`` or ``remove``.
        base_version: the version planned against, None when the object did not exist.
        new: the definition to store (None for a removal).
        new_spec: its spec (derived from ``new`` when not given).
        old_spec: the spec the registry held (None for an addition).
        changed_fields: top-level spec keys that differ (``ttl_seconds`` shows as ``ttl``).
        resets_online: the view's online rows and watermark start over (its data version
            changed, or it is removed).
        details: human-readable lines saying what changed inside the changed fields.
    """

    kind: Kind
    name: str
    action: Action
    base_version: int | None
    new: Definition | None = None
    new_spec: dict[str, Any] | None = None
    old_spec: dict[str, Any] | None = None
    changed_fields: tuple[str, ...] = ()
    resets_online: bool = False
    details: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        if self.action not in ("add", "change", "remove"):
            raise ValueError(f"action must be add, change or remove, not {self.action!r}")
        if self.kind not in KIND_ORDER:
            raise ValueError(f"kind must be one of {KIND_ORDER}, not {self.kind!r}")
        if self.new_spec is None and self.new is not None:
            object.__setattr__(self, "new_spec", self.new.to_spec())
        if self.action != "remove" and self.new_spec is None:
            raise ValueError(f"{self.action} of {self.kind} {self.name!r} needs the new spec")

    @property
    def new_hash(self) -> str | None:
        """The definition hash of the new spec (None for a removal)."""
        return definition_hash(self.new_spec) if self.new_spec is not None else None


@dataclass(frozen=True)
class Watermark:
    """How far a view has been materialized (at one data version).

    Attributes:
        watermark: every source row with ``ts <= watermark`` has been written online.
        max_created: the greatest created timestamp seen by materialization (late rows
            created after it are picked up by the next incremental run).
        updated_at: when the watermark was last moved.
    """

    watermark: datetime
    max_created: datetime | None
    updated_at: datetime
