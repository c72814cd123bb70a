"""Spark against DuckDB (itself checked against the reference) on random event streams:
window events for online window state, window aggregations with ``share_above``, latest per
key and max created — row for row, in order."""

from __future__ import annotations

import tempfile
from datetime import timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from offline_data import T0

from skewless import Entity, Field, FileSource
from skewless._contracts import ViewRequest
from skewless.config import DuckDBOfflineConfig
from skewless.definitions import Aggregation, BatchFeatureView
from skewless.offline.duckdb.engine import DuckDBEngine
from skewless.offline.spark.engine import SparkEngine
from skewless.types import Float64, Int64

pytestmark = pytest.mark.slow
US_UTC = pa.timestamp("us", tz="UTC")

times = st.builds(
    lambda m, us: T0 + timedelta(minutes=m, microseconds=us),
    st.sampled_from([0, 1, 2, 3, 5]),
    st.sampled_from([0, 0, 0, 1, -1]),
)
rows = st.lists(
    st.fixed_dictionaries(
        {
            "user_id": st.sampled_from([1, 1, 2, 3, None]),
            "ts": st.one_of(times, times, times, st.none()),
            "created": st.one_of(st.none(), st.sampled_from([T0, T0 + timedelta(minutes=1)])),
            "amount": st.one_of(st.none(), st.sampled_from([0.5, -2.0, 3.0, 7.25])),
            "qty": st.one_of(st.none(), st.integers(-2, 2)),
            "eid": st.one_of(st.none(), st.integers(0, 4)),
            "file": st.integers(0, 2),
        }
    ),
    min_size=1,
    max_size=30,
)
maybe_time = st.one_of(st.none(), times)


def _write(root: Path, data: list[dict[str, Any]]) -> None:
    (root / "events").mkdir()
    for part in range(3):
        chunk = [r for r in data if r["file"] == part]
        table = pa.table(
            {
                "user_id": pa.array([r["user_id"] for r in chunk], pa.int64()),
                "ts": pa.array([r["ts"] for r in chunk], US_UTC),
                "created": pa.array([r["created"] for r in chunk], US_UTC),
                "amount": pa.array([r["amount"] for r in chunk], pa.float64()),
                "qty": pa.array([r["qty"] for r in chunk], pa.int64()),
                "eid": pa.array([r["eid"] for r in chunk], pa.int64()),
            }
        )
        pq.write_table(table, root / "events" / f"part-{part}.parquet")


def _view(event_id: bool) -> BatchFeatureView:
    return BatchFeatureView(
        name="tx",
        entities=[Entity(name="user", join_keys=["user_id"])],
        source=FileSource(path="events", timestamp_field="ts", created_timestamp_column="created"),
        schema=[Field(name="amount", dtype=Float64), Field(name="qty", dtype=Int64)],
        aggregations=[
            Aggregation(column="amount", function="share_above", threshold=1.0, name="share"),
            Aggregation(
                column="qty", function="last", time_window=timedelta(minutes=2), name="last"
            ),
            Aggregation(column="amount", function="count_distinct", name="kinds"),
            Aggregation(
                column="amount", function="sum", time_window=timedelta(minutes=3), name="total"
            ),
        ],
        event_id="eid" if event_id else "",
    )


def _table(batches: list[pa.RecordBatch]) -> list[dict[str, Any]]:
    return [row for batch in batches for row in batch.to_pylist()]


@settings(max_examples=6)
@given(
    data=rows,
    start=maybe_time,
    span=st.sampled_from([0, 2, 5]),
    since=maybe_time,
    late=st.one_of(st.none(), st.just(T0)),
    event_id=st.booleans(),
    probes=st.lists(st.tuples(st.sampled_from([1, 2, 3, 4]), times), min_size=1, max_size=8),
)
def test_spark_answers_as_duckdb(
    spark: Any,
    data: list[dict[str, Any]],
    start: Any,
    span: int,
    since: Any,
    late: Any,
    event_id: bool,
    probes: list[tuple[int, Any]],
) -> None:
    end = (start or T0) + timedelta(minutes=span)
    view = _view(event_id)
    frame = pa.table(
        {
            "user_id": pa.array([p[0] for p in probes], pa.int64()),
            "event_timestamp": pa.array([p[1] for p in probes], US_UTC),
        }
    )
    names = view.feature_names
    answers = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        _write(root, data)
        for engine in (
            DuckDBEngine(DuckDBOfflineConfig(threads=1), root),
            SparkEngine.from_session(spark, root),
        ):
            try:
                answers.append(
                    (
                        _table(
                            list(
                                engine.window_events(
                                    view, start, end, since=since, late_created_after=late
                                )
                            )
                        ),
                        engine.historical(frame, [ViewRequest(view, names, names)])
                        .to_arrow()
                        .to_pylist(),
                        sorted(
                            _table(list(engine.latest_per_key(view, start, end))),
                            key=lambda r: r["user_id"],
                        ),
                        engine.max_created(view, start, end),
                    )
                )
            finally:
                engine.close()
    duck, spark_answer = answers
    assert spark_answer == duck
