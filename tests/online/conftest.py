"""Every online store backend, behind one fixture.

A backend is a factory of store instances over the same data, so tests can open a second
connection, thread or process on what the first one wrote. Adding a backend means adding one
entry to ``BACKENDS``; the whole conformance suite then runs against it. The Redis backend uses
the session's ``redis-server`` (see ``tests/redis_server.py``), emptied before every test.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from redis_server import clean_redis, redis_server  # noqa: F401  (fixtures)

from skewless._contracts import OnlineStore
from skewless.config import RedisOnlineConfig, SqliteOnlineConfig
from skewless.online.redis.store import RedisOnlineStore
from skewless.online.sqlite.store import SqliteOnlineStore


@dataclass(frozen=True)
class Backend:
    """Opens stores of one kind on one backing data set (a file, a server database)."""

    name: str
    location: str
    factory: Callable[[str], OnlineStore]

    def open(self) -> OnlineStore:
        """A new store instance on the same data (usable in a forked child process)."""
        return self.factory(self.location)


def _open_sqlite(location: str) -> OnlineStore:
    path = Path(location)
    return SqliteOnlineStore(SqliteOnlineConfig(path=path.name), path.parent)


def _open_redis(location: str) -> OnlineStore:
    return RedisOnlineStore(RedisOnlineConfig(connection_string=location), Path("."))


def _sqlite(request: pytest.FixtureRequest, tmp: Path) -> Backend:
    return Backend("sqlite", str(tmp / "online.db"), _open_sqlite)


def _redis(request: pytest.FixtureRequest, tmp: Path) -> Backend:
    server = request.getfixturevalue("clean_redis")
    return Backend("redis", server.connection_string, _open_redis)


BACKENDS: dict[str, Callable[[pytest.FixtureRequest, Path], Backend]] = {
    "sqlite": _sqlite,
    "redis": _redis,
}


@pytest.fixture(params=sorted(BACKENDS))
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    return BACKENDS[request.param](request, tmp_path)


@pytest.fixture
def store(backend: Backend) -> Iterator[OnlineStore]:
    opened = backend.open()
    yield opened
    opened.close()
