"""A repository with a push source over a directory of Parquet history, for push tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from embedded_store import embedded_store

from skewless import Entity, FeatureStore, FeatureView, Field, FileSource, PushSource
from skewless.types import Float64, Int64, String

T0 = datetime(2024, 3, 1, tzinfo=UTC)
FAR = T0 + timedelta(days=365)
USER = Entity(name="user", join_keys=["user_id"])
STAMP = pa.timestamp("us", "UTC")


def h(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


def push_source(path: str = "data/events", created: bool = True) -> PushSource:
    return PushSource(
        name="events_push",
        batch_source=FileSource(
            path=path,
            timestamp_field="event_timestamp",
            created_timestamp_column="created" if created else "",
        ),
    )


def events_view(
    source: PushSource | FileSource | None = None,
    *,
    name: str = "events",
    online: bool = True,
    ttl: timedelta | None = None,
) -> FeatureView:
    return FeatureView(
        name=name,
        entities=[USER],
        ttl=ttl,
        online=online,
        schema=[
            Field(name="score", dtype=Int64),
            Field(name="label", dtype=String),
            Field(name="amount", dtype=Float64),
        ],
        source=source if source is not None else push_source(),
    )


def history_table(rows: list[dict[str, Any]]) -> pa.Table:
    return pa.table(
        {
            "user_id": pa.array([r["user_id"] for r in rows], pa.int64()),
            "event_timestamp": pa.array([r["ts"] for r in rows], STAMP),
            "created": pa.array([r.get("created") for r in rows], STAMP),
            "score": pa.array([r.get("score") for r in rows], pa.int64()),
            "label": pa.array([r.get("label") for r in rows], pa.string()),
            "amount": pa.array([r.get("amount") for r in rows], pa.float64()),
        }
    )


def write_history(root: Path, rows: list[dict[str, Any]], name: str = "part-000.parquet") -> Path:
    folder = root / "data" / "events"
    folder.mkdir(parents=True, exist_ok=True)
    pq.write_table(history_table(rows), folder / name)
    return folder


def open_store(root: Path, now: datetime = FAR) -> FeatureStore:
    return embedded_store(root, now)


HISTORY = [
    {"user_id": 1, "ts": h(1), "created": h(1), "score": 10, "label": "a", "amount": 1.0},
    {"user_id": 2, "ts": h(2), "created": h(2), "score": 20, "label": "b", "amount": 2.0},
]


def yaml_repo(root: Path, online: str = "  type: sqlite\n  path: online.db\n") -> FeatureStore:
    """A repository with a ``feature_store.yaml`` (for commands run as processes), applied."""
    write_history(root, HISTORY)
    (root / "feature_store.yaml").write_text(
        f"project: shop\nregistry: registry.db\nonline_store:\n{online}"
    )
    store = FeatureStore(repo_path=root, clock=lambda: FAR)
    store.apply([USER, events_view()])
    return store
