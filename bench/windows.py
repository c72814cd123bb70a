"""Window aggregations offline: skewless next to a hand-written DuckDB window query.

Data (generated into a temporary directory): EVENTS transactions of USERS users spread over
90 days (amount Float64, 2% null), and ENTITY_ROWS entity rows (random users, 2% unknown, at
random times in the last 60 days). Features: mean, count and sum of ``amount`` over 7 and 30
days (six features).

Measured on the same files and the same in-memory entity table, best of ``--repeat`` runs:

- ``skewless``: ``DuckDBEngine.historical(entity, [request]).to_arrow()`` of a
  ``BatchFeatureView``;
- ``floor``: the same work hand-written in DuckDB: a range join of each entity row with its
  key's events in ``(t - 30 days, t]``, grouped per entity row, the 7-day figures as
  ``FILTER`` clauses (docs/semantics.md, "Window aggregations": open on the left, closed on
  the right), to Arrow. It does not keep the entity order;
- ``window query`` (for context): the textbook form, ``RANGE`` window frames over the union of
  entity rows and events, keeping the entity rows; it computes every window at every event
  too, then discards those rows.

Before the timings are reported every variant's values are compared with skewless's, row by
row: counts exactly, sums and means within a relative 1e-9 (plus 1e-12), the bound of
docs/semantics.md, "Window aggregations", for non-negative amounts; a disagreement exits
non-zero.

Run: ``.venv/bin/python bench/windows.py --events 1000000 --entity-rows 100000``;
``--quick`` for a tiny run (20k events) that only checks the variants agree.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from _agree import require_same_tables

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


AGGREGATES = (("mean", "avg"), ("count", "count"), ("sum", "sum"))


def floor_sql(path: Path) -> str:
    """A range join per entity row over its key's events of the widest window, grouped
    (times compared as microseconds since the epoch)."""
    day = 86_400_000_000
    widest = max(WINDOWS.values())
    columns = []
    for label, days in WINDOWS.items():
        inside = "" if days == widest else f" FILTER (WHERE v.us > e.us - {days * day})"
        for f, sql in AGGREGATES:
            columns.append(f"{sql}(v.amount){inside} AS {f}_amount_{label}")
    return (
        f"SELECT e.row_id, {', '.join(columns)} "
        "FROM (SELECT row_id, user_id, epoch_us(event_timestamp) AS us FROM entity) AS e "
        f"LEFT JOIN (SELECT user_id, epoch_us(ts) AS us, amount FROM read_parquet('{path}')) "
        f"AS v ON v.user_id = e.user_id AND v.us > e.us - {widest * day} AND v.us <= e.us "
        "GROUP BY e.row_id"
    )


def window_query_sql(path: Path) -> str:
    """The textbook form: RANGE frames over the union of entity rows and events."""
    columns = []
    for label, days in WINDOWS.items():
        frame = (
            "OVER (PARTITION BY user_id ORDER BY ts RANGE BETWEEN INTERVAL "
            f"'{days * 86_400_000_000 - 1} microseconds' PRECEDING AND CURRENT ROW)"
        )
        for f, sql in AGGREGATES:
            columns.append(f"{sql}(amount) {frame} AS {f}_amount_{label}")
    return (
        "SELECT row_id, " + ", ".join(columns) + " FROM ("
        f"SELECT user_id, ts::TIMESTAMP AS ts, 0 AS kind, amount, NULL::BIGINT AS row_id "
        f"FROM read_parquet('{path}') UNION ALL "
        "SELECT user_id, event_timestamp::TIMESTAMP, 1, NULL, row_id FROM entity) "
        "QUALIFY kind = 1"
    )


def best(fn: Callable[[], pa.Table], repeat: int) -> tuple[float, pa.Table]:
    times, out = [], None
    for _ in range(repeat):
        began = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - began)
    assert out is not None
    return min(times), out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--entity-rows", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="20k events, one run")
    args = parser.parse_args()
    if args.quick:
        args.events, args.users, args.entity_rows, args.repeat = 20_000, 500, 2_000, 1
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        entity = make_data(root, args.events, args.users, args.entity_rows)
        fv = view()
        request = ViewRequest(fv, fv.feature_names, fv.feature_names)
        engine = DuckDBEngine(DuckDBOfflineConfig(), root)
        ours_s, ours = best(lambda: engine.historical(entity, [request]).to_arrow(), args.repeat)
        engine.close()
        ours = ours.append_column("row_id", pa.array(np.arange(entity.num_rows)))
        ours = ours.select(["row_id", *fv.feature_names])

        conn = duckdb.connect()
        conn.execute("SET TimeZone = 'UTC'")
        numbered = entity.append_column("row_id", pa.array(np.arange(entity.num_rows)))
        conn.register("entity", numbered)
        timings = {"skewless": ours_s}
        for name, sql in (
            ("floor", floor_sql(root / "events.parquet")),
            ("window query", window_query_sql(root / "events.parquet")),
        ):
            timings[name], answer = best(
                lambda sql=sql: conn.sql(sql).to_arrow_table(), args.repeat
            )
            require_same_tables(
                "skewless", ours, name, answer, sort_by=["row_id"], rtol=1e-9, atol=1e-12
            )
    floor_s = timings["floor"]
    print(f"{args.events:,} events, {args.users:,} users, {args.entity_rows:,} entity rows")
    print("answers agree: skewless, floor, window query")
    print(f"  skewless      {ours_s:7.3f} s  ({ours_s / floor_s:.2f}x the floor)")
    print(f"  floor         {floor_s:7.3f} s  (hand-written DuckDB range join, grouped)")
    w = timings["window query"]
    print(
        f"  window query  {w:7.3f} s  ({w / floor_s:.2f}x the floor; RANGE frames over the union)"
    )
    ratio = ours_s / floor_s
    print(f"target: within 2x of the floor: {'met' if ratio <= 2 else 'not met'} ({ratio:.2f}x)")


if __name__ == "__main__":
    main()
