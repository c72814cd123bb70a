"""The offline engines under test, by name. A new engine adds its factory here.

``spark`` is :class:`skewless.offline.spark.engine.SparkEngine` on the run's one SparkSession
(``tests/spark_session.py``); hypothesis runs it with :data:`SPARK_MAX_EXAMPLES` examples.

``duckdb-portable`` is DuckDB running the dialect-neutral point-in-time join of
:class:`skewless.offline.sql.SqlDialect` (a range join ranked with ``ROW_NUMBER``) instead of
its ``ASOF`` join: it proves the SQL that engines without ``ASOF`` reuse.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from skewless._contracts import OfflineEngine
from skewless.config import DuckDBOfflineConfig
from skewless.offline.duckdb.dialect import DuckDBDialect
from skewless.offline.duckdb.engine import DuckDBEngine
from skewless.offline.sql import SqlDialect

EngineFactory = Callable[[Path], OfflineEngine]
SPARK_MAX_EXAMPLES = int(os.environ.get("SKEWLESS_SPARK_EXAMPLES", "8"))
"""Hypothesis examples per property test on Spark (each example runs Spark jobs)."""


class PortableJoinDialect(DuckDBDialect):
    join_view = SqlDialect.join_view


class PortableJoinEngine(DuckDBEngine):
    dialect = PortableJoinDialect()


def _duckdb(repo_path: Path) -> OfflineEngine:
    return DuckDBEngine(DuckDBOfflineConfig(threads=2), repo_path)


def _portable(repo_path: Path) -> OfflineEngine:
    return PortableJoinEngine(DuckDBOfflineConfig(threads=2), repo_path)


def _spark(repo_path: Path) -> OfflineEngine:
    from spark_session import spark_session

    from skewless.offline.spark.engine import SparkEngine

    return SparkEngine.from_session(spark_session(), repo_path)


ENGINE_FACTORIES: dict[str, EngineFactory] = {
    "duckdb": _duckdb,
    "duckdb-portable": _portable,
    "spark": _spark,
}
SLOW_ENGINES = frozenset({"spark"})
"""Engines whose tests carry the ``slow`` mark."""
