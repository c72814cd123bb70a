"""A small repository for the saved-dataset tests: one view, an on-demand view, a service."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from skewless import (
    Entity,
    FeatureService,
    FeatureStore,
    FeatureView,
    Field,
    FileSource,
    on_demand_feature_view,
)
from skewless.config import RegistryConfig, RepoConfig
from skewless.types import Bool, Float64, Int64, String

T0 = datetime(2024, 3, 1, tzinfo=UTC)
NOW = T0 + timedelta(days=30)
STAMP = pa.timestamp("us", "UTC")
USERS = 8

user = Entity(name="user", join_keys=["user_id"])
stats = FeatureView(
    name="stats",
    entities=[user],
    schema=[
        Field(name="score", dtype=Float64),
        Field(name="clicks", dtype=Int64),
        Field(name="label", dtype=String),
        Field(name="active", dtype=Bool),
    ],
    source=FileSource(path="data/stats.parquet", timestamp_field="event_timestamp"),
)


@on_demand_feature_view(
    sources=[stats[["score"]]],
    schema=[Field(name="double_score", dtype=Float64)],
    mode="python",
)
def derived(inputs: dict[str, list[Any]]) -> dict[str, list[Any]]:
    """Twice the score."""
    return {"double_score": [None if s is None else s * 2 for s in inputs["score"]]}


model = FeatureService(name="model", features=[stats[["score", "label"]], derived])
OBJECTS = [user, stats, derived, model]
REFS = ["stats:score", "stats:clicks", "stats:label", "stats:active", "derived:double_score"]


def write_stats(root: Path) -> None:
    """One row per user and day over ten days; some values null."""
    rows: dict[str, list[Any]] = {k: [] for k in ("user_id", "event_timestamp", "score")}
    rows.update(clicks=[], label=[], active=[])
    for day in range(10):
        for uid in range(USERS):
            rows["user_id"].append(uid)
            rows["event_timestamp"].append(T0 + timedelta(days=day))
            rows["score"].append(None if (uid + day) % 7 == 0 else uid * 1.5 + day * 0.25)
            rows["clicks"].append(uid * day)
            rows["label"].append(None if day == 3 else "abc"[(uid + day) % 3])
            rows["active"].append((uid + day) % 2 == 0)
    (root / "data").mkdir(parents=True, exist_ok=True)
    table = pa.table(
        {
            "user_id": pa.array(rows["user_id"], pa.int64()),
            "event_timestamp": pa.array(rows["event_timestamp"], STAMP),
            "score": pa.array(rows["score"], pa.float64()),
            "clicks": pa.array(rows["clicks"], pa.int64()),
            "label": pa.array(rows["label"], pa.string()),
            "active": pa.array(rows["active"], pa.bool_()),
        }
    )
    pq.write_table(table, root / "data" / "stats.parquet")


def build(root: Path, registry_path: str | None = None, project: str = "shop") -> FeatureStore:
    """The store over ``root`` (registry in SQLite unless ``registry_path`` is a URL)."""
    write_stats(root)
    registry = (
        RegistryConfig(path=registry_path, registry_type="sql")
        if registry_path
        else RegistryConfig(path=str(root / "registry.db"))
    )
    config = RepoConfig(
        project=project,
        registry=registry,
        online_store={"type": "sqlite", "path": str(root / "online.db")},
        repo_path=root,
    )
    store = FeatureStore(config=config, clock=lambda: NOW)
    store.apply(OBJECTS)
    return store


def write_yaml(root: Path) -> None:
    """The ``feature_store.yaml`` of the SQLite store :func:`build` makes (for the CLI)."""
    (root / "feature_store.yaml").write_text(
        "project: shop\nregistry: registry.db\nonline_store:\n  type: sqlite\n  path: online.db\n"
    )


def entity_frame(rows: int = 24) -> pd.DataFrame:
    """Entity rows spread over the ten days, in a fixed shuffled order."""
    return pd.DataFrame(
        {
            "user_id": [(i * 5) % USERS for i in range(rows)],
            "event_timestamp": pd.to_datetime(
                [T0 + timedelta(hours=(i * 37) % 240, minutes=30) for i in range(rows)], utc=True
            ),
            "note": [f"n{i}" for i in range(rows)],
        }
    )
