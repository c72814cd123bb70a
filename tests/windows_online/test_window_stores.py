"""Window state on every online store: Redis end to end, concurrent pushes to one key, and
the checks around it (plan time, the stream ingestor's warning)."""

from __future__ import annotations

import logging
import multiprocessing
import tempfile
from datetime import timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from redis_server import RedisServer, clean_redis, redis_server  # noqa: F401  (fixtures)
from test_window_parity import (
    ENTITIES,
    SHARED_IDS,
    SHARED_SPECS,
    T0,
    US_UTC,
    Clock,
    _store,
    aggregations,
    push_scenario,
    source_rows,
)

from skewless import Field, FileSource, PushSource
from skewless.definitions import Aggregation, BatchFeatureView
from skewless.errors import DefinitionError
from skewless.ingest import StorePushSink
from skewless.types import Float64, Int64, UnixTimestamp

DAY = timedelta(days=1)


@settings(max_examples=15, deadline=None)
@example(rows=SHARED_IDS, picked=SHARED_SPECS, with_event_id=True, chunks=2, redeliver=True)
@given(
    rows=source_rows,
    picked=aggregations,
    with_event_id=st.booleans(),
    chunks=st.integers(1, 3),
    redeliver=st.booleans(),
)
def test_redis_windows_match_offline(
    redis_server: RedisServer,  # noqa: F811
    rows: list[dict[str, Any]],
    picked: list[tuple[str, str, timedelta | None, float]],
    with_event_id: bool,
    chunks: int,
    redeliver: bool,
) -> None:
    redis_server.flushall()
    block = {"type": "redis", "connection_string": redis_server.connection_string}
    push_scenario(rows, picked, with_event_id, chunks, redeliver, block)


def _counting_view(event_id: str = "eid") -> BatchFeatureView:
    return BatchFeatureView(
        name="tx",
        entities=ENTITIES[:1],
        source=PushSource(
            name="tx_push", batch_source=FileSource(path="events", timestamp_field="ts")
        ),
        schema=[Field(name="amount", dtype=Float64), Field(name="eid", dtype=Int64)],
        aggregations=[
            Aggregation(column="amount", function="count", time_window=DAY),
            Aggregation(column="amount", function="sum", time_window=None),
        ],
        event_id=event_id,
    )


def _events(first_id: int, n: int) -> pa.Table:
    return pa.table(
        {
            "user_id": pa.array([1] * n, pa.int64()),
            "ts": pa.array([T0 + timedelta(seconds=i % 50) for i in range(n)], US_UTC),
            "amount": pa.array([1.0] * n, pa.float64()),
            "eid": pa.array(range(first_id, first_id + n), pa.int64()),
        }
    )


def _pusher(root: str, online: dict[str, Any], first_id: int) -> None:
    store = _store(Path(root), Clock(T0 + timedelta(minutes=1)), online)
    try:
        for i in range(20):
            store.push("tx_push", _events(first_id + 10 * i, 10), to="online")
    finally:
        store.close()


@pytest.mark.parametrize("backend", ["sqlite", "redis"])
def test_concurrent_pushes_to_one_key_lose_nothing(
    backend: str,
    request: pytest.FixtureRequest,
    tmp_path: Path,
) -> None:
    """Two processes push 200 distinct events each to the same key at once: every read-merge-
    write is atomic, so all 400 count (and each re-delivered one once)."""
    online: dict[str, Any] | None = None
    if backend == "redis":
        server: RedisServer = request.getfixturevalue("clean_redis")
        online = {"type": "redis", "connection_string": server.connection_string}
    else:
        online = {"type": "sqlite", "path": str(tmp_path / "online.db")}
    (tmp_path / "events").mkdir()
    pq.write_table(_events(0, 0), tmp_path / "events" / "part-0.parquet")
    clock = Clock(T0 + timedelta(minutes=1))
    store = _store(tmp_path, clock, online)
    try:
        store.apply([*ENTITIES[:1], _counting_view()])
        ctx = multiprocessing.get_context("fork")
        workers = [ctx.Process(target=_pusher, args=(str(tmp_path), online, k)) for k in (0, 1000)]
        for w in workers:
            w.start()
        for w in workers:
            w.join(120)
            assert w.exitcode == 0
        store.push("tx_push", _events(1000, 10), to="online")  # a re-delivery
        got = store.get_online_features(
            ["tx:count_amount_1d", "tx:sum_amount_lifetime"], [{"user_id": 1}]
        ).to_dict()
    finally:
        store.close()
    assert got["count_amount_1d"] == [400]
    assert got["sum_amount_lifetime"] == [400.0]


def _last_seen(online: bool) -> BatchFeatureView:
    return BatchFeatureView(
        name="tx",
        entities=ENTITIES[:1],
        source=FileSource(path="events", timestamp_field="ts"),
        schema=[Field(name="seen_at", dtype=UnixTimestamp)],
        aggregations=[Aggregation(column="seen_at", function="last", time_window=DAY)],
        online=online,
    )


def test_online_window_views_refuse_columns_state_cannot_keep() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "events").mkdir()
        pq.write_table(
            pa.table(
                {
                    "user_id": pa.array([1], pa.int64()),
                    "ts": pa.array([T0], US_UTC),
                    "seen_at": pa.array([T0], US_UTC),
                }
            ),
            root / "events" / "p.parquet",
        )
        store = _store(root, Clock(T0))
        try:
            with pytest.raises(DefinitionError, match="online window state cannot keep"):
                store.apply([*ENTITIES[:1], _last_seen(online=True)])
            store.apply([*ENTITIES[:1], _last_seen(online=False)])  # offline only: fine
        finally:
            store.close()


def test_the_stream_ingestor_warns_without_event_id(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "events").mkdir()
    pq.write_table(_events(0, 1), tmp_path / "events" / "part-0.parquet")
    store = _store(tmp_path, Clock(T0))
    try:
        store.apply([*ENTITIES[:1], _counting_view(event_id="")])
        with caplog.at_level(logging.WARNING, logger="skewless"):
            StorePushSink(store, "tx_push", "online", "events")
        assert "without an event_id" in caplog.text
        caplog.clear()
        store.apply([*ENTITIES[:1], _counting_view()])
        with caplog.at_level(logging.WARNING, logger="skewless"):
            StorePushSink(store, "tx_push", "online", "events")
        assert "without an event_id" not in caplog.text
    finally:
        store.close()
