"""A small repository with a view and on-demand views over it, for the on-demand tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from embedded_store import embedded_store

from skewless import (
    Entity,
    FeatureStore,
    FeatureView,
    Field,
    FileSource,
    RequestSource,
    on_demand_feature_view,
)
from skewless.types import Float64, Int64, String

T0 = datetime(2024, 3, 1, tzinfo=UTC)

user = Entity(name="user", join_keys=["user_id"])
stats = FeatureView(
    name="stats",
    entities=[user],
    ttl=timedelta(days=2),
    schema=[
        Field(name="spend", dtype=Float64),
        Field(name="orders", dtype=Int64),
        Field(name="tier", dtype=String),
    ],
    source=FileSource(path="data/stats.parquet"),
)
txn = RequestSource(name="txn", schema=[Field(name="amount", dtype=Float64)])


@on_demand_feature_view(
    sources=[stats[["spend", "orders"]], txn],
    schema=[Field(name="share", dtype=Float64), Field(name="big", dtype=Int64)],
    mode="python",
)
def spend_py(inputs: dict[str, list[Any]]) -> dict[str, list[Any]]:
    """Share of the request amount in the user's spend, row by row."""
    share, big = [], []
    for amount, spend, orders in zip(
        inputs["amount"], inputs["spend"], inputs["orders"], strict=True
    ):
        share.append(amount / spend if amount is not None and spend else None)
        big.append(None if orders is None or amount is None else int(amount > 2 * orders))
    return {"share": share, "big": big}


@on_demand_feature_view(
    sources=[stats[["spend", "orders"]], txn],
    schema=[Field(name="share", dtype=Float64), Field(name="big", dtype=Int64)],
    mode="pandas",
)
def spend_pd(df: pd.DataFrame) -> pd.DataFrame:
    """The same features as ``spend_py``, vectorized."""
    spend = df["spend"].where(df["spend"] != 0)
    big = (df["amount"] > 2 * df["orders"]).astype("Int64")
    big = big.mask(df["orders"].isna() | df["amount"].isna())
    return pd.DataFrame({"share": df["amount"] / spend, "big": big})


@on_demand_feature_view(
    sources=[stats[["tier"]]],
    schema=[Field(name="tier_upper", dtype=String)],
    mode="python",
)
def tier_only(inputs: dict[str, list[Any]]) -> dict[str, list[Any]]:
    return {"tier_upper": [t.upper() if t is not None else None for t in inputs["tier"]]}


def write_stats(root: Path, rows: list[dict[str, Any]]) -> None:
    """Write the stats source (user_id, event_timestamp, spend, orders, tier)."""
    (root / "data").mkdir(parents=True, exist_ok=True)
    table = pa.table(
        {
            "user_id": pa.array([r["user_id"] for r in rows], pa.int64()),
            "event_timestamp": pa.array([r["ts"] for r in rows], pa.timestamp("us", "UTC")),
            "spend": pa.array([r.get("spend") for r in rows], pa.float64()),
            "orders": pa.array([r.get("orders") for r in rows], pa.int64()),
            "tier": pa.array([r.get("tier") for r in rows], pa.string()),
        }
    )
    pq.write_table(table, root / "data" / "stats.parquet")


def make_store(root: Path, now: datetime = T0) -> FeatureStore:
    return embedded_store(root, now, project="odfv")


SAMPLE = [
    {"user_id": 1, "ts": T0 - timedelta(hours=5), "spend": 10.0, "orders": 2, "tier": "gold"},
    {"user_id": 1, "ts": T0 - timedelta(hours=1), "spend": 20.0, "orders": 3, "tier": "gold"},
    {"user_id": 2, "ts": T0 - timedelta(hours=2), "spend": 0.0, "orders": None, "tier": None},
]
