"""The SQL plumbing under the registry: connections per thread, transactions, the dialect seam.

:class:`SqlConnections` owns one connection per thread (reopened after a fork or when found
broken) and runs reads and writes in transactions. A backend subclass supplies the dialect:
the placeholder style, its table names, how to open a connection, how to start a read or
write transaction, how to create the tables and how to word its errors. The queries
themselves are written once, in :mod:`skewless.registry.core`.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import Any, ClassVar, Literal, TypeVar

from skewless.config import RepoConfig
from skewless.errors import RegistryError

__all__ = ["DATASETS_SCHEMA", "SCHEMA", "SqlConnections", "TxMode"]

log = logging.getLogger(__name__)

T = TypeVar("T")

TxMode = Literal["read", "commit", "watermark"]
"""``read``: one consistent read; ``commit``: excludes every other writer of the project;
``watermark``: excludes commits of the project (watermark writes may run side by side)."""

SCHEMA = """
CREATE TABLE IF NOT EXISTS {meta} (
    project     TEXT PRIMARY KEY,
    version     BIGINT NOT NULL,
    updated_at  TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS {objects} (
    project      TEXT NOT NULL,
    kind         TEXT NOT NULL,
    name         TEXT NOT NULL,
    version      BIGINT NOT NULL,
    spec         TEXT NOT NULL,
    hash         TEXT NOT NULL,
    data_version TEXT,
    updated_at   TEXT NOT NULL,
    PRIMARY KEY (project, kind, name)
);
CREATE TABLE IF NOT EXISTS {history} (
    project          TEXT NOT NULL,
    kind             TEXT NOT NULL,
    name             TEXT NOT NULL,
    version          BIGINT NOT NULL,
    registry_version BIGINT NOT NULL,
    created_at       TEXT NOT NULL,
    hash             TEXT NOT NULL,
    spec             TEXT NOT NULL,
    removed          INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (project, kind, name, version)
);
CREATE TABLE IF NOT EXISTS {watermarks} (
    project        TEXT NOT NULL,
    view           TEXT NOT NULL,
    data_version   TEXT NOT NULL,
    watermark_us   BIGINT NOT NULL,
    max_created_us BIGINT,
    updated_at     TEXT NOT NULL,
    PRIMARY KEY (project, view, data_version)
);
"""

DATASETS_SCHEMA = """
CREATE TABLE IF NOT EXISTS {datasets} (
    project     TEXT NOT NULL,
    name        TEXT NOT NULL,
    spec        TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    PRIMARY KEY (project, name)
)
"""
"""The saved-datasets table, created by the first write of a dataset (so registries made
before datasets existed gain it then)."""


class SqlConnections:
    """Connections and transactions of one registry; subclasses fill in the dialect seam."""

    # -- the dialect seam: class attributes and the methods a backend implements -------------
    placeholder: ClassVar[str] = "?"
    tables: ClassVar[dict[str, str]] = {
        "meta": "registry_meta",
        "objects": "objects",
        "history": "object_history",
        "watermarks": "watermarks",
        "datasets": "datasets",
        "documents": "documents",
    }
    greatest: ClassVar[str] = "MAX"
    """The SQL function returning the larger of two values."""

    location: str
    """Where the registry lives, as shown in messages (a path, or a URL without password)."""

    def _open(self, *, create: bool) -> Any | None:
        """A new connection (DB-API style ``execute``); None when there is nothing to read."""
        raise NotImplementedError

    def _create_schema(self, conn: Any) -> None:
        """Create the tables (idempotent, and safe when several processes do it at once)."""
        raise NotImplementedError

    def _transaction(self, conn: Any, mode: TxMode) -> AbstractContextManager[None]:
        """One transaction of ``mode``: committed on success, rolled back on an exception."""
        raise NotImplementedError

    def _is_missing_table(self, exc: Exception) -> bool:
        """Whether ``exc`` says the registry's tables do not exist (yet)."""
        raise NotImplementedError

    def _error(self, exc: Exception) -> RegistryError:
        """The error to raise for a driver error, naming the registry and the fix."""
        raise NotImplementedError

    def _close_connection(self, conn: Any) -> None:
        conn.close()

    def _is_broken(self, conn: Any) -> bool:
        """Whether ``conn`` can no longer be used (so the next call opens a new one)."""
        return False

    driver_errors: ClassVar[tuple[type[Exception], ...]] = ()
    """The driver's error classes that :meth:`_error` translates."""

    # -- shared machinery --------------------------------------------------------------------
    def __init__(self, config: RepoConfig) -> None:
        self.config = config
        self.project = config.project
        self._local = threading.local()
        self._lock = threading.Lock()
        self._connections: list[Any] = []
        self._owner_pid = os.getpid()
        self._sql_cache: dict[str, str] = {}
        self.generation = 0
        """How many times the registry's storage was found replaced and reopened (a reader
        caching definitions re-reads them when it changes, even at an equal version)."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}(project={self.project!r}, location='{self.location}')"

    def _sql(self, text: str) -> str:
        """``text`` with the backend's table names and placeholder style."""
        done = self._sql_cache.get(text)
        if done is None:
            done = text.format(**self.tables).replace("?", self.placeholder)
            self._sql_cache[text] = done
        return done

    def _execute(self, conn: Any, sql: str, params: Sequence[Any] = ()) -> Any:
        return conn.execute(self._sql(sql), tuple(params))

    def _connection(self, *, create: bool) -> Any | None:
        """This thread's connection; None when reading a registry that does not exist."""
        local = self._local
        conn = getattr(local, "conn", None)
        if conn is not None and local.pid == os.getpid():
            if create and not local.ready:
                self._prepare(conn)
                local.ready = True
            return conn
        try:
            conn = self._open(create=create)
        except self.driver_errors as exc:
            raise self._error(exc) from None
        if conn is None:
            return None
        local.conn, local.pid, local.ready = conn, os.getpid(), False
        with self._lock:
            if self._owner_pid != os.getpid():  # a forked child: the parent's are not ours
                self._connections, self._owner_pid = [], os.getpid()
            self._connections.append(conn)
        if create:
            self._prepare(conn)
            local.ready = True
        return conn

    def _forget_if_broken(self) -> bool:
        """Drop this thread's connection if it is broken; True when it was."""
        local = self._local
        conn = getattr(local, "conn", None)
        if conn is None or not self._is_broken(conn):
            return False
        del local.conn
        with self._lock:
            if conn in self._connections:
                self._connections.remove(conn)
        try:
            self._close_connection(conn)
        except Exception as exc:
            log.debug("closing a broken registry connection failed: %s", exc)
        return True

    def _prepare(self, conn: Any) -> None:
        try:
            self._create_schema(conn)
        except self.driver_errors as exc:
            self._forget_if_broken()
            raise self._error(exc) from None

    def close(self) -> None:
        """Close every connection this registry opened, in any thread (later calls reopen)."""
        with self._lock:
            connections = self._connections if self._owner_pid == os.getpid() else []
            self._connections = []
        for conn in connections:
            try:
                self._close_connection(conn)
            except Exception as exc:  # a connection that is already broken
                log.debug("closing a registry connection failed: %s", exc)
        self._local = threading.local()

    @contextmanager
    def _write(self, mode: TxMode = "commit") -> Iterator[Any]:
        conn = self._connection(create=True)
        assert conn is not None
        try:
            with self._transaction(conn, mode):
                yield conn
        except self.driver_errors as exc:
            self._forget_if_broken()
            raise self._error(exc) from None

    def _read(self, query: Callable[[Any], T], empty: T, *, atomic: bool = True) -> T:
        """Run ``query`` (in one read transaction if ``atomic``); ``empty`` when no registry.

        A connection found broken (the server restarted, say) is replaced and the read
        retried once; writes are never retried, since a commit may have landed.
        """
        for attempt in (1, 2):
            conn = self._connection(create=False)
            if conn is None:
                return empty
            try:
                if not atomic:
                    return query(conn)
                with self._transaction(conn, "read"):
                    return query(conn)
            except self.driver_errors as exc:
                if self._is_missing_table(exc):  # nothing written yet (or a moment ago)
                    return empty
                if attempt == 1 and self._forget_if_broken():
                    continue
                raise self._error(exc) from None
        raise AssertionError("unreachable")
