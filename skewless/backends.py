"""Backends by configuration: the ``type:`` of a block picks the class.

Built-ins are a short table; a dotted path ``package.module.Class`` names a third-party one.
"""

from __future__ import annotations

import importlib
from typing import Any

from skewless._contracts import OfflineEngine, OnlineStore
from skewless.config import RepoConfig
from skewless.errors import ConfigError

__all__ = ["make_offline_engine", "make_online_store"]

_OFFLINE = {
    "duckdb": "skewless.offline.duckdb.engine:DuckDBEngine",
    "file": "skewless.offline.duckdb.engine:DuckDBEngine",
    "spark": "skewless.offline.spark.engine:SparkEngine",
}
_ONLINE = {
    "sqlite": "skewless.online.sqlite.store:SqliteOnlineStore",
    "redis": "skewless.online.redis.store:RedisOnlineStore",
}


def _load(target: str, block: str) -> Any:
    module_name, _, attr = target.replace(":", ".").rpartition(".")
    try:
        return getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"{block}: cannot load backend {target!r} ({exc})") from None


def make_offline_engine(config: RepoConfig) -> OfflineEngine:
    """The offline engine named by ``offline_store.type``."""
    block = config.offline_store
    target = _OFFLINE.get(block.type, block.type)
    engine: OfflineEngine = _load(target, "offline_store")(block, config.repo_path)
    return engine


def make_online_store(config: RepoConfig) -> OnlineStore:
    """The online store named by ``online_store.type``."""
    block = config.online_store
    target = _ONLINE.get(block.type, block.type)
    store: OnlineStore = _load(target, "online_store")(block, config.repo_path)
    return store
