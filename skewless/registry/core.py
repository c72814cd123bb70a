"""The registry's logic, written once over any SQL database: objects, history, watermarks.

:class:`Registry` holds every query; a backend subclass supplies only the dialect seam of
:class:`~skewless.registry.sql.SqlConnections`. Versioning is optimistic: a plan records the
version of each object it touches, and :meth:`Registry.commit` refuses to write if any of
them moved in between. Writers of one project are serialized by the backend's write transaction.

``Registry(config)`` picks the backend from ``config.registry`` (see
:func:`skewless.registry.backends.registry_class`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, ClassVar

import orjson

from skewless._time import from_micros, to_micros
from skewless.config import RepoConfig
from skewless.definitions import Definition, Entity, FeatureView, Kind, definition_hash, from_spec
from skewless.errors import RegistryConflictError, UnknownObjectError
from skewless.registry.documents import DocumentTables
from skewless.registry.records import (
    KIND_ORDER,
    ObjectChange,
    ObjectRecord,
    ObjectVersion,
    Watermark,
)
from skewless.registry.snapshot import RegistrySnapshot, data_version
from skewless.registry.sql import DATASETS_SCHEMA

__all__ = ["Registry"]

log = logging.getLogger(__name__)


def _now() -> datetime:
    return datetime.now(UTC)


def _iso(value: datetime) -> str:
    return value.isoformat(timespec="microseconds")


def _parse_iso(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def _dumps(spec: dict[str, Any]) -> str:
    return orjson.dumps(spec, option=orjson.OPT_SORT_KEYS).decode()


class Registry(DocumentTables):
    """Definitions of one project, their version history and materialization watermarks.

    ``Registry(config)`` opens the backend that ``config.registry`` names: a SQLite file (the
    default, ``registry: data/registry.db``) or a PostgreSQL database (``registry_type: sql``
    with ``path: postgresql://user:password@host:port/database``). Nothing is created before
    the first write; reading a registry that does not exist yet gives an empty snapshot at
    version 0.

    Args:
        config: the repository configuration.

    Example:
        >>> from skewless.config import RepoConfig
        >>> registry = Registry(RepoConfig(project="demo", repo_path="/nonexistent"))
        >>> registry.version(), registry.snapshot().feature_views
        (0, {})
    """

    # Chooses the backend class for ``Registry(config)``. skewless.registry.backends installs
    # its ``registry_class`` here when the package is imported, so that this base class never
    # imports the subclasses built on it.
    backend_for: ClassVar[Callable[[RepoConfig], type[Registry]]]

    def __new__(cls, config: RepoConfig) -> Registry:
        if cls is Registry:
            cls = Registry.backend_for(config)
        return super().__new__(cls)

    def __init__(self, config: RepoConfig) -> None:
        super().__init__(config)
        self._cached: RegistrySnapshot | None = None

    # -- reading ---------------------------------------------------------------------------
    def version(self) -> int:
        """The registry-wide version: it grows with every commit that changes something.

        One single-row query, cheap enough to poll for new applies.
        """
        return self._read(self._version, 0, atomic=False)

    def _version(self, conn: Any) -> int:
        row = self._execute(
            conn, "SELECT version FROM {meta} WHERE project = ?", (self.project,)
        ).fetchone()
        return int(row[0]) if row else 0

    def object_versions(self) -> dict[tuple[Kind, str], int]:
        """The current version of every object, by ``(kind, name)``."""

        def query(conn: Any) -> dict[tuple[Kind, str], int]:
            rows = self._execute(
                conn, "SELECT kind, name, version FROM {objects} WHERE project = ?", (self.project,)
            ).fetchall()
            return {(kind, name): int(version) for kind, name, version in rows}

        return self._read(query, {}, atomic=False)

    def records(self) -> tuple[int, dict[tuple[Kind, str], ObjectRecord]]:
        """The registry version and every current object, read in one transaction."""

        def query(conn: Any) -> tuple[int, dict[tuple[Kind, str], ObjectRecord]]:
            rows = self._execute(
                conn,
                "SELECT kind, name, version, spec, hash, updated_at FROM {objects} "
                "WHERE project = ? ORDER BY kind, name",
                (self.project,),
            ).fetchall()
            records = {
                (kind, name): ObjectRecord(
                    kind, name, int(version), orjson.loads(spec), digest, _parse_iso(updated)
                )
                for kind, name, version, spec, digest, updated in rows
            }
            return self._version(conn), records

        nothing: dict[tuple[Kind, str], ObjectRecord] = {}
        return self._read(query, (0, nothing))

    def snapshot(self) -> RegistrySnapshot:
        """The current definitions, rebuilt from their stored specs."""
        cached = self._cached
        if cached is not None and self.version() == cached.version:
            return cached
        version, records = self.records()
        by_kind: dict[str, dict[str, Any]] = {kind: {} for kind in KIND_ORDER}
        for (kind, name), record in sorted(records.items()):
            by_kind[kind][name] = from_spec(kind, record.spec)
        for name, view in by_kind["feature_view"].items():
            by_kind["feature_view"][name] = _with_registry_entities(view, by_kind["entity"])
        snapshot = RegistrySnapshot(
            project=self.project,
            version=version,
            entities=by_kind["entity"],
            feature_views=by_kind["feature_view"],
            feature_services=by_kind["feature_service"],
            on_demand_feature_views=by_kind["on_demand_feature_view"],
            pipelines=by_kind["pipeline"],
        )
        self._cached = snapshot
        return snapshot

    def history(self, name: str, kind: str | None = None) -> list[ObjectVersion]:
        """Every version of the object(s) called ``name`` (of ``kind``, if given), oldest first.

        Raises:
            UnknownObjectError: no object of that name was ever applied.
        """
        if kind is not None and kind not in KIND_ORDER:
            raise UnknownObjectError(f"unknown kind {kind!r}: use one of {', '.join(KIND_ORDER)}")
        where, params = "project = ? AND name = ?", [self.project, name]
        if kind is not None:
            where, params = where + " AND kind = ?", [*params, kind]

        def query(conn: Any) -> list[ObjectVersion]:
            rows = self._execute(
                conn,
                "SELECT kind, name, version, created_at, hash, spec, removed "
                "FROM {history} WHERE " + where + " ORDER BY kind, version",
                params,
            ).fetchall()
            return [
                ObjectVersion(k, n, int(v), _parse_iso(at), h, orjson.loads(spec), bool(removed))
                for k, n, v, at, h, spec, removed in rows
            ]

        found: list[ObjectVersion] = self._read(query, [], atomic=False)
        found.sort(key=lambda ov: (KIND_ORDER.index(ov.kind), ov.version))
        if not found:
            known: list[str] = self._read(self._known_names(kind), [], atomic=False)
            what = kind.replace("_", " ") if kind else "object"
            raise UnknownObjectError(
                f"no {what} named {name!r} in registry {self.location} "
                f"(known: {', '.join(known) or 'none yet; run `skewless apply`'})"
            )
        return found

    def _known_names(self, kind: str | None) -> Callable[[Any], list[str]]:
        def query(conn: Any) -> list[str]:
            sql = "SELECT DISTINCT name FROM {history} WHERE project = ?"
            params: list[Any] = [self.project]
            if kind is not None:
                sql += " AND kind = ?"
                params.append(kind)
            return [row[0] for row in self._execute(conn, sql + " ORDER BY name", params)]

        return query

    def search(self, text: str) -> list[tuple[Kind, str, Definition]]:
        """Current objects whose name, description, tags or owner contain ``text``.

        Matching ignores case; a feature view also matches the names of its features.
        Results are in kind order (entities, views, services), then by name.
        """
        needle = text.casefold()
        snapshot = self.snapshot()
        groups: list[tuple[Kind, dict[str, Any]]] = [
            ("entity", dict(snapshot.entities)),
            ("feature_view", dict(snapshot.feature_views)),
            ("feature_service", dict(snapshot.feature_services)),
        ]
        hits: list[tuple[Kind, str, Definition]] = []
        for kind, objects in groups:
            for name in sorted(objects):
                obj = objects[name]
                if any(needle in hay.casefold() for hay in _searchable(obj)):
                    hits.append((kind, name, obj))
        return hits

    # -- writing ---------------------------------------------------------------------------
    def commit(self, changes: Sequence[ObjectChange]) -> int:
        """Apply planned changes atomically and return the new registry version.

        Every touched object must still be at the version the change was planned against;
        otherwise nothing is written. Changes that would store an identical definition are
        skipped, and a commit that changes nothing leaves the registry version as it was.

        Raises:
            RegistryConflictError: another process changed a touched object since the plan.
        """
        if not changes:
            return self.version()
        now = _now()
        with self._write("commit") as conn:
            current = {}
            conflicts = []
            for change in changes:
                row = self._execute(
                    conn,
                    "SELECT version, hash FROM {objects} "
                    "WHERE project = ? AND kind = ? AND name = ?",
                    (self.project, change.kind, change.name),
                ).fetchone()
                current[(change.kind, change.name)] = row
                now_version = int(row[0]) if row else None
                if now_version != change.base_version:
                    conflicts.append(
                        f"{change.kind} {change.name} changed since you planned "
                        f"(version {_fmt_version(change.base_version)}, "
                        f"now {_fmt_version(now_version)})"
                    )
            if conflicts:
                raise RegistryConflictError("; ".join(conflicts) + ": re-run plan/apply")
            registry_version = self._version(conn) + 1
            wrote = False
            for change in changes:
                row = current[(change.kind, change.name)]
                if change.action == "remove":
                    if row is not None:
                        self._remove(conn, change, registry_version, now)
                        wrote = True
                elif row is None or row[1] != change.new_hash:
                    self._store(conn, change, registry_version, now)
                    wrote = True
            if not wrote:
                return registry_version - 1
            self._execute(
                conn,
                "INSERT INTO {meta} (project, version, updated_at) VALUES (?, ?, ?) "
                "ON CONFLICT (project) DO UPDATE SET version = excluded.version, "
                "updated_at = excluded.updated_at",
                (self.project, registry_version, _iso(now)),
            )
        return registry_version

    def _next_version(self, conn: Any, kind: str, name: str) -> int:
        row = self._execute(
            conn,
            "SELECT MAX(version) FROM {history} WHERE project = ? AND kind = ? AND name = ?",
            (self.project, kind, name),
        ).fetchone()
        return int(row[0] or 0) + 1

    def _store(self, conn: Any, change: ObjectChange, registry_version: int, now: datetime) -> None:
        spec = change.new_spec
        assert spec is not None
        digest = definition_hash(spec)
        version = self._next_version(conn, change.kind, change.name)
        dv = None
        if change.kind == "feature_view":
            view = change.new if isinstance(change.new, FeatureView) else None
            view = view or FeatureView.from_spec(spec)
            dv = data_version(view)
            # Watermarks of other data versions describe online rows that no longer exist.
            self._execute(
                conn,
                "DELETE FROM {watermarks} WHERE project = ? AND view = ? AND data_version != ?",
                (self.project, change.name, dv),
            )
        text = _dumps(spec)
        self._execute(
            conn,
            "INSERT INTO {objects} (project, kind, name, version, spec, hash, data_version, "
            "updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (project, kind, name) "
            "DO UPDATE SET version = excluded.version, spec = excluded.spec, "
            "hash = excluded.hash, data_version = excluded.data_version, "
            "updated_at = excluded.updated_at",
            (self.project, change.kind, change.name, version, text, digest, dv, _iso(now)),
        )
        self._execute(
            conn,
            "INSERT INTO {history} (project, kind, name, version, registry_version, "
            "created_at, hash, spec, removed) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0)",
            (self.project, change.kind, change.name, version, registry_version, _iso(now),
             digest, text),
        )  # fmt: skip

    def _remove(
        self, conn: Any, change: ObjectChange, registry_version: int, now: datetime
    ) -> None:
        key = (self.project, change.kind, change.name)
        spec, digest = self._execute(
            conn,
            "SELECT spec, hash FROM {objects} WHERE project = ? AND kind = ? AND name = ?",
            key,
        ).fetchone()
        version = self._next_version(conn, change.kind, change.name)
        self._execute(
            conn, "DELETE FROM {objects} WHERE project = ? AND kind = ? AND name = ?", key
        )
        self._execute(
            conn,
            "INSERT INTO {history} (project, kind, name, version, registry_version, "
            "created_at, hash, spec, removed) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 1)",
            (*key, version, registry_version, _iso(now), digest, spec),
        )
        if change.kind == "feature_view":
            self._execute(
                conn,
                "DELETE FROM {watermarks} WHERE project = ? AND view = ?",
                (self.project, change.name),
            )

    # -- watermarks ------------------------------------------------------------------------
    def get_watermark(self, view: FeatureView) -> Watermark | None:
        """The view's watermark at its current data version (None: never materialized)."""

        def query(conn: Any) -> Watermark | None:
            row = self._execute(
                conn,
                "SELECT watermark_us, max_created_us, updated_at FROM {watermarks} "
                "WHERE project = ? AND view = ? AND data_version = ?",
                (self.project, view.name, data_version(view)),
            ).fetchone()
            if row is None:
                return None
            mark, created, updated = row
            return Watermark(
                from_micros(int(mark)),
                from_micros(int(created)) if created is not None else None,
                _parse_iso(updated),
            )

        return self._read(query, None, atomic=False)

    def set_watermark(
        self, view: FeatureView, watermark: datetime, max_created: datetime | None = None
    ) -> bool:
        """Move the view's watermark to ``max(old, watermark)`` (and likewise ``max_created``).

        Call it only after the rows up to ``watermark`` are durable online. Nothing is
        recorded (and False is returned) when the registry no longer holds this definition
        of the view, because its online rows were dropped by an apply in the meantime.
        """
        mark_us = to_micros(watermark)
        created_us = to_micros(max_created) if max_created is not None else None
        dv = data_version(view)
        greatest = self.greatest
        with self._write("watermark") as conn:
            row = self._execute(
                conn,
                "SELECT data_version FROM {objects} WHERE project = ? "
                "AND kind = 'feature_view' AND name = ?",
                (self.project, view.name),
            ).fetchone()
            if row is None or row[0] != dv:
                log.warning(
                    "watermark of feature view %r not recorded: the registry holds %s",
                    view.name,
                    "no such view" if row is None else "a newer definition of it",
                )
                return False
            old, new = "{watermarks}.max_created_us", "excluded.max_created_us"
            self._execute(
                conn,
                "INSERT INTO {watermarks} (project, view, data_version, watermark_us, "
                "max_created_us, updated_at) VALUES (?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (project, view, data_version) DO UPDATE SET "
                f"watermark_us = {greatest}({{watermarks}}.watermark_us, excluded.watermark_us), "
                f"max_created_us = CASE WHEN {old} IS NULL THEN {new} WHEN {new} IS NULL "
                f"THEN {old} ELSE {greatest}({old}, {new}) END, "
                "updated_at = excluded.updated_at",
                (self.project, view.name, dv, mark_us, created_us, _iso(_now())),
            )
        return True

    # -- saved datasets --------------------------------------------------------------------
    def put_dataset(self, name: str, spec_json: str, overwrite: bool = False) -> str | None:
        """Record the saved dataset ``name`` (its metadata as JSON text).

        Returns the spec it replaced (None when the name was new).

        Raises:
            RegistryConflictError: ``name`` exists and ``overwrite`` is false.
        """
        with self._write("commit") as conn:
            self._execute(conn, DATASETS_SCHEMA)
            row = self._execute(
                conn,
                "SELECT spec FROM {datasets} WHERE project = ? AND name = ?",
                (self.project, name),
            ).fetchone()
            if row is not None and not overwrite:
                raise RegistryConflictError(
                    f"dataset {name!r} already exists in registry {self.location}: "
                    "pass overwrite=True to replace it, or choose another name"
                )
            self._execute(
                conn,
                "INSERT INTO {datasets} (project, name, spec, created_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (project, name) DO UPDATE SET spec = excluded.spec, "
                "created_at = excluded.created_at",
                (self.project, name, spec_json, _iso(_now())),
            )
        return None if row is None else str(row[0])

    def get_dataset_spec(self, name: str) -> str | None:
        """The metadata (JSON text) of the saved dataset ``name``; None when there is none."""

        def query(conn: Any) -> str | None:
            row = self._execute(
                conn,
                "SELECT spec FROM {datasets} WHERE project = ? AND name = ?",
                (self.project, name),
            ).fetchone()
            return None if row is None else str(row[0])

        return self._read(query, None, atomic=False)

    def list_dataset_specs(self) -> list[tuple[str, str]]:
        """``(name, metadata JSON)`` of every saved dataset of the project, by name."""

        def query(conn: Any) -> list[tuple[str, str]]:
            rows = self._execute(
                conn,
                "SELECT name, spec FROM {datasets} WHERE project = ? ORDER BY name",
                (self.project,),
            ).fetchall()
            return [(str(name), str(spec)) for name, spec in rows]

        return self._read(query, [], atomic=False)

    def delete_dataset(self, name: str) -> bool:
        """Forget the saved dataset ``name``; True when there was one."""
        with self._write("commit") as conn:
            self._execute(conn, DATASETS_SCHEMA)
            cursor = self._execute(
                conn,
                "DELETE FROM {datasets} WHERE project = ? AND name = ?",
                (self.project, name),
            )
            return bool(cursor.rowcount)


def _with_registry_entities(view: FeatureView, entities: dict[str, Any]) -> FeatureView:
    """The view holding the registry's full entities (a view's spec keeps only their keys)."""
    full: list[Entity] = []
    for ent in view.entities:
        known = entities.get(ent.name)
        if not isinstance(known, Entity) or known.join_keys != ent.join_keys:
            return view
        full.append(known)
    return replace(view, entities=tuple(full))


def _fmt_version(version: int | None) -> str:
    return "absent" if version is None else str(version)


def _searchable(obj: Definition) -> list[str]:
    texts = [obj.name, obj.description, obj.owner]
    for key, value in obj.tags.items():
        texts += [key, value]
    if isinstance(obj, FeatureView):
        texts += list(obj.feature_names)
    return texts
