"""The shared online store on Redis: one string key per (table, entity key).

Layout: the key of a row is ``b"sk:" + table + b":" + entity key`` (``:`` and ``\\`` in a
table name are escaped with ``\\``, so prefixes never overlap); its value is a 17-byte
order header followed by the payload of :mod:`skewless.online.codec`::

    ts + 2**63 (8 bytes, big-endian) | 1 if created else 0 (1 byte) | created + 2**63 (8 bytes)

The header's bytes sort exactly like ``(ts, created)`` with a null created lowest, so the
server-side write script compares two rows with one byte-wise comparison of 17 bytes.

Writes run a Lua script (``EVALSHA``) that applies the monotonic rule of docs/semantics.md to up
to :data:`ROWS_PER_CALL` rows at a time; all calls of one ``write`` go out in one pipelined
round trip, in order, so of two rows of one key with equal ``(ts, created)`` the later wins.
Each script call is atomic; a ``write`` of more rows than that is a sequence of atomic calls
(see docs/redis.md). Reads of every lookup of every table are one ``MGET`` round trip.
"""

from __future__ import annotations

import math
import os
import struct
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from datetime import timedelta
from pathlib import Path
from typing import NoReturn

import redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, WatchError
from redis.exceptions import TimeoutError as RedisTimeoutError

from skewless._contracts import Merge, OnlineRow, StoredRow
from skewless.config import RedisOnlineConfig
from skewless.errors import ConfigError, OnlineStoreError
from skewless.online.redis.connection import parse_connection_string, translate_errors

__all__ = ["KEY_PREFIX", "MGET_KEYS_PER_CALL", "ROWS_PER_CALL", "RedisOnlineStore"]

KEY_PREFIX = b"sk:"
"""Every key the store writes starts with this (``sk:<table>:<entity key>``)."""

ROWS_PER_CALL = 500
"""Rows per script call: each call is atomic and holds the server for about a millisecond."""

MGET_KEYS_PER_CALL = 10_000
"""Keys per ``MGET``; a larger read is several ``MGET`` in the same round trip."""

_SIGN = 1 << 63
_HEADER = struct.Struct(">QBQ")
_HEADER_SIZE = _HEADER.size
_TS = struct.Struct(">Q")
_RETRYABLE = (RedisConnectionError, RedisTimeoutError, ConnectionError, TimeoutError)
_MAX_PREFIXES = 4096
_UPDATE_ATTEMPTS = 100

# KEYS: the rows' keys. ARGV[1]: "1" when every row carries an expiry time, else "0"; then per
# row its value (order header + payload) and, with expiry, the expiry in ms since the epoch.
# A stored value shorter than a header (none, or not ours) is always replaced.
WRITE_SCRIPT = """
local step = 1
if ARGV[1] == "1" then step = 2 end
local byte = string.byte
local written = 0
for i = 1, #KEYS do
  local j = 2 + (i - 1) * step
  local new = ARGV[j]
  local old = redis.call("GETRANGE", KEYS[i], 0, 16)
  local replace = true
  if #old == 17 then
    for b = 1, 17 do
      local x, y = byte(new, b), byte(old, b)
      if x ~= y then
        replace = x > y
        break
      end
    end
  end
  if replace then
    if step == 2 then
      redis.call("SET", KEYS[i], new, "PXAT", ARGV[j + 1])
    else
      redis.call("SET", KEYS[i], new)
    end
    written = written + 1
  end
end
return written
"""


def _bulk(value: bytes) -> bytes:
    return b"$%d\r\n%b\r\n" % (len(value), value)


def _command(*parts: bytes) -> bytes:
    """One command in the Redis protocol (RESP), packed without redis-py's per-argument work."""
    return b"*%d\r\n%b" % (len(parts), b"".join([b"$%d\r\n%b\r\n" % (len(p), p) for p in parts]))


def table_prefix(table: str) -> bytes:
    """The prefix of every key of ``table``.

    >>> table_prefix("shop__stats__0a1b")
    b'sk:shop__stats__0a1b:'
    >>> table_prefix("a:b")
    b'sk:a\\\\:b:'
    """
    escaped = table.replace("\\", "\\\\").replace(":", "\\:")
    return KEY_PREFIX + escaped.encode() + b":"


def _glob_escape(prefix: bytes) -> bytes:
    out = bytearray()
    for byte in prefix:
        if byte in b"*?[]\\":
            out += b"\\"
        out.append(byte)
    return bytes(out)


def pack_value(ts: int, created: int | None, payload: bytes) -> bytes:
    """A stored value: the order header of ``(ts, created)``, then the payload.

    >>> pack_value(1, None, b"[]") < pack_value(1, -5, b"[]") < pack_value(2, None, b"[]")
    True
    """
    if created is None:
        return _HEADER.pack(ts + _SIGN, 0, 0) + payload
    return _HEADER.pack(ts + _SIGN, 1, created + _SIGN) + payload


class RedisOnlineStore:
    """The :class:`~skewless._contracts.OnlineStore` on a Redis server, shared by processes.

    Args:
        block: the ``online_store`` block of ``feature_store.yaml``.
        repo_path: the repository directory (unused: all state is on the server).

    Nothing connects until the first read, write or drop; a server that cannot be reached
    then raises :class:`~skewless.errors.OnlineStoreError` naming ``host:port``.

    Key expiry: with ``key_ttl_seconds`` set, rows of a table whose view has a bounded TTL
    (given by :meth:`set_table_ttl`) expire at ``ts + ttl + key_ttl_seconds``.

    Example:
        >>> store = RedisOnlineStore(
        ...     RedisOnlineConfig(connection_string="127.0.0.1:6379"), Path("."))
        >>> store.write("t", [(b"k", 10, None, b"[1]")])  # doctest: +SKIP
        1
        >>> store.read([("t", [b"k", b"other"])])  # doctest: +SKIP
        [[(10, b'[1]'), None]]
    """

    def __init__(self, block: RedisOnlineConfig, repo_path: Path) -> None:
        self.address = parse_connection_string(block.connection_string)
        margin = block.key_ttl_seconds
        if margin is not None and (margin < 0 or not math.isfinite(margin)):
            raise ConfigError(
                f"online_store.key_ttl_seconds is {margin}: use a margin of 0 or more seconds "
                "(or leave it out to keep keys until they are replaced or dropped)"
            )
        self.key_ttl_seconds = margin
        self._margin_us = None if margin is None else math.ceil(margin * 1_000_000)
        self._pool = self.address.connection_pool()
        self._client = redis.Redis(connection_pool=self._pool)
        # Connections of the read/write path, outside the pool: taking one is a list pop
        # (atomic), where the pool takes a lock, polls the socket and records metrics.
        self._idle: list[redis.Connection] = []
        self._opened: list[redis.Connection] = []
        self._pid = os.getpid()
        self._ttl_us: dict[str, int] = {}
        self._prefixes: dict[str, bytes] = {}
        self._sha: bytes | None = None
        self._script_lock = threading.Lock()

    # -- configuration ---------------------------------------------------------------------
    def set_table_ttl(self, table: str, ttl: timedelta | float | None) -> None:
        """The TTL of the view stored in ``table`` (a timedelta or seconds; None or 0: none).

        Only used for key expiry (``key_ttl_seconds``); without it, keys never expire.
        """
        seconds = ttl.total_seconds() if isinstance(ttl, timedelta) else ttl
        if seconds:
            self._ttl_us[table] = math.ceil(seconds * 1_000_000)
        else:
            self._ttl_us.pop(table, None)

    @property
    def table_ttls(self) -> Mapping[str, float]:
        """The TTLs given with :meth:`set_table_ttl`, in seconds, by table."""
        return {table: us / 1_000_000 for table, us in self._ttl_us.items()}

    def _prefix(self, table: str) -> bytes:
        prefix = self._prefixes.get(table)
        if prefix is None:
            if len(self._prefixes) >= _MAX_PREFIXES:
                self._prefixes.clear()
            prefix = self._prefixes[table] = table_prefix(table)
        return prefix

    # -- the round trip --------------------------------------------------------------------
    def _connection(self) -> redis.Connection:
        """An idle connection of this process (opened on first use), for one exchange."""
        if self._pid != os.getpid():  # forked: the parent's connections are not ours
            self._idle, self._opened, self._pid = [], [], os.getpid()
        try:
            return self._idle.pop()
        except IndexError:
            pool = self._pool
            conn: redis.Connection = pool.connection_class(**pool.connection_kwargs)
            self._opened.append(conn)
            return conn

    def _exchange(self, commands: list[bytes], doing: str = "", keys: int = 0) -> list[object]:
        """Send packed commands in one round trip and return every reply (errors as values).

        A connection that broke (a server restart, an idle timeout) is replaced once: every
        command the store sends can safely be sent again. A connection goes back to the idle
        list only after every reply was read, so the next user never sees stale replies.
        ``doing`` names the work in error messages (default: reading ``keys`` keys).
        """
        conn = self._connection()
        try:
            for attempt in (0, 1):
                try:
                    conn.send_packed_command(commands, check_health=False)
                    replies: list[object] = []
                    for _ in commands:
                        try:
                            replies.append(conn.read_response())
                        except NoScriptError as exc:
                            replies.append(exc)
                    return replies
                except _RETRYABLE:
                    conn.disconnect()  # the next attempt opens a fresh connection
                    if attempt:
                        raise
        except BaseException as exc:
            conn.disconnect()  # unread replies would confuse the next user
            self._failed(exc, doing or f"reading {keys:,} key(s)")
        finally:
            self._idle.append(conn)
        raise AssertionError("unreachable")

    def _failed(self, exc: BaseException, doing: str) -> NoReturn:
        with translate_errors(self.address, doing):
            raise exc
        raise AssertionError("unreachable")

    def _script_sha(self, doing: str) -> bytes:
        if self._sha is None:
            with self._script_lock, translate_errors(self.address, doing):
                sha = self._client.script_load(WRITE_SCRIPT)
                self._sha = sha.encode() if isinstance(sha, str) else sha
        return self._sha

    # -- writing ---------------------------------------------------------------------------
    def write(self, table: str, rows: Iterable[OnlineRow]) -> int:
        """Upsert ``rows`` into ``table`` under the monotonic rule (server-side, atomically
        per script call of up to :data:`ROWS_PER_CALL` rows). Returns the rows offered.

        ``rows`` is read whole before anything is sent, so a failing iterator writes nothing.
        With key expiry on, a row whose expiry time has already passed is skipped.
        """
        batch = rows if isinstance(rows, list | tuple) else list(rows)
        if not batch:
            return 0
        prefix = self._prefix(table)
        ttl_us = self._ttl_us.get(table) if self._margin_us is not None else None
        if ttl_us is None:
            keys = [prefix + key for key, _, _, _ in batch]
            args = [pack_value(ts, created, payload) for _, ts, created, payload in batch]
            step = 1
        else:
            keys, args = self._with_expiry(batch, prefix, ttl_us + (self._margin_us or 0))
            step = 2
        if not keys:
            return len(batch)
        flag = b"1" if step == 2 else b"0"
        chunks = [
            (keys[i : i + ROWS_PER_CALL], args[i * step : (i + ROWS_PER_CALL) * step])
            for i in range(0, len(keys), ROWS_PER_CALL)
        ]
        pending = chunks
        doing = f"writing {len(batch):,} row(s) of table {table!r}"
        for _ in range(3):
            sha = self._script_sha(doing)
            commands = [_command(b"EVALSHA", sha, b"%d" % len(k), *k, flag, *a) for k, a in pending]
            replies = self._exchange(commands, doing)
            missing = [i for i, reply in enumerate(replies) if isinstance(reply, NoScriptError)]
            if not missing:
                return len(batch)
            # The server lost the script (a restart, SCRIPT FLUSH): load it again and resend
            # from the first call that did not run, keeping the order of the rows.
            self._sha = None
            pending = pending[missing[0] :]
        raise AssertionError("the write script was flushed three times in a row")

    def update(self, table: str, keys: Sequence[bytes], merge: Merge) -> None:
        """Read, merge and write the rows of ``keys`` optimistically: ``WATCH`` the keys,
        ``MGET`` them, merge, then write in ``MULTI``/``EXEC``; when another client changed
        one of them meanwhile, the transaction is refused and the round starts again."""
        wanted = list(keys)
        if not wanted:
            return
        prefix = self._prefix(table)
        full = [prefix + key for key in wanted]
        ttl_us = self._ttl_us.get(table) if self._margin_us is not None else None
        doing = f"updating {len(wanted):,} row(s) of table {table!r}"
        with translate_errors(self.address, doing):
            for _ in range(_UPDATE_ATTEMPTS):
                with self._client.pipeline(transaction=True) as pipe:
                    try:
                        pipe.watch(*full)
                        values: list[bytes | None] = pipe.mget(full)  # type: ignore[assignment]
                        stored: list[StoredRow | None] = [
                            None
                            if v is None or len(v) < _HEADER_SIZE
                            else (_TS.unpack_from(v)[0] - _SIGN, v[_HEADER_SIZE:])
                            for v in values
                        ]
                        rows = merge(stored)
                        pipe.multi()
                        now_ms = time.time() * 1000
                        for key, row in zip(full, rows, strict=True):
                            if row is None:
                                continue
                            value = pack_value(row[0], None, row[1])
                            if ttl_us is None:
                                pipe.set(key, value)
                                continue
                            expire_ms = -(-(row[0] + ttl_us + (self._margin_us or 0)) // 1000)
                            if expire_ms > now_ms:
                                pipe.set(key, value, pxat=expire_ms)
                            else:
                                pipe.delete(key)
                        pipe.execute()
                        return
                    except WatchError:
                        continue
        raise OnlineStoreError(
            f"{doing}: other writers changed the same keys {_UPDATE_ATTEMPTS} times in a row; "
            "retry, or write these keys from fewer processes at once"
        )

    def _with_expiry(
        self, batch: Sequence[OnlineRow], prefix: bytes, lifetime_us: int
    ) -> tuple[list[bytes], list[bytes]]:
        """Keys and (value, expiry ms) arguments of the rows that have not yet expired."""
        now_ms = time.time() * 1000
        keys: list[bytes] = []
        args: list[bytes] = []
        for key, ts, created, payload in batch:
            expire_ms = -(-(ts + lifetime_us) // 1000)  # rounded up: never earlier
            if expire_ms <= now_ms:
                continue
            keys.append(prefix + key)
            args.append(pack_value(ts, created, payload))
            args.append(b"%d" % expire_ms)
        return keys, args

    def drop(self, tables: Sequence[str]) -> None:
        """Remove every key of ``tables`` (missing ones are ignored).

        Keys are found with ``SCAN MATCH sk:<table>:*`` and removed with ``UNLINK`` in
        batches, so the server is never blocked for long; a reader running meanwhile may see
        part of a table gone.
        """
        with translate_errors(self.address, f"dropping {len(tables)} table(s)"):
            for table in tables:
                pattern = _glob_escape(self._prefix(table)) + b"*"
                found: list[bytes] = []
                for key in self._client.scan_iter(match=pattern, count=1_000):
                    found.append(key)
                    if len(found) >= 1_000:
                        self._client.unlink(*found)
                        found.clear()
                if found:
                    self._client.unlink(*found)

    # -- reading ---------------------------------------------------------------------------
    def read(self, lookups: Sequence[tuple[str, Sequence[bytes]]]) -> list[list[StoredRow | None]]:
        """Stored rows for every ``(table, keys)``, in key order; None where absent.

        Every key of every lookup goes out in one round trip (one ``MGET`` per
        :data:`MGET_KEYS_PER_CALL` keys). Not a snapshot across tables: a write landing
        meanwhile may be seen for some keys and not others.
        """
        keys: list[bytes] = []
        for table, table_keys in lookups:
            prefix = self._prefix(table)
            keys += [prefix + key for key in table_keys]
        if not keys:
            return [[] for _ in lookups]
        commands = [
            _command(b"MGET", *keys[i : i + MGET_KEYS_PER_CALL])
            for i in range(0, len(keys), MGET_KEYS_PER_CALL)
        ]
        replies = self._exchange(commands, keys=len(keys))
        values: list[bytes | None] = []
        for reply in replies:
            values += reply  # type: ignore[arg-type]
        unpack = _TS.unpack_from
        out: list[list[StoredRow | None]] = []
        start = 0
        for _, table_keys in lookups:
            end = start + len(table_keys)
            out.append(
                [
                    None if v is None else (unpack(v)[0] - _SIGN, v[_HEADER_SIZE:])
                    for v in values[start:end]
                ]
            )
            start = end
        return out

    def ping(self) -> None:
        """Check that the server answers (raises :class:`OnlineStoreError` if not)."""
        with translate_errors(self.address, "checking the connection"):
            self._client.ping()

    def close(self) -> None:
        """Close every connection; the store reconnects if used again."""
        for conn in list(self._opened):
            conn.disconnect()
        self._pool.disconnect()
