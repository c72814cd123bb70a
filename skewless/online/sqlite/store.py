"""The embedded online store: one SQLite file, one table per online table name.

Each table is ``(key BLOB PRIMARY KEY, ts INTEGER, created INTEGER, payload BLOB) WITHOUT
ROWID``: the entity key and payload are encoded by :mod:`skewless.online.codec`, times are
microseconds since the epoch (UTC). The file runs in WAL mode, so readers never wait for a
writer and a reader sees each write transaction whole or not at all.

Thread safety: a store may be shared by threads. Each thread gets its own connection (SQLite
connections are not meant to be shared); writers from several threads or processes are
serialized by SQLite's write lock (``BEGIN IMMEDIATE``, waiting up to ``BUSY_TIMEOUT_S``).
A forked child opens fresh connections instead of reusing its parent's.

A file deleted or replaced (renamed over) while the store is open is noticed within
``FILE_CHECK_S``: the store closes its connections and opens the file now at its path (a new,
empty one when it was deleted), as a process started then would.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import operator
import os
import sqlite3
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import timedelta
from pathlib import Path
from typing import ParamSpec, TypeVar

from skewless._contracts import Merge, OnlineRow, StoredRow
from skewless._files import file_identity
from skewless.config import RepoConfig, SqliteOnlineConfig
from skewless.errors import OnlineStoreUnavailableError

__all__ = ["BUSY_TIMEOUT_S", "FILE_CHECK_S", "SqliteOnlineStore"]

BUSY_TIMEOUT_S = 60.0
"""How long a writer waits for another writer's transaction before giving up."""

FILE_CHECK_S = 1.0
"""How often the store checks that the file at its path is still the one it opened."""

_MAX_PARAMS = 30_000  # below SQLITE_MAX_VARIABLE_NUMBER (32766)

_UPSERT = (
    "INSERT INTO {t} (key, ts, created, payload) VALUES (?, ?, ?, ?) "
    "ON CONFLICT (key) DO UPDATE SET "
    "ts = excluded.ts, created = excluded.created, payload = excluded.payload "
    # The monotonic rule: (ts, created) >= stored, a null created ranking lowest; on a full
    # tie the later write wins.
    "WHERE excluded.ts > {t}.ts OR (excluded.ts = {t}.ts AND "
    "({t}.created IS NULL OR excluded.created >= {t}.created))"
)
_CREATE = (
    "CREATE TABLE IF NOT EXISTS {t} "
    "(key BLOB PRIMARY KEY, ts INTEGER NOT NULL, created INTEGER, payload BLOB NOT NULL) "
    "WITHOUT ROWID"
)

_UNREACHABLE = ("unable to open", "disk I/O error", "readonly database", "disk is full")
"""SQLite errors that mean the file cannot be used right now: an outage, not a bad request."""

P = ParamSpec("P")
R = TypeVar("R")

_key_of = operator.itemgetter(0)
_stores: weakref.WeakSet[SqliteOnlineStore] = weakref.WeakSet()


def _reachable(method: Callable[P, R]) -> Callable[P, R]:
    """Turn SQLite's "cannot use the file" errors into :class:`OnlineStoreUnavailableError`."""

    @functools.wraps(method)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            try:
                return method(*args, **kwargs)
            except sqlite3.ProgrammingError as exc:
                # Closed by another thread that found the file replaced: the store's writes
                # are idempotent, so run it again on a new connection.
                if "closed database" not in str(exc):
                    raise
                return method(*args, **kwargs)
        except sqlite3.OperationalError as exc:
            text = str(exc)
            if not any(sign in text for sign in _UNREACHABLE):
                raise
            store = args[0]
            assert isinstance(store, SqliteOnlineStore)
            raise OnlineStoreUnavailableError(
                f"cannot use the SQLite online store {store.path} ({text}): check that its "
                "directory exists and is writable and the disk is healthy and not full"
            ) from None

    return wrapper


def _quote(table: str) -> str:
    return '"' + table.replace('"', '""') + '"'


class SqliteOnlineStore:
    """The :class:`~skewless._contracts.OnlineStore` on one local SQLite file.

    Args:
        block: the ``online_store`` block of ``feature_store.yaml``.
        repo_path: the repository directory; a relative ``path`` resolves against it.

    Example:
        >>> import tempfile
        >>> from skewless.config import SqliteOnlineConfig
        >>> root = Path(tempfile.mkdtemp())
        >>> store = SqliteOnlineStore(SqliteOnlineConfig(path="online.db"), root)
        >>> store.write("t", [(b"k", 10, None, b"[1]")])
        1
        >>> store.read([("t", [b"k", b"other"]), ("missing", [b"k"])])
        [[(10, b'[1]'), None], [None]]
        >>> store.close()
    """

    def __init__(self, block: SqliteOnlineConfig, repo_path: Path) -> None:
        config = RepoConfig(project="online", repo_path=Path(repo_path))
        self.path = config.resolve(block.path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._lock = threading.Lock()
        self._connections: list[sqlite3.Connection] = []
        self._tables: set[str] = set()
        self._sql: dict[object, str] = {}  # by table (one key) or lookup shape
        self._file: tuple[int, int] | None = None  # (st_dev, st_ino) of the file opened
        self._checked = time.monotonic()
        _stores.add(self)

    # -- connections -----------------------------------------------------------------------
    def _conn(self) -> sqlite3.Connection:
        if time.monotonic() - self._checked >= FILE_CHECK_S:
            self._reopen_if_replaced()
        try:
            conn: sqlite3.Connection = self._local.conn
            return conn
        except AttributeError:
            pass
        conn = sqlite3.connect(
            self.path,
            timeout=BUSY_TIMEOUT_S,
            isolation_level=None,  # transactions are explicit
            check_same_thread=False,  # used by one thread; closed by whoever calls close()
            cached_statements=256,
        )
        _use_wal(conn)
        # FULL: a committed write survives power loss, so a watermark recorded after it
        # never points past data that could vanish. Writes are batched, so this is cheap.
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA cache_size=-65536")
        self._local.conn = conn
        with self._lock:
            self._connections.append(conn)
            if self._file is None:
                self._file = file_identity(self.path)
        return conn

    def _reopen_if_replaced(self) -> None:
        """Close every connection if the file at ``path`` is no longer the one they opened
        (deleted, or replaced by a rename), so the next call opens the file there now.

        Open connections would otherwise keep reading the old file for ever: stale values,
        and writes nobody else sees.
        """
        self._checked = time.monotonic()
        opened = self._file
        if opened is None or file_identity(self.path) == opened:
            return
        self.close()
        self._tables.clear()

    def _reset_after_fork(self) -> None:
        self._local = threading.local()
        self._lock = threading.Lock()
        self._connections = []  # the parent's connections are the parent's to close

    def close(self) -> None:
        """Close every connection this store opened (in any thread)."""
        with self._lock:
            connections, self._connections = self._connections, []
        for conn in connections:
            conn.close()
        self._local = threading.local()
        self._file = None

    # -- writing ---------------------------------------------------------------------------
    @_reachable
    def write(self, table: str, rows: Iterable[OnlineRow]) -> int:
        """Upsert ``rows`` into ``table`` in one transaction under the monotonic rule.

        The table is created on first write. All rows commit together or none do. A list or
        tuple is written in key order; any other iterable is streamed into the transaction as
        it yields rows (a failing iterator rolls the whole transaction back).
        """
        if not isinstance(rows, list | tuple):
            return self._write_stream(table, iter(rows))
        batch = rows
        if len(batch) > 1_000:
            # Inserting in key order keeps B-tree writes local (much faster for big batches);
            # the sort is stable, so of two rows of one key the later one still wins a tie.
            batch = sorted(batch, key=_key_of)
        quoted = _quote(table)
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            if table not in self._tables:
                conn.execute(_CREATE.format(t=quoted))
            conn.executemany(_UPSERT.format(t=quoted), batch)
            conn.execute("COMMIT")
        except sqlite3.OperationalError as exc:
            _rollback(conn)
            if "no such table" not in str(exc) or table not in self._tables:
                raise
            self._tables.discard(table)  # dropped by another connection: create it again
            return self.write(table, batch)
        except BaseException:
            _rollback(conn)
            raise
        self._tables.add(table)
        return len(batch)

    def _write_stream(self, table: str, rows: Iterator[OnlineRow]) -> int:
        quoted = _quote(table)
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        offered = itertools.count()
        try:
            # Created inside the transaction every time: a table dropped by another
            # connection cannot fail the write half-way through the rows.
            conn.execute(_CREATE.format(t=quoted))
            counted = map(_key_of, zip(rows, offered, strict=False))
            conn.executemany(_UPSERT.format(t=quoted), counted)
            conn.execute("COMMIT")
        except sqlite3.ProgrammingError as exc:
            _rollback_quietly(conn)
            if "closed database" in str(exc) and next(offered) > 0:
                # Rows already consumed cannot be offered again: say so instead of retrying.
                raise OnlineStoreUnavailableError(
                    f"the SQLite online store {self.path} was replaced while rows of table "
                    f"{table!r} were being written; nothing of this write was committed: "
                    "run it again"
                ) from exc
            raise
        except BaseException:
            _rollback(conn)
            raise
        self._tables.add(table)
        return next(offered)

    @_reachable
    def update(self, table: str, keys: Sequence[bytes], merge: Merge) -> None:
        """Read, merge and write the rows of ``keys`` in one ``BEGIN IMMEDIATE`` transaction
        (other writers wait), so nothing lands between the read and the write."""
        wanted = list(keys)
        if not wanted:
            return
        quoted = _quote(table)
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.execute(_CREATE.format(t=quoted))
            found: dict[bytes, StoredRow] = {}
            unique = list(dict.fromkeys(wanted))
            for start in range(0, len(unique), _MAX_PARAMS):
                part = unique[start : start + _MAX_PARAMS]
                marks = ",".join("?" * len(part))
                sql = f"SELECT key, ts, payload FROM {quoted} WHERE key IN ({marks})"
                for key, ts, payload in conn.execute(sql, part):
                    found[key] = (ts, payload)
            rows = merge([found.get(key) for key in wanted])
            replace = (
                f"INSERT OR REPLACE INTO {quoted} (key, ts, created, payload) "
                "VALUES (?, ?, NULL, ?)"
            )
            conn.executemany(
                replace,
                [(key, row[0], row[1]) for key, row in zip(wanted, rows, strict=True) if row],
            )
            conn.execute("COMMIT")
        except BaseException:
            _rollback(conn)
            raise
        self._tables.add(table)

    def set_table_ttl(self, table: str, ttl: timedelta | None) -> None:
        """Rows never expire here: the TTL is applied when they are read."""

    @_reachable
    def drop(self, tables: Sequence[str]) -> None:
        """Drop ``tables`` (missing ones are ignored) in one transaction."""
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            for table in tables:
                conn.execute(f"DROP TABLE IF EXISTS {_quote(table)}")
            conn.execute("COMMIT")
        except BaseException:
            _rollback(conn)
            raise
        self._tables.difference_update(tables)

    @_reachable
    def ping(self) -> None:
        """Check that the file can be read (raises :class:`OnlineStoreUnavailableError`)."""
        self._conn().execute("SELECT count(*) FROM sqlite_master").fetchone()

    # -- reading ---------------------------------------------------------------------------
    @_reachable
    def read(self, lookups: Sequence[tuple[str, Sequence[bytes]]]) -> list[list[StoredRow | None]]:
        """Stored rows for every ``(table, keys)``, in key order; None where absent.

        One SQL statement answers all lookups (a ``UNION ALL`` over tables), so the answer is
        one consistent snapshot. A table that does not exist reads as all-absent.
        """
        conn = self._conn()
        if len(lookups) == 1:
            table, keys = lookups[0]
            if len(keys) == 1 and table in self._tables:
                sql = self._sql.get(table) or self._one_sql(table)
                try:
                    return [[conn.execute(sql, keys).fetchone()]]
                except sqlite3.OperationalError:
                    self._tables.discard(table)
                    return self.read(lookups)
        present = self._existing([table for table, _ in lookups], conn)
        wanted = [
            (i, table, list(dict.fromkeys(keys)))
            for i, (table, keys) in enumerate(lookups)
            if table in present and keys
        ]
        found: list[dict[bytes, StoredRow]] = [{} for _ in lookups]
        try:
            for i, ts, payload, key in self._select(conn, wanted):
                found[i][key] = (ts, payload)
        except sqlite3.OperationalError as exc:
            if "no such table" not in str(exc):
                raise
            self._tables.clear()  # dropped by another connection: look again
            return self.read(lookups)
        return [
            [hits.get(key) for key in keys] for hits, (_, keys) in zip(found, lookups, strict=True)
        ]

    def _one_sql(self, table: str) -> str:
        """The one-key lookup of ``table``, cached under the table's name."""
        sql = self._sql[table] = f"SELECT ts, payload FROM {_quote(table)} WHERE key = ?"
        return sql

    def _select(
        self, conn: sqlite3.Connection, wanted: list[tuple[int, str, list[bytes]]]
    ) -> list[tuple[int, int, bytes, bytes]]:
        if not wanted:
            return []
        if sum(len(keys) for _, _, keys in wanted) > _MAX_PARAMS:
            return self._select_chunked(conn, wanted)
        shape = tuple((i, table, len(keys)) for i, table, keys in wanted)
        sql = self._sql.get(shape)
        if sql is None:
            sql = self._sql[shape] = " UNION ALL ".join(
                f"SELECT {i}, ts, payload, key FROM {_quote(table)} "
                f"WHERE key IN ({','.join('?' * n)})"
                for i, table, n in shape
            )
            if len(self._sql) > 4096:  # many distinct shapes: keep the cache bounded
                self._sql.clear()
        params = [key for _, _, keys in wanted for key in keys]
        rows: list[tuple[int, int, bytes, bytes]] = conn.execute(sql, params).fetchall()
        return rows

    def _select_chunked(
        self, conn: sqlite3.Connection, wanted: list[tuple[int, str, list[bytes]]]
    ) -> list[tuple[int, int, bytes, bytes]]:
        rows: list[tuple[int, int, bytes, bytes]] = []
        conn.execute("BEGIN")  # one snapshot across the statements
        try:
            for i, table, keys in wanted:
                for start in range(0, len(keys), _MAX_PARAMS):
                    rows.extend(self._select(conn, [(i, table, keys[start : start + _MAX_PARAMS])]))
        finally:
            conn.execute("COMMIT")
        return rows

    def _existing(self, tables: Sequence[str], conn: sqlite3.Connection) -> set[str]:
        unknown = [t for t in tables if t not in self._tables]
        if unknown:
            marks = ",".join("?" * len(unknown))
            for (name,) in conn.execute(
                f"SELECT name FROM sqlite_master WHERE type = 'table' AND name IN ({marks})",
                unknown,
            ):
                self._tables.add(name)
        return self._tables.intersection(tables)


def _use_wal(conn: sqlite3.Connection) -> None:
    """Switch the file to WAL (once per file; it persists). Switching needs the file to
    itself, and SQLite does not wait for that, so a connection racing another retries."""
    deadline = time.monotonic() + BUSY_TIMEOUT_S
    while True:
        try:
            conn.execute("PRAGMA journal_mode=WAL")  # a file system without WAL keeps its mode
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
        time.sleep(0.005)


def _rollback(conn: sqlite3.Connection) -> None:
    if conn.in_transaction:
        conn.execute("ROLLBACK")


def _rollback_quietly(conn: sqlite3.Connection) -> None:
    with contextlib.suppress(sqlite3.ProgrammingError):  # closed: nothing to roll back
        _rollback(conn)


def _after_fork_in_child() -> None:
    for store in list(_stores):
        store._reset_after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
