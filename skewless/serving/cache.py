"""The prediction cache: a model version's answer for an exact feature vector.

Keys are the model's name and version and the exact feature values given to it, never the
entity key alone: a new materialization or push changes the values, so it can never be
answered with a stale prediction; a promotion changes the version. Entries expire after a
TTL. ``memory`` keeps them in the worker process (each ``--workers`` process its own);
``redis://...`` shares them between workers and servers.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any, Protocol

import orjson

from skewless.errors import ConfigError, OnlineStoreUnavailableError

__all__ = [
    "MemoryCache",
    "PredictionCache",
    "RedisCache",
    "cache_from_spec",
    "cache_key",
]

_DUMPS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NAIVE_UTC | orjson.OPT_UTC_Z


def _default(value: Any) -> Any:
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if hasattr(value, "tolist"):
        return value.tolist()
    return str(value)


def cache_key(model: str, version: int, values: Sequence[Any]) -> bytes:
    """The cache key of one feature vector for one model version.

    >>> cache_key("churn", 3, [1.0, "a"]) == cache_key("churn", 3, [1.0, "a"])
    True
    >>> cache_key("churn", 3, [1.0, "a"]) == cache_key("churn", 4, [1.0, "a"])
    False
    """
    body = orjson.dumps([model, int(version), list(values)], default=_default, option=_DUMPS)
    return b"skewless:prediction:" + hashlib.blake2b(body, digest_size=16).digest()


class PredictionCache(Protocol):
    """Where cached answers live; values are any JSON-able object."""

    hits: int
    misses: int

    def get_many(self, keys: Sequence[bytes]) -> list[Any | None]: ...

    def put_many(self, entries: Sequence[tuple[bytes, Any]]) -> None: ...

    def close(self) -> None: ...


class MemoryCache:
    """An in-process LRU cache with a TTL.

    >>> cache = MemoryCache(ttl_s=60, max_entries=2)
    >>> cache.put_many([(b"a", 1), (b"b", 2), (b"c", 3)])
    >>> cache.get_many([b"a", b"c"]), cache.hits, cache.misses
    ([None, 3], 1, 1)
    """

    def __init__(self, ttl_s: float = 60.0, max_entries: int = 100_000) -> None:
        if ttl_s <= 0 or max_entries < 1:
            raise ConfigError("the prediction cache needs a positive TTL and size")
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self._entries: OrderedDict[bytes, tuple[float, Any]] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get_many(self, keys: Sequence[bytes]) -> list[Any | None]:
        now = time.monotonic()
        out: list[Any | None] = []
        with self._lock:
            for key in keys:
                entry = self._entries.get(key)
                if entry is None or entry[0] < now:
                    if entry is not None:
                        del self._entries[key]
                    self.misses += 1
                    out.append(None)
                else:
                    self._entries.move_to_end(key)
                    self.hits += 1
                    out.append(entry[1])
        return out

    def put_many(self, entries: Sequence[tuple[bytes, Any]]) -> None:
        expires = time.monotonic() + self.ttl_s
        with self._lock:
            for key, value in entries:
                self._entries[key] = (expires, value)
                self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def close(self) -> None:
        with self._lock:
            self._entries.clear()


class RedisCache:
    """A cache in Redis, shared by every worker and server pointed at it.

    A Redis that cannot be reached makes a lookup a miss (the prediction is computed, not
    refused) and the outage is counted in ``errors``.
    """

    def __init__(self, url: str, ttl_s: float = 60.0) -> None:
        try:
            import redis
        except ImportError:  # pragma: no cover - the redis extra is installed in tests
            raise ConfigError(
                "--cache redis://... needs the redis client: pip install 'skewless[redis]'"
            ) from None
        if ttl_s <= 0:
            raise ConfigError("the prediction cache needs a positive TTL")
        self.url = url
        self.ttl_ms = int(ttl_s * 1000)
        self._client = redis.Redis.from_url(url, socket_timeout=1.0, socket_connect_timeout=1.0)
        self.hits = 0
        self.misses = 0
        self.errors = 0

    def ping(self) -> None:
        try:
            self._client.ping()
        except Exception as exc:
            raise OnlineStoreUnavailableError(
                f"cannot reach the prediction cache at {self.url}: {exc}; start redis-server "
                "or drop --cache"
            ) from None

    def get_many(self, keys: Sequence[bytes]) -> list[Any | None]:
        try:
            raw = self._client.mget(list(keys))
        except Exception:
            self.errors += 1
            self.misses += len(keys)
            return [None] * len(keys)
        out: list[Any | None] = []
        for value in raw:
            if value is None:
                self.misses += 1
                out.append(None)
            else:
                self.hits += 1
                out.append(orjson.loads(value))
        return out

    def put_many(self, entries: Sequence[tuple[bytes, Any]]) -> None:
        try:
            pipe = self._client.pipeline(transaction=False)
            for key, value in entries:
                pipe.set(key, orjson.dumps(value, default=_default, option=_DUMPS), px=self.ttl_ms)
            pipe.execute()
        except Exception:
            self.errors += 1

    def close(self) -> None:
        self._client.close()


def cache_from_spec(spec: str | None, ttl_s: float = 60.0) -> PredictionCache | None:
    """``None``/``none``/``off`` -> no cache; ``memory``; ``redis://host:port/db``.

    Raises:
        ConfigError: any other value.
    """
    if spec is None or spec.strip().lower() in ("", "none", "off"):
        return None
    text = spec.strip()
    if text.lower() == "memory":
        return MemoryCache(ttl_s)
    if text.startswith(("redis://", "rediss://", "unix://")):
        cache = RedisCache(text, ttl_s)
        cache.ping()
        return cache
    raise ConfigError(
        f"--cache {spec!r} is not a cache: use memory or redis://HOST:PORT[/DB] (or none)"
    )
