"""The audit of window-aggregation views: online window state read at T against the offline
aggregation at T, within docs/semantics.md's tolerances."""

from __future__ import annotations

import random
from datetime import timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from audit_repo import STAMP, T0, h, user
from embedded_store import embedded_store

from skewless import Aggregation, BatchFeatureView, Field, FileSource
from skewless.types import Float64, Int64

FUNCTIONS = ("sum", "mean", "std", "count", "count_distinct", "min", "max", "last")

tx = BatchFeatureView(
    name="tx",
    entities=[user],
    source=FileSource(path="data/tx"),
    schema=[Field(name="amount", dtype=Float64), Field(name="shop", dtype=Int64)],
    aggregations=[
        *(
            Aggregation(column="amount", function=f, time_window=timedelta(days=2))
            for f in FUNCTIONS
        ),
        Aggregation(column="shop", function="count_distinct", time_window=None),
        Aggregation(column="amount", function="mean", time_window=timedelta(hours=6)),
    ],
)


def write_events(
    root: Path, seed: int, n: int, end_hours: float, span_hours: float, part: int
) -> None:
    rng = random.Random(seed)
    rows = [
        (
            rng.randint(1, 12),
            h(end_hours - rng.uniform(0, span_hours)),
            rng.choice([None, rng.uniform(-1e3, 1e3)]),
            rng.randint(1, 4),
        )
        for _ in range(n)
    ]
    folder = root / "data" / "tx"
    folder.mkdir(parents=True, exist_ok=True)
    table = pa.table(
        {
            "user_id": pa.array([r[0] for r in rows], pa.int64()),
            "event_timestamp": pa.array([r[1] for r in rows], STAMP),
            "amount": pa.array([r[2] for r in rows], pa.float64()),
            "shop": pa.array([r[3] for r in rows], pa.int64()),
        }
    )
    pq.write_table(table, folder / f"part-{part:03d}.parquet")


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_window_features_audit_clean_and_later_events_are_lag(tmp_path: Path, seed: int) -> None:
    write_events(tmp_path, seed, 400, 0, 120, part=0)
    with embedded_store(tmp_path, T0, project="windows") as store:
        store.apply([user, tx])
        store.materialize_incremental(T0)
        report = store.audit()
        assert report.ok, report.render()
        assert {f.ref for f in report.features} == {f"tx:{name}" for name in tx.feature_names}
        assert all(f.compared == 12 for f in report.features), report.render()

    write_events(tmp_path, seed + 100, 50, 5, 4.9, part=1)  # after T0, up to 5 hours
    with embedded_store(tmp_path, h(6), project="windows") as later:
        report = later.audit()
        assert report.ok, report.render()
        assert report.views[0].at == T0
        assert report.lag[0].pending_keys > 0


def test_a_source_rewritten_after_materialization_is_skew(tmp_path: Path) -> None:
    write_events(tmp_path, 7, 300, 0, 120, part=0)
    with embedded_store(tmp_path, T0, project="windows") as store:
        store.apply([user, tx])
        store.materialize_incremental(T0)
        assert store.audit().ok
        write_events(tmp_path, 8, 300, 0, 120, part=0)  # history changed behind its back
        report = store.audit(["tx:sum_amount_2d", "tx:count_amount_2d"])
        assert not report.ok
        assert all(f.mismatches > 0 and f.examples for f in report.features), report.render()
