"""A FeatureStore over files in one directory (SQLite registry and online store, DuckDB)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from skewless import FeatureStore
from skewless.config import RepoConfig


def embedded_store(root: Path, now: datetime, project: str = "shop") -> FeatureStore:
    """A store whose registry and online store live in ``root`` and whose clock reads ``now``."""
    config = RepoConfig(
        project=project,
        registry={"path": str(root / "registry.db")},
        online_store={"type": "sqlite", "path": str(root / "online.db")},
        repo_path=root,
    )
    return FeatureStore(config=config, clock=lambda: now)
