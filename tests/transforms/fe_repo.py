"""A repository using the feature-engineering blocks: one function body, both on-demand modes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from skewless import (
    BatchFeatureView,
    Entity,
    FeatureView,
    Field,
    FileSource,
    RequestSource,
    on_demand_feature_view,
)
from skewless.transforms import (
    aggregations,
    bucketize,
    cross,
    day_of_week,
    hour_of_day,
    is_weekend,
    rolling,
    safe_ratio,
    trend_ratio,
)
from skewless.types import Bool, Float64, Int64, String, UnixTimestamp

T0 = datetime(2024, 3, 1, tzinfo=UTC)
AGES = [0, 25, 35, 50, 100]
AGE_LABELS = ["young", "middle", "senior", "elder"]

user = Entity(name="user", join_keys=["user_id"])
profile = FeatureView(
    name="profile",
    entities=[user],
    ttl=timedelta(days=2),
    schema=[
        Field(name="age", dtype=Int64),
        Field(name="gender", dtype=String),
        Field(name="purchases", dtype=Int64),
        Field(name="visits", dtype=Int64),
    ],
    source=FileSource(path="data/profile.parquet"),
)
visit = RequestSource(name="visit", schema=[Field(name="visit_ts", dtype=UnixTimestamp)])

OUTPUTS = [
    Field(name="dow", dtype=Int64),
    Field(name="hour", dtype=Int64),
    Field(name="weekend", dtype=Bool),
    Field(name="purchase_rate", dtype=Float64),
    Field(name="age_bucket", dtype=String),
    Field(name="age_x_gender", dtype=String),
    Field(name="age_gender_bucket", dtype=Int64),
]


def engineer(inputs: Any) -> dict[str, Any]:
    """The seed's temporal and cross features, for a dict of lists or a DataFrame alike."""
    age_bucket = bucketize(inputs["age"], AGES, labels=AGE_LABELS)
    return {
        "dow": day_of_week(inputs["visit_ts"]),
        "hour": hour_of_day(inputs["visit_ts"]),
        "weekend": is_weekend(inputs["visit_ts"]),
        "purchase_rate": safe_ratio(inputs["purchases"], inputs["visits"], default=0.0),
        "age_bucket": age_bucket,
        "age_x_gender": cross(age_bucket, inputs["gender"]),
        "age_gender_bucket": cross(age_bucket, inputs["gender"], hash_buckets=64),
    }


@on_demand_feature_view(sources=[profile, visit], schema=OUTPUTS, mode="python")
def fe_py(inputs: dict[str, list[Any]]) -> dict[str, list[Any]]:
    return engineer(inputs)


@on_demand_feature_view(sources=[profile, visit], schema=OUTPUTS, mode="pandas")
def fe_pd(df: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame(engineer(df), index=df.index)


# -- window statistics and their trend ----------------------------------------------------------
txns = BatchFeatureView(
    name="txns",
    entities=[user],
    source=FileSource(path="data/txns.parquet", timestamp_field="ts"),
    schema=[Field(name="amount", dtype=Float64)],
    aggregations=[
        *rolling("amount", functions=("mean",)),
        *aggregations("amount", functions=("count", "max"), window=timedelta(days=30)),
    ],
)


@on_demand_feature_view(
    sources=[txns[["mean_amount_7d", "mean_amount_30d"]]],
    schema=[Field(name="amount_trend", dtype=Float64)],
    mode="python",
)
def trend_py(inputs: dict[str, list[Any]]) -> dict[str, list[Any]]:
    return {"amount_trend": trend_ratio(inputs["mean_amount_7d"], inputs["mean_amount_30d"])}


@on_demand_feature_view(
    sources=[txns[["mean_amount_7d", "mean_amount_30d"]]],
    schema=[Field(name="amount_trend", dtype=Float64)],
    mode="pandas",
)
def trend_pd(df: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({"amount_trend": trend_ratio(df["mean_amount_7d"], df["mean_amount_30d"])})


def write_profile(root: Path, rows: list[dict[str, Any]]) -> None:
    (root / "data").mkdir(parents=True, exist_ok=True)
    columns = {
        "user_id": pa.int64(),
        "event_timestamp": pa.timestamp("us", "UTC"),
        "age": pa.int64(),
        "gender": pa.string(),
        "purchases": pa.int64(),
        "visits": pa.int64(),
    }
    table = pa.table(
        {
            c: pa.array([r.get("ts" if c == "event_timestamp" else c) for r in rows], t)
            for c, t in columns.items()
        }
    )
    pq.write_table(table, root / "data" / "profile.parquet")


def write_txns(root: Path, rows: list[dict[str, Any]]) -> None:
    (root / "data").mkdir(parents=True, exist_ok=True)
    table = pa.table(
        {
            "user_id": pa.array([r["user_id"] for r in rows], pa.int64()),
            "ts": pa.array([r["ts"] for r in rows], pa.timestamp("us", "UTC")),
            "amount": pa.array([r["amount"] for r in rows], pa.float64()),
        }
    )
    pq.write_table(table, root / "data" / "txns.parquet")
