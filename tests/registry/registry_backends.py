"""Where a registry lives, for tests that run against every backend (see conftest.py)."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from skewless.config import RegistryConfig, RepoConfig
from skewless.registry import PostgresRegistry, Registry, SqliteRegistry

BACKENDS = ("sqlite", "postgres")


@dataclass(frozen=True)
class RegistryBackend:
    """One place a registry lives; ``path`` is what ``registry.path`` says in the config."""

    name: str
    repo: Path
    path: str

    @property
    def registry_type(self) -> str:
        return "sql" if self.name == "postgres" else "file"

    def config(self, project: str = "demo") -> RepoConfig:
        registry = RegistryConfig(path=self.path, registry_type=self.registry_type)  # type: ignore[arg-type]
        return RepoConfig(project=project, registry=registry, repo_path=self.repo)

    def open(self, project: str = "demo") -> Registry:
        return Registry(self.config(project))

    def yaml(self) -> str:
        """The ``registry:`` block of a ``feature_store.yaml``."""
        return f"registry:\n  registry_type: {self.registry_type}\n  path: {self.path}\n"

    def table(self, name: str) -> str:
        """The real name of one of the registry's tables (``objects``, ``history``, ...)."""
        cls = PostgresRegistry if self.name == "postgres" else SqliteRegistry
        return cls.tables[name]

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        """Rows of ``sql`` read directly from the registry's database (``{objects}`` etc.
        name its tables)."""
        tables = {key: self.table(key) for key in ("meta", "objects", "history", "watermarks")}
        text = sql.format(**tables)
        if self.name == "postgres":
            import psycopg

            with psycopg.connect(self.path) as conn:
                return [tuple(row) for row in conn.execute(text).fetchall()]
        with sqlite3.connect(self.repo / self.path) as conn:
            return conn.execute(text).fetchall()
