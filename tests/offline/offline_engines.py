"""The offline engines under test, by name. A new engine adds its factory here.

``duckdb-portable`` is DuckDB running the dialect-neutral point-in-time join of
:class:`skewless.offline.sql.SqlDialect` (a range join ranked with ``ROW_NUMBER``) instead of
its ``ASOF`` join: it proves the SQL that engines without ``ASOF`` reuse.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from skewless._contracts import OfflineEngine
from skewless.config import DuckDBOfflineConfig
from skewless.offline.duckdb.dialect import DuckDBDialect
from skewless.offline.duckdb.engine import DuckDBEngine
from skewless.offline.sql import SqlDialect

EngineFactory = Callable[[Path], OfflineEngine]


class PortableJoinDialect(DuckDBDialect):
    join_view = SqlDialect.join_view


class PortableJoinEngine(DuckDBEngine):
    dialect = PortableJoinDialect()


def _duckdb(repo_path: Path) -> OfflineEngine:
    return DuckDBEngine(DuckDBOfflineConfig(threads=2), repo_path)


def _portable(repo_path: Path) -> OfflineEngine:
    return PortableJoinEngine(DuckDBOfflineConfig(threads=2), repo_path)


ENGINE_FACTORIES: dict[str, EngineFactory] = {"duckdb": _duckdb, "duckdb-portable": _portable}
