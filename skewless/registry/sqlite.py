"""The registry in one SQLite file: current objects, their history, watermarks.

Every write is one short ``BEGIN IMMEDIATE`` transaction in WAL mode, so readers never block
and concurrent writers wait (up to the busy timeout) instead of failing. Versioning is
optimistic: a plan records the version of each object it touches, and :meth:`Registry.commit`
refuses to write if any of them moved in between.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import orjson

from skewless._time import from_micros, to_micros
from skewless.config import RepoConfig
from skewless.definitions import Definition, Entity, FeatureView, Kind, definition_hash, from_spec
from skewless.errors import RegistryConflictError, RegistryError, UnknownObjectError
from skewless.registry.records import (
    KIND_ORDER,
    ObjectChange,
    ObjectRecord,
    ObjectVersion,
    Watermark,
)
from skewless.registry.snapshot import RegistrySnapshot, data_version

__all__ = ["Registry"]

log = logging.getLogger(__name__)

T = TypeVar("T")

BUSY_TIMEOUT_SECONDS = 60.0
SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS registry_meta (
    project     TEXT PRIMARY KEY,
    version     INTEGER NOT NULL,
    updated_at  TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS objects (
    project      TEXT NOT NULL,
    kind         TEXT NOT NULL,
    name         TEXT NOT NULL,
    version      INTEGER NOT NULL,
    spec         TEXT NOT NULL,
    hash         TEXT NOT NULL,
    data_version TEXT,
    updated_at   TEXT NOT NULL,
    PRIMARY KEY (project, kind, name)
);
CREATE TABLE IF NOT EXISTS object_history (
    project          TEXT NOT NULL,
    kind             TEXT NOT NULL,
    name             TEXT NOT NULL,
    version          INTEGER NOT NULL,
    registry_version INTEGER NOT NULL,
    created_at       TEXT NOT NULL,
    hash             TEXT NOT NULL,
    spec             TEXT NOT NULL,
    removed          INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (project, kind, name, version)
);
CREATE TABLE IF NOT EXISTS watermarks (
    project        TEXT NOT NULL,
    view           TEXT NOT NULL,
    data_version   TEXT NOT NULL,
    watermark_us   INTEGER NOT NULL,
    max_created_us INTEGER,
    updated_at     TEXT NOT NULL,
    PRIMARY KEY (project, view, data_version)
);
"""


def _now() -> datetime:
    return datetime.now(UTC)


def _iso(value: datetime) -> str:
    return value.isoformat(timespec="microseconds")


def _parse_iso(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def _dumps(spec: dict[str, Any]) -> str:
    return orjson.dumps(spec, option=orjson.OPT_SORT_KEYS).decode()


class Registry:
    """Definitions of one project, their version history and materialization watermarks.

    Args:
        config: the repository configuration; the file is ``config.registry.path`` resolved
            against the repository. It is created (with its directory) on the first write;
            reading a registry that does not exist gives an empty snapshot at version 0.

    Example:
        >>> from skewless.config import RepoConfig
        >>> registry = Registry(RepoConfig(project="demo", repo_path="/nonexistent"))
        >>> registry.version(), registry.snapshot().feature_views
        (0, {})
    """

    def __init__(self, config: RepoConfig) -> None:
        self.config = config
        self.project = config.project
        self.path: Path = config.resolve(config.registry.path)
        self._local = threading.local()
        self._lock = threading.Lock()
        self._connections: list[sqlite3.Connection] = []
        self._owner_pid = os.getpid()
        self._cached: RegistrySnapshot | None = None

    def __repr__(self) -> str:
        return f"Registry(project={self.project!r}, path='{self.path}')"

    # -- connections -----------------------------------------------------------------------
    def _connection(self, *, create: bool) -> sqlite3.Connection | None:
        """This thread's connection; None when reading a registry that does not exist."""
        local = self._local
        conn: sqlite3.Connection | None = getattr(local, "conn", None)
        if conn is not None and local.pid == os.getpid():
            if create and not local.ready:
                self._prepare(conn)
                local.ready = True
            return conn
        if not self.path.exists():
            if not create:
                return None
            self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            conn = sqlite3.connect(
                self.path,
                timeout=BUSY_TIMEOUT_SECONDS,
                isolation_level=None,
                check_same_thread=False,
            )
            conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_SECONDS * 1000)}")
            # FULL: an apply or a watermark that was reported committed survives power loss.
            conn.execute("PRAGMA synchronous = FULL")
        except sqlite3.Error as exc:
            raise self._error(exc) from None
        local.conn, local.pid, local.ready = conn, os.getpid(), False
        with self._lock:
            if self._owner_pid != os.getpid():  # a forked child: the parent's are not ours
                self._connections, self._owner_pid = [], os.getpid()
            self._connections.append(conn)
        if create:
            self._prepare(conn)
            local.ready = True
        return conn

    def _prepare(self, conn: sqlite3.Connection) -> None:
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("BEGIN IMMEDIATE")
            try:
                for statement in _SCHEMA.split(";"):
                    if statement.strip():
                        conn.execute(statement)
                conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            raise self._error(exc) from None

    def _error(self, exc: sqlite3.Error) -> RegistryError:
        text = str(exc)
        if "locked" in text or "busy" in text:
            return RegistryError(
                f"registry {self.path} stayed locked by another process for "
                f"{BUSY_TIMEOUT_SECONDS:.0f} s: retry when the other apply or materialization "
                "has finished"
            )
        return RegistryError(
            f"cannot use registry {self.path} ({text}): check that the path in "
            "feature_store.yaml points to a skewless registry file you can write"
        )

    def close(self) -> None:
        """Close every connection this registry opened, in any thread (later calls reopen)."""
        with self._lock:
            connections = self._connections if self._owner_pid == os.getpid() else []
            self._connections = []
        for conn in connections:
            conn.close()
        self._local = threading.local()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        conn = self._connection(create=True)
        assert conn is not None
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise self._error(exc) from None
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        try:
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            conn.execute("ROLLBACK")
            raise self._error(exc) from None

    def _read(self, query: Callable[[sqlite3.Connection], T], empty: T) -> T:
        """Run ``query`` in one read transaction; ``empty`` when there is no registry yet."""
        conn = self._connection(create=False)
        if conn is None:
            return empty
        try:
            conn.execute("BEGIN")
            try:
                return query(conn)
            finally:
                conn.execute("COMMIT")
        except sqlite3.OperationalError as exc:
            if "no such table" in str(exc):  # created by another process a moment ago
                return empty
            raise self._error(exc) from None
        except sqlite3.Error as exc:
            raise self._error(exc) from None

    # -- reading ---------------------------------------------------------------------------
    def version(self) -> int:
        """The registry-wide version: it grows with every commit that changes something."""
        return self._read(self._version, 0)

    def _version(self, conn: sqlite3.Connection) -> int:
        row = conn.execute(
            "SELECT version FROM registry_meta WHERE project = ?", (self.project,)
        ).fetchone()
        return int(row[0]) if row else 0

    def object_versions(self) -> dict[tuple[Kind, str], int]:
        """The current version of every object, by ``(kind, name)``."""

        def query(conn: sqlite3.Connection) -> dict[tuple[Kind, str], int]:
            rows = conn.execute(
                "SELECT kind, name, version FROM objects WHERE project = ?", (self.project,)
            )
            return {(kind, name): version for kind, name, version in rows}

        return self._read(query, {})

    def records(self) -> tuple[int, dict[tuple[Kind, str], ObjectRecord]]:
        """The registry version and every current object, read in one transaction."""

        def query(conn: sqlite3.Connection) -> tuple[int, dict[tuple[Kind, str], ObjectRecord]]:
            rows = conn.execute(
                "SELECT kind, name, version, spec, hash, updated_at FROM objects "
                "WHERE project = ? ORDER BY kind, name",
                (self.project,),
            )
            records = {
                (kind, name): ObjectRecord(
                    kind, name, version, orjson.loads(spec), digest, _parse_iso(updated)
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

        def query(conn: sqlite3.Connection) -> list[ObjectVersion]:
            sql = (
                "SELECT kind, name, version, created_at, hash, spec, removed "
                "FROM object_history WHERE project = ? AND name = ?"
            )
            params: list[Any] = [self.project, name]
            if kind is not None:
                sql += " AND kind = ?"
                params.append(kind)
            rows = conn.execute(sql + " ORDER BY kind, version", params).fetchall()
            return [
                ObjectVersion(k, n, v, _parse_iso(at), h, orjson.loads(spec), bool(removed))
                for k, n, v, at, h, spec, removed in rows
            ]

        found: list[ObjectVersion] = self._read(query, [])
        found.sort(key=lambda ov: (KIND_ORDER.index(ov.kind), ov.version))
        if not found:
            known: list[str] = self._read(self._known_names(kind), [])
            what = kind.replace("_", " ") if kind else "object"
            raise UnknownObjectError(
                f"no {what} named {name!r} in registry {self.path} "
                f"(known: {', '.join(known) or 'none yet; run `skewless apply`'})"
            )
        return found

    def _known_names(self, kind: str | None) -> Callable[[sqlite3.Connection], list[str]]:
        def query(conn: sqlite3.Connection) -> list[str]:
            sql = "SELECT DISTINCT name FROM object_history WHERE project = ?"
            params: list[Any] = [self.project]
            if kind is not None:
                sql += " AND kind = ?"
                params.append(kind)
            return [row[0] for row in conn.execute(sql + " ORDER BY name", params)]

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
        with self._write() as conn:
            current = {}
            conflicts = []
            for change in changes:
                row = conn.execute(
                    "SELECT version, hash FROM objects WHERE project = ? AND kind = ? AND name = ?",
                    (self.project, change.kind, change.name),
                ).fetchone()
                current[(change.kind, change.name)] = row
                now_version = row[0] if row else None
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
            conn.execute(
                "INSERT INTO registry_meta (project, version, updated_at) VALUES (?, ?, ?) "
                "ON CONFLICT (project) DO UPDATE SET version = excluded.version, "
                "updated_at = excluded.updated_at",
                (self.project, registry_version, _iso(now)),
            )
        return registry_version

    def _next_version(self, conn: sqlite3.Connection, kind: str, name: str) -> int:
        row = conn.execute(
            "SELECT MAX(version) FROM object_history WHERE project = ? AND kind = ? AND name = ?",
            (self.project, kind, name),
        ).fetchone()
        return int(row[0] or 0) + 1

    def _store(
        self, conn: sqlite3.Connection, change: ObjectChange, registry_version: int, now: datetime
    ) -> None:
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
            conn.execute(
                "DELETE FROM watermarks WHERE project = ? AND view = ? AND data_version != ?",
                (self.project, change.name, dv),
            )
        text = _dumps(spec)
        conn.execute(
            "INSERT INTO objects (project, kind, name, version, spec, hash, data_version, "
            "updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (project, kind, name) "
            "DO UPDATE SET version = excluded.version, spec = excluded.spec, "
            "hash = excluded.hash, data_version = excluded.data_version, "
            "updated_at = excluded.updated_at",
            (self.project, change.kind, change.name, version, text, digest, dv, _iso(now)),
        )
        conn.execute(
            "INSERT INTO object_history (project, kind, name, version, registry_version, "
            "created_at, hash, spec, removed) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0)",
            (self.project, change.kind, change.name, version, registry_version, _iso(now),
             digest, text),
        )  # fmt: skip

    def _remove(
        self, conn: sqlite3.Connection, change: ObjectChange, registry_version: int, now: datetime
    ) -> None:
        key = (self.project, change.kind, change.name)
        spec, digest = conn.execute(
            "SELECT spec, hash FROM objects WHERE project = ? AND kind = ? AND name = ?", key
        ).fetchone()
        version = self._next_version(conn, change.kind, change.name)
        conn.execute("DELETE FROM objects WHERE project = ? AND kind = ? AND name = ?", key)
        conn.execute(
            "INSERT INTO object_history (project, kind, name, version, registry_version, "
            "created_at, hash, spec, removed) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 1)",
            (*key, version, registry_version, _iso(now), digest, spec),
        )
        if change.kind == "feature_view":
            conn.execute(
                "DELETE FROM watermarks WHERE project = ? AND view = ?",
                (self.project, change.name),
            )

    # -- watermarks ------------------------------------------------------------------------
    def get_watermark(self, view: FeatureView) -> Watermark | None:
        """The view's watermark at its current data version (None: never materialized)."""

        def query(conn: sqlite3.Connection) -> Watermark | None:
            row = conn.execute(
                "SELECT watermark_us, max_created_us, updated_at FROM watermarks "
                "WHERE project = ? AND view = ? AND data_version = ?",
                (self.project, view.name, data_version(view)),
            ).fetchone()
            if row is None:
                return None
            mark, created, updated = row
            return Watermark(
                from_micros(mark),
                from_micros(created) if created is not None else None,
                _parse_iso(updated),
            )

        return self._read(query, None)

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
        with self._write() as conn:
            row = conn.execute(
                "SELECT data_version FROM objects WHERE project = ? AND kind = 'feature_view' "
                "AND name = ?",
                (self.project, view.name),
            ).fetchone()
            if row is None or row[0] != dv:
                log.warning(
                    "watermark of feature view %r not recorded: the registry holds %s",
                    view.name,
                    "no such view" if row is None else "a newer definition of it",
                )
                return False
            conn.execute(
                "INSERT INTO watermarks (project, view, data_version, watermark_us, "
                "max_created_us, updated_at) VALUES (?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (project, view, data_version) DO UPDATE SET "
                "watermark_us = MAX(watermark_us, excluded.watermark_us), "
                "max_created_us = CASE WHEN max_created_us IS NULL "
                "THEN excluded.max_created_us WHEN excluded.max_created_us IS NULL "
                "THEN max_created_us ELSE MAX(max_created_us, excluded.max_created_us) END, "
                "updated_at = excluded.updated_at",
                (self.project, view.name, dv, mark_us, created_us, _iso(_now())),
            )
        return True


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
