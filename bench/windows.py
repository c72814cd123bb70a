"""Window aggregations offline: skewless next to a hand-written DuckDB window query.

Data (generated into a temporary directory): EVENTS transactions of USERS users spread over
90 days (amount Float64, 2% null), and ENTITY_ROWS entity rows (random users, 2% unknown, at
random times in the last 60 days). Features: mean, count and sum of ``amount`` over 7 and 30
days (six features).

Measured on the same files and the same in-memory entity table, best of ``--repeat`` runs:

- ``skewless``: ``DuckDBEngine.historical(entity, [request]).to_arrow()`` of a
  ``BatchFeatureView``;
- ``floor``: one DuckDB query over the union of entity rows and events with
  ``RANGE BETWEEN INTERVAL ... PRECEDING AND CURRENT ROW`` frames per key, ordered by time
  (events at the entity time are peers, so they are in), to Arrow. It does not keep the entity
  order and does not deduplicate; its values are checked equal to skewless's.

Run: ``.venv/bin/python bench/windows.py --events 1000000 --entity-rows 100000``.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from skewless import Aggregation, BatchFeatureView, Entity, Field, FileSource
from skewless._contracts import ViewRequest
from skewless.config import DuckDBOfflineConfig
from skewless.offline.duckdb.engine import DuckDBEngine
from skewless.types import Float64

START = datetime(2024, 1, 1, tzinfo=UTC)
WINDOWS = {"7d": 7, "30d": 30}


def make_data(root: Path, events: int, users: int, entity_rows: int) -> pa.Table:
    rng = np.random.default_rng(7)
    span_us = 90 * 86_400_000_000
    start_us = int(START.timestamp() * 1_000_000)
    amount = rng.gamma(2.0, 30.0, events)
    mask = rng.random(events) < 0.02
    table = pa.table(
        {
            "user_id": pa.array(rng.integers(0, users, events), pa.int64()),
            "ts": pa.array(start_us + rng.integers(0, span_us, events), pa.int64()).cast(
                pa.timestamp("us", tz="UTC")
            ),
            "amount": pa.array(amount, pa.float64(), mask=mask),
        }
    )
    pq.write_table(table, root / "events.parquet")
    lo = start_us + 30 * 86_400_000_000
    return pa.table(
        {
            "user_id": pa.array(rng.integers(0, int(users * 1.02), entity_rows), pa.int64()),
            "event_timestamp": pa.array(
                lo + rng.integers(0, span_us - 30 * 86_400_000_000, entity_rows), pa.int64()
            ).cast(pa.timestamp("us", tz="UTC")),
        }
    )


def view() -> BatchFeatureView:
    return BatchFeatureView(
        name="txns",
        entities=[Entity(name="user", join_keys=["user_id"])],
        source=FileSource(path="events.parquet", timestamp_field="ts"),
        schema=[Field(name="amount", dtype=Float64)],
        aggregations=[
            Aggregation(column="amount", function=f, time_window=timedelta(days=days))
            for days in WINDOWS.values()
            for f in ("mean", "count", "sum")
        ],
    )


def floor_sql(path: Path) -> str:
    columns = []
    for label, days in WINDOWS.items():
        frame = (
            "OVER (PARTITION BY user_id ORDER BY ts RANGE BETWEEN INTERVAL "
            f"'{days * 86_400_000_000 - 1} microseconds' PRECEDING AND CURRENT ROW)"
        )
        for f, sql in (("mean", "avg"), ("count", "count"), ("sum", "sum")):
            columns.append(f"{sql}(amount) {frame} AS {f}_amount_{label}")
    return (
        "SELECT row_id, " + ", ".join(columns) + " FROM ("
        f"SELECT user_id, ts::TIMESTAMP AS ts, 0 AS kind, amount, NULL::BIGINT AS row_id "
        f"FROM read_parquet('{path}') UNION ALL "
        "SELECT user_id, event_timestamp::TIMESTAMP, 1, NULL, row_id FROM entity) "
        "QUALIFY kind = 1"
    )


def best(fn, repeat: int) -> tuple[float, object]:  # type: ignore[no-untyped-def]
    times, out = [], None
    for _ in range(repeat):
        began = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - began)
    return min(times), out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--entity-rows", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        entity = make_data(root, args.events, args.users, args.entity_rows)
        fv = view()
        request = ViewRequest(fv, fv.feature_names, fv.feature_names)
        engine = DuckDBEngine(DuckDBOfflineConfig(), root)
        ours_s, ours = best(lambda: engine.historical(entity, [request]).to_arrow(), args.repeat)
        engine.close()

        conn = duckdb.connect()
        conn.execute("SET TimeZone = 'UTC'")
        numbered = entity.append_column("row_id", pa.array(np.arange(entity.num_rows)))
        conn.register("entity", numbered)
        sql = floor_sql(root / "events.parquet")
        floor_s, floor = best(lambda: conn.sql(sql).to_arrow_table(), args.repeat)
        floor = floor.sort_by("row_id")  # type: ignore[attr-defined]
        for name in fv.feature_names:
            a = np.array(ours.column(name).to_pylist(), dtype=float)  # type: ignore[attr-defined]
            b = np.array(floor.column(name).to_pylist(), dtype=float)
            if name.startswith("count"):
                b = np.nan_to_num(b)
            assert np.allclose(a, b, equal_nan=True, rtol=1e-9), name
    print(f"{args.events:,} events, {args.users:,} users, {args.entity_rows:,} entity rows")
    print(f"  skewless  {ours_s:7.3f} s  ({ours_s / floor_s:.2f}x the floor)")
    print(f"  floor     {floor_s:7.3f} s  (hand-written DuckDB RANGE window query)")


if __name__ == "__main__":
    main()
