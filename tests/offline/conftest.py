"""Offline engines under test: every conformance test runs against each factory."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings
from offline_engines import ENGINE_FACTORIES, SLOW_ENGINES, SPARK_MAX_EXAMPLES, EngineFactory

from skewless._contracts import OfflineEngine


@pytest.fixture(
    params=[
        pytest.param(name, marks=[pytest.mark.slow] if name in SLOW_ENGINES else [])
        for name in sorted(ENGINE_FACTORIES)
    ]
)
def engine_factory(request: pytest.FixtureRequest) -> EngineFactory:
    """A callable making an engine for a repository directory (one per engine kind)."""
    factory = ENGINE_FACTORIES[request.param]
    if request.param == "spark":
        from spark_session import spark_session

        spark_session()  # skip (locally) or fail (CI) here when Spark cannot run
    return factory


@pytest.fixture
def engine(engine_factory: EngineFactory, tmp_path: Path) -> Iterator[OfflineEngine]:
    """An engine whose repository is ``tmp_path``."""
    made = engine_factory(tmp_path)
    yield made
    made.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    """Property tests run on Spark with SPARK_MAX_EXAMPLES examples (fewer than DuckDB's):
    each example starts Spark jobs, and the suite must stay inside CI's budget."""
    callspec = getattr(item, "callspec", None)
    test = getattr(item, "obj", None)
    current = getattr(test, "_hypothesis_internal_use_settings", None)
    if callspec is None or current is None or callspec.params.get("engine_factory") != "spark":
        return (yield)
    test._hypothesis_internal_use_settings = settings(  # type: ignore[union-attr]
        current, max_examples=min(current.max_examples, SPARK_MAX_EXAMPLES)
    )
    try:
        return (yield)
    finally:
        test._hypothesis_internal_use_settings = current  # type: ignore[union-attr]
