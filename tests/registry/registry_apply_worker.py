"""Runs in a child process of the concurrency tests: plan, wait for the others, apply.

Loaded with ``runpy.run_path`` (so it works whatever way pytest imports test modules); the
parent passes ``WORKER_ARGS`` in the module globals.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from skewless.config import SqliteOnlineConfig, load_config
from skewless.errors import RegistryConflictError
from skewless.offline.duckdb.engine import DuckDBEngine
from skewless.online.sqlite.store import SqliteOnlineStore
from skewless.planning import Plan, apply_plan, make_plan
from skewless.registry import Registry

WAIT_SECONDS = 120
RUN_NAME = "__skewless_apply_worker__"


def online_store(repo: Path) -> SqliteOnlineStore:
    return SqliteOnlineStore(SqliteOnlineConfig(path="data/online.db"), repo)


def plan_for(registry: Registry, repo: Path, objects: list[Any]) -> Plan:
    engine = DuckDBEngine(registry.config.offline_store, repo)
    try:
        return make_plan(registry, engine, objects, partial=True)
    finally:
        engine.close()


def apply_after_barrier(
    repo: str, objects: list[Any], barrier: Any, results: Any, label: str
) -> None:
    """Plan, wait until every process has planned, then apply; report the outcome."""
    repo_path = Path(repo)
    registry = Registry(load_config(repo_path))
    try:
        plan = plan_for(registry, repo_path, objects)
        barrier.wait(WAIT_SECONDS)
        apply_plan(registry, online_store(repo_path), plan)
        results.put((label, "ok", ""))
    except RegistryConflictError as exc:
        results.put((label, "conflict", str(exc)))
    except BaseException as exc:
        results.put((label, "error", f"{type(exc).__name__}: {exc}"))


if __name__ == RUN_NAME:
    apply_after_barrier(*globals()["WORKER_ARGS"])
