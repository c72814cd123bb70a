"""Deterministic data for the template-shaped repository, with times relative to now."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

VEHICLES = [1001, 1002, 1003, 1004, 1005]


def write_fleet_data(data: Path, now: datetime) -> pd.DataFrame:
    """Hourly rows per vehicle over the last two days and on 2021-04-12, as the template's
    generator lays them out; returns the frame written."""
    rng = np.random.default_rng(7)
    hour = now.replace(minute=0, second=0, microsecond=0, tzinfo=UTC)
    times = [hour - timedelta(hours=h) for h in range(1, 48)]
    times += [datetime(2021, 4, 12, h, tzinfo=UTC) for h in range(7, 20)]
    rows = [(v, t) for v in VEHICLES for t in times]
    n = len(rows)
    frame = pd.DataFrame(
        {
            "event_timestamp": pd.to_datetime([t for _, t in rows], utc=True).astype(
                "datetime64[ns, UTC]"
            ),
            "vehicle_id": [v for v, _ in rows],
            "fuel_rate": rng.random(n).astype("float32"),
            "load_rate": rng.random(n).astype("float32"),
            "trips": rng.integers(0, 1000, n),
            "created": pd.Timestamp(now.replace(tzinfo=None)).floor("ms"),
            "specs": [
                {"body": ["van", "truck", "car"][i % 3], "rating": f"{3 + (i % 20) / 10:.1f}"}
                for i in range(n)
            ],
            "settings": [
                json.dumps({"max_km": int(k), "zones": ["north", "south"][: 1 + i % 2]})
                for i, k in enumerate(rng.integers(20, 200, n))
            ],
            "owner_card": [
                {"name": f"owner_{v}", "since": str(2000 + i % 20)} for i, (v, _) in enumerate(rows)
            ],
        }
    )
    data.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(data / "vehicle_stats.parquet")
    pd.DataFrame(
        {
            "vehicle_id": pd.Series([], dtype="int64"),
            "is_sound": pd.Series([], dtype="int64"),
            "labeler": pd.Series([], dtype="object"),
            "event_timestamp": pd.Series([], dtype="datetime64[ns]"),
        }
    ).to_parquet(data / "vehicle_labels.parquet")
    stream = data / "vehicle_stream"
    stream.mkdir()
    pd.DataFrame(
        {"vehicle_id": [1001], "event_timestamp": [hour - timedelta(hours=2)], "speed": [50.0]}
    ).astype({"speed": "float32"}).to_parquet(stream / "part-0.parquet")
    return frame
