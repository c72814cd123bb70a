"""End to end: FeatureStores whose feature_store.yaml keeps the registry in PostgreSQL."""

from __future__ import annotations

import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pyarrow as pa
import pyarrow.parquet as pq
from pg_store_worker import USER, stats_view

from skewless import FeatureStore
from skewless.registry import PostgresRegistry

WORKER = Path(__file__).with_name("pg_store_worker.py")

T0 = datetime(2024, 5, 1, tzinfo=UTC)


def make_repo(tmp_path: Path, url: str) -> Path:
    (tmp_path / "feature_store.yaml").write_text(
        f"project: shop\nregistry:\n  registry_type: sql\n  path: {url}\n"
        "online_store:\n  type: sqlite\n  path: data/online.db\n"
    )
    (tmp_path / "data").mkdir()
    table = pa.table(
        {
            "user_id": pa.array([1, 1, 2], pa.int64()),
            "event_timestamp": pa.array(
                [T0, T0 + timedelta(days=1), T0 + timedelta(days=2)], pa.timestamp("us", "UTC")
            ),
            "total": pa.array([1, 5, 7], pa.int64()),
            "amount": pa.array([1.5, 2.5, 3.5], pa.float64()),
        }
    )
    pq.write_table(table, tmp_path / "data" / "stats.parquet")
    return tmp_path


def watermarks(url: str) -> list[tuple[str, int]]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT view, watermark_us FROM skewless_watermarks WHERE project = 'shop'"
        ).fetchall()
    return [(view, int(mark)) for view, mark in rows]


def test_apply_materialize_and_read_with_the_registry_in_postgres(
    tmp_path: Path, postgres_url: str
) -> None:
    repo = make_repo(tmp_path, postgres_url)
    with FeatureStore(repo, clock=lambda: T0 + timedelta(days=3)) as store:
        assert isinstance(store.registry, PostgresRegistry)
        assert store.registry.version() == 0 and store.list_feature_views() == []
        store.apply([USER, stats_view()])
        assert store.registry.version() == 1
        assert [v.name for v in store.list_feature_views()] == ["user_stats"]

        store.materialize(T0 - timedelta(days=1), T0 + timedelta(days=1, hours=12))
        end = T0 + timedelta(days=1, hours=12)
        assert watermarks(postgres_url) == [("user_stats", int(end.timestamp() * 1_000_000))]
        mark = store.registry.get_watermark(store.get_feature_view("user_stats"))
        assert mark is not None and mark.watermark == end
        online = store.get_online_features(
            ["user_stats:total", "user_stats:amount"], entity_rows=[{"user_id": 1}, {"user_id": 2}]
        ).to_dict()
        assert online["total"] == [5, None] and online["amount"] == [2.5, None]

        store.materialize_incremental(T0 + timedelta(days=3))  # from the watermark in PG
        online = store.get_online_features(
            ["user_stats:total"], entity_rows=[{"user_id": 1}, {"user_id": 2}]
        ).to_dict()
        assert online["total"] == [5, 7]
        assert watermarks(postgres_url)[0][1] == int((T0 + timedelta(days=3)).timestamp() * 1e6)

        # A new data version (TTL change) resets the watermark, in PostgreSQL too.
        store.apply([stats_view(ttl_days=10)])
        assert watermarks(postgres_url) == []
        assert [h.version for h in store.registry.history("user_stats")] == [1, 2]


def test_two_store_processes_see_each_others_applies(tmp_path: Path, postgres_url: str) -> None:
    repo = make_repo(tmp_path, postgres_url)
    store = FeatureStore(repo)
    store.apply([USER])
    worker = subprocess.Popen(
        [sys.executable, str(WORKER), str(repo)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert worker.stdout is not None
        assert worker.stdout.readline().split() == ["ready", "1"]
        store.apply([USER, stats_view()])
        applied_at = time.time()
        saw, version, views, seen_at = worker.stdout.readline().split()
        assert (saw, version, views) == ("saw", "2", "user_stats")
        assert float(seen_at) - applied_at < 1.0  # noticed within a second
        assert worker.stdout.readline().split() == ["applied", "3"]
        assert worker.wait(60) == 0, worker.stderr.read() if worker.stderr else ""
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
    # This store notices the worker's apply through the cheap version() poll.
    assert store.registry.version() == 3
    assert [v.name for v in store.list_feature_views()] == ["user_stats"]  # not refreshed yet
    store.refresh_registry()
    assert sorted(v.name for v in store.list_feature_views()) == ["from_worker", "user_stats"]
    store.close()


def test_version_is_cheap_enough_to_poll(postgres_url: str, tmp_path: Path) -> None:
    polls = 500
    repo = make_repo(tmp_path, postgres_url)
    with FeatureStore(repo) as store:
        store.apply([USER, stats_view()])
        store.registry.version()  # connect
        started = time.perf_counter()
        for _ in range(polls):
            assert store.registry.version() == 1
        per_call = (time.perf_counter() - started) / polls
    assert per_call < 0.005, f"version() took {per_call * 1000:.2f} ms"
