"""Synthetic feature history shared by the benchmarks: one Parquet file per day."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pyarrow as pa

START = datetime(2024, 1, 1, tzinfo=UTC)
CATEGORIES = np.array(["electronics", "books", "garden", "toys", "grocery", "sports", "beauty"])
DAY_US = 86_400_000_000
HOUR_US = 3_600_000_000


def feature_day(
    rng: np.random.Generator, users: int, day: int, *, first_id: int = 0, corrections: bool = False
) -> pa.Table:
    """One row per user at a random time of ``day``: 6 features (one string) and a created
    timestamp up to an hour later. With ``corrections``, 1% of rows re-state another row's key
    and event time with a later created timestamp (ties the engine must break)."""
    user_id = rng.permutation(users).astype(np.int64) + first_id
    day_start = np.datetime64(START.replace(tzinfo=None) + timedelta(days=day), "us")
    event = day_start + rng.integers(0, DAY_US, users).astype("timedelta64[us]")
    created = event + rng.integers(0, HOUR_US, users).astype("timedelta64[us]")
    if corrections:
        fix = rng.choice(users, users // 100, replace=False)
        other = rng.integers(0, users, len(fix))
        user_id[fix], event[fix] = user_id[other], event[other]
        created[fix] = created[other] + np.timedelta64(HOUR_US, "us")
    return pa.table(
        {
            "user_id": user_id,
            "event_timestamp": pa.array(event, pa.timestamp("us", "UTC")),
            "created": pa.array(created, pa.timestamp("us", "UTC")),
            "total_purchases": rng.integers(0, 500, users).astype(np.int64),
            "avg_purchase_amount": np.round(rng.gamma(2.0, 30.0, users), 2),
            "days_since_last_login": rng.integers(0, 90, users).astype(np.int32),
            "preferred_category": CATEGORIES[rng.integers(0, len(CATEGORIES), users)],
            "session_minutes": rng.exponential(12.0, users).astype(np.float32),
            "churn_score": rng.random(users),
        }
    )
