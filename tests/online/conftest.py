"""Every online store backend, behind one fixture.

A backend is a factory of store instances over the same data, so tests can open a second
connection, thread or process on what the first one wrote. Adding a backend (Redis) means
adding one entry to ``BACKENDS``; the whole conformance suite then runs against it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from skewless._contracts import OnlineStore
from skewless.config import SqliteOnlineConfig
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


BACKENDS: dict[str, Callable[[Path], Backend]] = {
    "sqlite": lambda tmp: Backend("sqlite", str(tmp / "online.db"), _open_sqlite),
}


@pytest.fixture(params=sorted(BACKENDS))
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    return BACKENDS[request.param](tmp_path)


@pytest.fixture
def store(backend: Backend) -> Iterator[OnlineStore]:
    opened = backend.open()
    yield opened
    opened.close()
