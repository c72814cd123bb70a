"""Offline engines under test: every conformance test runs against each factory."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from offline_engines import ENGINE_FACTORIES, EngineFactory

from skewless._contracts import OfflineEngine


@pytest.fixture(params=sorted(ENGINE_FACTORIES))
def engine_factory(request: pytest.FixtureRequest) -> EngineFactory:
    """A callable making an engine for a repository directory (one per engine kind)."""
    return ENGINE_FACTORIES[request.param]


@pytest.fixture
def engine(engine_factory: EngineFactory, tmp_path: Path) -> Iterator[OfflineEngine]:
    """An engine whose repository is ``tmp_path``."""
    made = engine_factory(tmp_path)
    yield made
    made.close()
