"""Plan and apply: the diff between the registry and a set of definitions.

A plan is computed against the registry as it is now and records the version of every object
it touches; applying it commits all changes in one transaction, which fails with
``RegistryConflictError`` if another process changed one of those objects in between.

Example:
    >>> plan = Plan(changes=[], unchanged=[("entity", "user")])
    >>> print(plan.render())
    No changes.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from skewless._contracts import OfflineEngine, OnlineStore
from skewless._types import UnixTimestamp
from skewless.definitions import (
    BatchFeatureView,
    Definition,
    Entity,
    FeatureService,
    FeatureView,
    FileSource,
    Kind,
    PushSource,
    definition_hash,
    from_spec,
    kind_of,
)
from skewless.definitions.feature_view import resolve_projection
from skewless.definitions.on_demand import comparable_spec
from skewless.errors import DefinitionError, SchemaMismatchError
from skewless.offline.sources import push_target
from skewless.on_demand import check_on_demand_views
from skewless.online.window_state import StateLayout
from skewless.registry import ObjectChange, Registry, RegistrySnapshot, data_version
from skewless.registry.records import KIND_ORDER, ObjectRecord

__all__ = ["ObjectChange", "Plan", "apply_plan", "check_view_schema", "make_plan"]

log = logging.getLogger(__name__)

_FIELD_LABELS = {"ttl_seconds": "ttl"}


@dataclass
class Plan:
    """What an apply will do: the changes, and the objects that stay as they are.

    Attributes:
        changes: additions and changes in dependency order (entities, views, services),
            then removals in reverse order.
        unchanged: ``(kind, name)`` of the given objects the registry already holds as is.
        registry_version: the registry version the plan was computed against.
    """

    changes: list[ObjectChange] = field(default_factory=list)
    unchanged: list[tuple[Kind, str]] = field(default_factory=list)
    registry_version: int = 0

    @property
    def is_empty(self) -> bool:
        return not self.changes

    def render(self) -> str:
        """The plan as text, one line per change (``+`` add, ``~`` change, ``-`` remove).

        Example:
            >>> change = ObjectChange("entity", "driver", "remove", 3, old_spec={})
            >>> print(Plan(changes=[change]).render())
            - entity driver (removed)
        """
        if not self.changes:
            return "No changes."
        lines = []
        for change in self.changes:
            lines.append(_render_change(change))
            lines += [f"    {detail}" for detail in change.details]
        return "\n".join(lines)


def _render_change(change: ObjectChange) -> str:
    what = f"{change.kind} {change.name}"
    if change.action == "add":
        return f"+ {what} (new)"
    if change.action == "remove":
        dropped = "; online data will be dropped" if change.kind == "feature_view" else ""
        return f"- {what} (removed{dropped})"
    reset = " (online data will be reset)" if change.resets_online else ""
    return f"~ {what}: {', '.join(change.changed_fields)}{reset}"


# -- making a plan --------------------------------------------------------------------------
def make_plan(
    registry: Registry,
    engine: OfflineEngine,
    objects: Iterable[Definition | FileSource],
    *,
    partial: bool,
) -> Plan:
    """Check ``objects`` and diff them against the registry.

    Args:
        registry: the registry to diff against.
        engine: reads each view's source schema to check columns and types.
        objects: entities, feature views and feature services (file and push sources are
            accepted and skipped: a view carries its source).
        partial: True adds or updates only ``objects`` (``store.apply``); False also removes
            registry objects that are not in ``objects`` (``skewless apply``).

    Raises:
        DefinitionError: duplicate names, unknown entities, views or features.
        SchemaMismatchError: a view's source lacks a column or holds the wrong type.
        SourceNotFoundError: a view's source path matches no file.
    """
    given = _by_kind(objects)
    registry_version, records = registry.records()
    target = {kind: dict(given[kind]) for kind in KIND_ORDER}
    if partial:
        for (kind, name), record in records.items():
            target[kind].setdefault(name, from_spec(kind, record.spec))
    _check_entities(target)
    _check_services(target)
    check_on_demand_views(target["feature_view"], given["on_demand_feature_view"])
    for view in given["feature_view"].values():
        check_view_schema(view, engine.source_schema(view))
        if isinstance(view, BatchFeatureView) and view.online:
            StateLayout.of(view)  # every aggregated column can be kept in online state
        if isinstance(view.source, PushSource):
            _check_push_view(view, registry.config.repo_path)

    plan = Plan(registry_version=registry_version)
    for kind in KIND_ORDER:
        for name, obj in given[kind].items():
            change = _diff(kind, name, obj, records.get((kind, name)))
            if change is None:
                plan.unchanged.append((kind, name))
            else:
                plan.changes.append(change)
    if not partial:
        for kind in reversed(KIND_ORDER):
            for (record_kind, name), record in sorted(records.items()):
                if record_kind == kind and name not in given[kind]:
                    plan.changes.append(
                        ObjectChange(
                            kind,
                            name,
                            "remove",
                            record.version,
                            old_spec=record.spec,
                            resets_online=kind == "feature_view",
                        )
                    )
    return plan


def _by_kind(objects: Iterable[Definition | FileSource]) -> dict[Kind, dict[str, Any]]:
    found: dict[Kind, dict[str, Any]] = {kind: {} for kind in KIND_ORDER}
    for obj in objects:
        if isinstance(obj, FileSource | PushSource):
            continue
        try:
            kind = kind_of(obj)
        except TypeError:
            raise DefinitionError(
                f"cannot apply {obj!r}: pass Entity, FeatureView and FeatureService objects"
            ) from None
        previous = found[kind].get(obj.name)
        if previous is not None and previous.to_spec() != obj.to_spec():
            raise DefinitionError(
                f"two different {kind.replace('_', ' ')} definitions are named {obj.name!r}: "
                "rename one of them (names are unique per kind)"
            )
        found[kind][obj.name] = obj
    return found


def _check_entities(target: Mapping[Kind, Mapping[str, Any]]) -> None:
    entities: Mapping[str, Entity] = target["entity"]
    for view in target["feature_view"].values():
        for ent in view.entities:
            known = entities.get(ent.name)
            if known is None:
                names = ", ".join(sorted(entities)) or "none"
                raise DefinitionError(
                    f"feature view {view.name!r} uses unknown entity {ent.name!r} "
                    f"(entities: {names}): define it in the repository and apply it too"
                )
            if known.join_keys != ent.join_keys:
                raise DefinitionError(
                    f"feature view {view.name!r} uses entity {ent.name!r} with join keys "
                    f"{list(ent.join_keys)}, but entity {ent.name!r} has join keys "
                    f"{list(known.join_keys)}: apply the view and the entity together"
                )


def _check_push_view(view: FeatureView, repo_path: Any) -> None:
    """Offline pushes need a batch source they can write to (a directory, glob or file)."""
    try:
        push_target(view.batch_source, repo_path)
    except DefinitionError as exc:
        raise DefinitionError(f"feature view {view.name!r} (push source): {exc}") from None


def _check_services(target: Mapping[Kind, Mapping[str, Any]]) -> None:
    views = {**target["feature_view"], **target["on_demand_feature_view"]}
    services: Mapping[str, FeatureService] = target["feature_service"]
    for service in services.values():
        for projection in service.projections:
            resolve_projection(projection, views, f"feature service {service.name!r}", "names")


def check_view_schema(view: FeatureView, schema: pa.Schema) -> None:
    """Check that the source ``schema`` has every column of ``view`` with a readable type.

    Raises:
        SchemaMismatchError: naming the view, the column and what the source has.
    """
    columns = {f.name: f.type for f in schema}
    declared = {f.name: f.dtype for f in view.schema}
    for entity in view.entities:
        for key in entity.join_keys:
            if entity.value_type is not None:
                declared.setdefault(key, entity.value_type)
    source = view.source
    wanted: list[tuple[str, str]] = [(key, "join key") for key in view.join_keys]
    # An aggregation view reads raw columns (its schema), not its features.
    value_role = "aggregated column" if isinstance(view, BatchFeatureView) else "feature"
    wanted += [(f.name, value_role) for f in view.value_columns]
    if isinstance(view, BatchFeatureView) and view.event_id:
        wanted.append((view.event_id, "event_id column"))
    wanted.append((source.timestamp_field, "timestamp field"))
    if source.created_timestamp_column:
        wanted.append((source.created_timestamp_column, "created timestamp column"))
    for column, role in wanted:
        if role.endswith(("timestamp field", "timestamp column")) and column not in columns:
            # A time column may be named by its raw source name even when it is mapped.
            column = source.field_mapping.get(column, column)
        if column not in columns:
            raise SchemaMismatchError(
                f"feature view {view.name!r}: {role} {column!r} is not a column of source "
                f"{source.path!r} (columns: {', '.join(columns)}); fix the schema, or map the "
                "source column with FileSource(field_mapping={...})"
            )
        found = columns[column]
        is_time = role in ("timestamp field", "created timestamp column")
        expected = UnixTimestamp if is_time else declared.get(column)
        if expected is not None and not (pa.types.is_null(found) or expected.accepts(found)):
            wanted_type = "expected to be a timestamp" if is_time else f"declared {expected}"
            raise SchemaMismatchError(
                f"feature view {view.name!r}: {role} {column!r} is {wanted_type} but "
                f"source {source.path!r} holds {found}; change the declared type or the data"
            )


def _diff(kind: Kind, name: str, obj: Any, record: ObjectRecord | None) -> ObjectChange | None:
    spec = obj.to_spec()
    if record is None:
        return ObjectChange(kind, name, "add", None, new=obj, new_spec=spec)
    if definition_hash(spec) == record.hash:
        return None
    if kind == "on_demand_feature_view" and comparable_spec(spec) == comparable_spec(record.spec):
        return None  # the same code, pickled by another process or Python version
    old = record.spec
    keys = [k for k in spec if spec.get(k) != old.get(k)]
    keys += [k for k in old if k not in spec]
    resets = False
    if kind == "feature_view":
        resets = data_version(FeatureView.from_spec(old)) != data_version(obj)
    return ObjectChange(
        kind,
        name,
        "change",
        record.version,
        new=obj,
        new_spec=spec,
        old_spec=old,
        changed_fields=tuple(_FIELD_LABELS.get(k, k) for k in keys),
        resets_online=resets,
        details=tuple(_details(keys, old, spec)),
    )


def _details(keys: Sequence[str], old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    lines = []
    for key in keys:
        before, after = old.get(key), new.get(key)
        if key == "schema":
            lines.append("schema: " + _schema_diff(before or [], after or []))
        elif key == "ttl_seconds":
            lines.append(f"ttl: {_fmt_ttl(before)} -> {_fmt_ttl(after)}")
        elif isinstance(before, dict) and isinstance(after, dict):
            inner = sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))
            lines.append(f"{key}: {', '.join(inner)}")
        elif key == "entities":
            names = [[e["name"] for e in side or []] for side in (before, after)]
            lines.append(f"entities: {names[0]} -> {names[1]}")
        elif not isinstance(before, list | dict) and not isinstance(after, list | dict):
            lines.append(f"{key}: {before!r} -> {after!r}")
    return lines


def _schema_diff(before: list[dict[str, Any]], after: list[dict[str, Any]]) -> str:
    old = {f["name"]: f for f in before}
    new = {f["name"]: f for f in after}
    parts = [f"added {n} ({f['dtype']})" for n, f in new.items() if n not in old]
    parts += [f"removed {n}" for n in old if n not in new]
    for n, f in new.items():
        if n in old and old[n]["dtype"] != f["dtype"]:
            parts.append(f"{n} {old[n]['dtype']} -> {f['dtype']}")
        elif n in old and old[n] != f:
            parts.append(f"{n} description/tags")
    if not parts and list(old) != list(new):
        parts.append("fields reordered")
    return "; ".join(parts)


def _fmt_ttl(seconds: float | None) -> str:
    if not seconds:
        return "unbounded"
    for unit, size in (("d", 86_400), ("h", 3_600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


# -- applying a plan --------------------------------------------------------------------------
def apply_plan(registry: Registry, online: OnlineStore, plan: Plan) -> None:
    """Commit ``plan`` to the registry, then drop the online tables it made obsolete.

    Raises:
        RegistryConflictError: another process changed a planned object in between; nothing
            was written.
    """
    if plan.is_empty:
        return
    registry.commit(plan.changes)
    naming = RegistrySnapshot(project=registry.project)
    obsolete = [
        naming.online_table(FeatureView.from_spec(change.old_spec))
        for change in plan.changes
        if change.kind == "feature_view" and change.resets_online and change.old_spec
    ]
    if not obsolete:
        return
    try:
        online.drop(obsolete)
    except Exception as exc:  # the new data version uses new tables either way
        log.warning("could not drop obsolete online tables %s: %s", obsolete, exc)
