"""Every registry backend behind one fixture, ``registry_backend``.

A backend knows where one registry lives (a SQLite file in ``tmp_path``, or a fresh database
on the session's PostgreSQL server), opens registries on it, writes the ``registry:`` block of
a ``feature_store.yaml`` naming it, and reads its tables directly for integrity checks.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from postgres_server import postgres_server, postgres_url  # noqa: F401
from registry_backends import BACKENDS, RegistryBackend


@pytest.fixture(params=BACKENDS)
def registry_backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[RegistryBackend]:
    if request.param == "postgres":
        url = request.getfixturevalue("postgres_url")
        yield RegistryBackend("postgres", tmp_path, url)
    else:
        yield RegistryBackend("sqlite", tmp_path, "data/registry.db")
