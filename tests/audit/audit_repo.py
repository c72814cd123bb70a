"""A small repository for the skew audit tests: plain views, a TTL view, on-demand views."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from embedded_store import embedded_store

from skewless import (
    Entity,
    FeatureService,
    FeatureStore,
    FeatureView,
    Field,
    FileSource,
    RequestSource,
    on_demand_feature_view,
)
from skewless.online.codec import ViewCodec
from skewless.types import Array, Float32, Float64, Int64, String

T0 = datetime(2024, 3, 1, tzinfo=UTC)
STAMP = pa.timestamp("us", "UTC")

user = Entity(name="user", join_keys=["user_id"])
stats = FeatureView(
    name="stats",
    entities=[user],
    ttl=None,
    schema=[
        Field(name="score", dtype=Int64),
        Field(name="amount", dtype=Float64),
        Field(name="ratio", dtype=Float32),
        Field(name="label", dtype=String),
        Field(name="weights", dtype=Array(Float64)),
    ],
    source=FileSource(
        path="data/stats", timestamp_field="event_timestamp", created_timestamp_column="created"
    ),
)
recent = FeatureView(
    name="recent",
    entities=[user],
    ttl=timedelta(days=1),
    schema=[Field(name="clicks", dtype=Int64)],
    source=FileSource(path="data/recent", timestamp_field="event_timestamp"),
)
txn = RequestSource(name="txn", schema=[Field(name="price", dtype=Float64)])


@on_demand_feature_view(
    sources=[stats[["score", "amount"]]],
    schema=[Field(name="double_amount", dtype=Float64), Field(name="big", dtype=Int64)],
    mode="python",
)
def derived(inputs: dict[str, list[Any]]) -> dict[str, list[Any]]:
    """Twice the amount, and whether the score is above 5."""
    return {
        "double_amount": [None if a is None else a * 2 for a in inputs["amount"]],
        "big": [None if s is None else int(s > 5) for s in inputs["score"]],
    }


@on_demand_feature_view(
    sources=[stats[["amount"]], txn],
    schema=[Field(name="share", dtype=Float64)],
    mode="python",
)
def priced(inputs: dict[str, list[Any]]) -> dict[str, list[Any]]:
    """The request price over the amount."""
    return {
        "share": [
            p / a if a else None for p, a in zip(inputs["price"], inputs["amount"], strict=True)
        ]
    }


model = FeatureService(name="model", features=[stats[["score", "label"]], derived])
OBJECTS = [user, stats, recent, derived, priced, model]


def write_stats(root: Path, rows: list[dict[str, Any]], part: int = 0) -> None:
    """One Parquet file of ``stats`` rows (``user_id``, ``ts``, optional feature values)."""
    folder = root / "data" / "stats"
    folder.mkdir(parents=True, exist_ok=True)
    table = pa.table(
        {
            "user_id": pa.array([r["user_id"] for r in rows], pa.int64()),
            "event_timestamp": pa.array([r["ts"] for r in rows], STAMP),
            "created": pa.array([r.get("created") for r in rows], STAMP),
            "score": pa.array([r.get("score") for r in rows], pa.int64()),
            "amount": pa.array([r.get("amount") for r in rows], pa.float64()),
            "ratio": pa.array([r.get("ratio") for r in rows], pa.float32()),
            "label": pa.array([r.get("label") for r in rows], pa.string()),
            "weights": pa.array([r.get("weights") for r in rows], pa.list_(pa.float64())),
        }
    )
    pq.write_table(table, folder / f"part-{part:03d}.parquet")


def write_yaml(root: Path) -> None:
    """The ``feature_store.yaml`` of the store :func:`build` makes (for the CLI)."""
    (root / "feature_store.yaml").write_text(
        "project: audit\nregistry: registry.db\nonline_store:\n  type: sqlite\n  path: online.db\n"
    )


def write_recent(root: Path, rows: list[dict[str, Any]], part: int = 0) -> None:
    folder = root / "data" / "recent"
    folder.mkdir(parents=True, exist_ok=True)
    table = pa.table(
        {
            "user_id": pa.array([r["user_id"] for r in rows], pa.int64()),
            "event_timestamp": pa.array([r["ts"] for r in rows], STAMP),
            "clicks": pa.array([r.get("clicks") for r in rows], pa.int64()),
        }
    )
    pq.write_table(table, folder / f"part-{part:03d}.parquet")


def h(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


STATS_ROWS = [
    {"user_id": 1, "ts": h(-30), "score": 3, "amount": 1.5, "ratio": 0.1, "label": "a"},
    {"user_id": 1, "ts": h(-2), "score": 7, "amount": 2.25, "ratio": 0.3, "weights": [1.0, 2.0]},
    {"user_id": 2, "ts": h(-5), "score": None, "amount": 0.1 + 0.2, "label": "b"},
    {"user_id": 3, "ts": h(-50), "score": 9, "amount": None, "ratio": 1 / 3, "weights": []},
    {"user_id": 4, "ts": h(-1), "score": 1, "amount": -4.0, "label": "d", "weights": [None]},
]
for _row in STATS_ROWS:
    _row["created"] = _row["ts"]
RECENT_ROWS = [
    {"user_id": 1, "ts": h(-3), "clicks": 4},
    {"user_id": 2, "ts": h(-40), "clicks": 8},  # older than the TTL at T0: null online
    {"user_id": 5, "ts": h(-10), "clicks": None},
]


def build(root: Path, now: datetime = T0, materialize: bool = True) -> FeatureStore:
    """The repository with its sample data applied (and materialized up to ``now``)."""
    write_stats(root, STATS_ROWS)
    write_recent(root, RECENT_ROWS)
    store = embedded_store(root, now, project="audit")
    store.apply(OBJECTS)
    if materialize:
        store.materialize_incremental(now, ["stats", "recent"])
    return store


def corrupt(
    store: FeatureStore,
    view: FeatureView,
    user_id: int,
    end: datetime | None = None,
    **values: Any,
) -> None:
    """Overwrite one key's online row with wrong ``values``: the key's latest source row up to
    ``end`` (default: the store's clock) with its event and created time, so it replaces it."""
    snapshot = store.snapshot()
    view = snapshot.get_feature_view(view.name)
    end = end or store.now()
    batches = list(store.offline_engine.latest_per_key(view, None, end))
    table = pa.Table.from_batches(batches)
    table = table.filter(pc.equal(table.column("user_id"), user_id))
    assert table.num_rows == 1, table
    for name, value in values.items():
        i = table.column_names.index(name)
        table = table.set_column(i, name, pa.array([value], table.schema.field(name).type))
    rows = ViewCodec(view).encode_rows(table)
    store.online_store.write(snapshot.online_table(view), rows)
