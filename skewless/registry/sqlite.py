"""The registry in one SQLite file (the default): WAL mode, ``BEGIN IMMEDIATE`` writes.

Readers never block, and concurrent writers wait (up to the busy timeout) for each other
instead of failing, so commits of one file are serialized.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ClassVar

from skewless._files import file_identity
from skewless.config import RepoConfig
from skewless.errors import RegistryError, RegistryUnavailableError
from skewless.registry.core import Registry
from skewless.registry.sql import SCHEMA, TxMode

__all__ = ["SqliteRegistry", "sqlite_path"]

BUSY_TIMEOUT_SECONDS = 60.0
SCHEMA_VERSION = 1
_URL_PREFIX = "sqlite:///"
_UNREACHABLE = ("unable to open", "disk I/O error", "readonly database")
"""SQLite errors that mean the file cannot be used right now (removed, unreadable, a failing
disk), rather than a mistake in the request."""


def sqlite_path(config: RepoConfig) -> Path:
    """The registry file ``config`` names (a path, or a ``sqlite:///path`` URL)."""
    path = config.registry.path
    if path.startswith(_URL_PREFIX):
        path = path[len(_URL_PREFIX) :]
    return config.resolve(path)


class SqliteRegistry(Registry):
    """The registry in a SQLite file, created (with its directory) on the first write.

    Args:
        config: the repository configuration; the file is ``config.registry.path`` resolved
            against the repository.
    """

    driver_errors: ClassVar[tuple[type[Exception], ...]] = (sqlite3.Error,)

    def __init__(self, config: RepoConfig) -> None:
        super().__init__(config)
        self.path: Path = sqlite_path(config)
        self.location = str(self.path)
        self._file: tuple[int, int] | None = None  # (st_dev, st_ino) of the file opened

    def _connection(self, *, create: bool) -> Any | None:
        # A file deleted or replaced (renamed over) under open connections would be read
        # for ever through them: notice it (one stat per call) and open the file there now.
        if self._file is not None and file_identity(self.path) != self._file:
            self.close()
            self._cached = None
            self.generation += 1
        conn = super()._connection(create=create)
        if conn is not None and self._file is None:
            self._file = file_identity(self.path)
        return conn

    def close(self) -> None:
        super().close()
        self._file = None

    def _open(self, *, create: bool) -> sqlite3.Connection | None:
        if not self.path.exists():
            if not create:
                return None
            self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(
            self.path,
            timeout=BUSY_TIMEOUT_SECONDS,
            isolation_level=None,
            check_same_thread=False,
        )
        conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_SECONDS * 1000)}")
        # FULL: an apply or a watermark that was reported committed survives power loss.
        conn.execute("PRAGMA synchronous = FULL")
        return conn

    def _create_schema(self, conn: Any) -> None:
        conn.execute("PRAGMA journal_mode = WAL")
        with self._transaction(conn, "commit"):
            for statement in SCHEMA.format(**self.tables).split(";"):
                if statement.strip():
                    conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    @contextmanager
    def _transaction(self, conn: Any, mode: TxMode) -> Iterator[None]:
        conn.execute("BEGIN" if mode == "read" else "BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        try:
            conn.execute("COMMIT")
        except sqlite3.Error:
            conn.execute("ROLLBACK")
            raise

    def _is_missing_table(self, exc: Exception) -> bool:
        return isinstance(exc, sqlite3.OperationalError) and "no such table" in str(exc)

    def _error(self, exc: Exception) -> RegistryError:
        text = str(exc)
        if "locked" in text or "busy" in text:
            return RegistryError(
                f"registry {self.path} stayed locked by another process for "
                f"{BUSY_TIMEOUT_SECONDS:.0f} s: retry when the other apply or materialization "
                "has finished"
            )
        if any(sign in text for sign in _UNREACHABLE):
            return RegistryUnavailableError(
                f"cannot reach registry {self.path} ({text}): check that the file and its "
                "directory exist and the disk is healthy; the server retries on its own"
            )
        return RegistryError(
            f"cannot use registry {self.path} ({text}): check that the path in "
            "feature_store.yaml points to a skewless registry file you can write"
        )
