"""A ``FeatureStore`` configured with ``online_store: {type: redis}``, end to end.

Materialization and online reads through ``feature_store.yaml``, a materialization that fails
because the server is down (the watermark stays; a rerun completes the work), and the parity
property of ``tests/test_parity.py`` with the Redis store.
"""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import example, given, settings
from redis_server import RedisServer, find_redis_server
from test_parity import EVERY_STATUS, TIMES, TTLS, check_parity, scenarios

from skewless import Entity, FeatureStore, FeatureView, Field, FileSource
from skewless.errors import OnlineStoreError
from skewless.online.redis.store import RedisOnlineStore
from skewless.types import Int64, String

T0 = datetime(2024, 5, 1, tzinfo=UTC)
USER = Entity(name="user", join_keys=["user_id"])


def _stats_view(ttl: timedelta | None = None) -> FeatureView:
    return FeatureView(
        name="user_stats",
        entities=[USER],
        ttl=ttl,
        schema=[Field(name="purchases", dtype=Int64), Field(name="tier", dtype=String)],
        source=FileSource(path="data/stats.parquet", timestamp_field="event_timestamp"),
    )


def _repo(root: Path, connection_string: str) -> Path:
    (root / "data").mkdir(parents=True)
    (root / "feature_store.yaml").write_text(
        "project: shop\n"
        "registry: data/registry.db\n"
        "online_store:\n"
        "  type: redis\n"
        f'  connection_string: "{connection_string}"\n'
    )
    pq.write_table(
        pa.table(
            {
                "user_id": [1, 1, 2, 3],
                "event_timestamp": pa.array(
                    [T0, T0 + timedelta(hours=2), T0, T0 - timedelta(days=3)],
                    pa.timestamp("us", "UTC"),
                ),
                "purchases": [1, 5, 7, None],
                "tier": ["bronze", "gold", "silver", "old"],
            }
        ),
        root / "data" / "stats.parquet",
    )
    return root


def test_materialize_and_read_through_feature_store_yaml(
    clean_redis: RedisServer, tmp_path: Path
) -> None:
    root = _repo(tmp_path, clean_redis.connection_string)
    store = FeatureStore(root, clock=lambda: T0 + timedelta(hours=3))
    assert isinstance(store.online_store, RedisOnlineStore)
    store.apply([USER, _stats_view(ttl=timedelta(days=1))])
    report = store.materialize(T0 - timedelta(days=7), T0 + timedelta(hours=3))
    assert sum(v.rows for v in report.views) == 3

    got = store.get_online_features(
        ["user_stats:purchases", "user_stats:tier"], [{"user_id": u} for u in (1, 2, 3, 4)]
    )
    assert got.to_dict() == {
        "user_id": [1, 2, 3, 4],
        "purchases": [5, 7, None, None],
        "tier": ["gold", "silver", None, None],
    }
    assert got.statuses["purchases"] == ["PRESENT", "PRESENT", "OUTSIDE_MAX_AGE", "NOT_FOUND"]
    store.close()

    other = FeatureStore(root, clock=lambda: T0 + timedelta(hours=3))  # another process's view
    assert other.get_online_features(["user_stats:tier"], [{"user_id": 1}]).to_dict() == {
        "user_id": [1],
        "tier": ["gold"],
    }
    other.close()


def test_a_failed_materialization_keeps_the_watermark_and_a_rerun_completes() -> None:
    if find_redis_server() is None:
        pytest.skip("redis-server is not installed")
    server = RedisServer().start()
    with tempfile.TemporaryDirectory() as tmp:
        root = _repo(Path(tmp), server.connection_string)
        store = FeatureStore(root, clock=lambda: T0 + timedelta(hours=3))
        try:
            view = _stats_view()
            store.apply([USER, view])
            port = server.port
            server.stop()
            with pytest.raises(OnlineStoreError, match=f"127.0.0.1:{port}"):
                store.materialize(T0 - timedelta(days=7), T0 + timedelta(hours=3))
            assert store.registry.get_watermark(store.get_feature_view("user_stats")) is None

            server = RedisServer(port=port).start()
            store.materialize(T0 - timedelta(days=7), T0 + timedelta(hours=3))
            mark = store.registry.get_watermark(store.get_feature_view("user_stats"))
            assert mark is not None and mark.watermark == T0 + timedelta(hours=3)
            got = store.get_online_features(["user_stats:purchases"], [{"user_id": 1}])
            assert got.to_dict() == {"user_id": [1], "purchases": [5]}
        finally:
            store.close()
            server.stop()


@settings(max_examples=15)
@example(data=EVERY_STATUS, ttl=TTLS[2], t=TIMES[10], cuts=[3], lead=3, reverse=True)
@given(**scenarios)
def test_parity_with_redis(redis_server: RedisServer, data, ttl, t, cuts, lead, reverse) -> None:
    """tests/test_parity.py's property, with the online rows in Redis."""
    redis_server.flushall()
    block = {"type": "redis", "connection_string": redis_server.connection_string}
    check_parity(block, data, ttl, t, cuts, lead, reverse)


def test_materialize_sets_key_expiry_from_the_view_ttl(
    clean_redis: RedisServer, tmp_path: Path
) -> None:
    """Expiry is absolute (Redis's own clock), so this data is recent, not at T0."""
    import redis

    from skewless.online.codec import encode_key
    from skewless.online.redis.store import table_prefix

    root = _repo(tmp_path, clean_redis.connection_string)
    config = (root / "feature_store.yaml").read_text()
    (root / "feature_store.yaml").write_text(config + "  key_ttl_seconds: 60\n")
    now = datetime.now(UTC).replace(microsecond=0)
    fresh, stale = now - timedelta(hours=1), now - timedelta(days=2)
    pq.write_table(
        pa.table(
            {
                "user_id": [1, 2],
                "event_timestamp": pa.array([fresh, stale], pa.timestamp("us", "UTC")),
                "purchases": [4, 9],
                "tier": ["gold", "old"],
            }
        ),
        root / "data" / "stats.parquet",
    )
    store = FeatureStore(root, clock=lambda: now)
    store.apply([USER, _stats_view(ttl=timedelta(days=1))])
    store.materialize(now - timedelta(days=7), now)
    table = store.snapshot().online_table(store.get_feature_view("user_stats"))
    raw = redis.Redis.from_url(clean_redis.url)
    expires = fresh + timedelta(days=1, seconds=60)
    assert raw.execute_command("PEXPIRETIME", table_prefix(table) + encode_key((1,))) == int(
        expires.timestamp() * 1000
    )
    # User 2's row expired (ts + ttl + margin) before it was written: skipped.
    assert raw.exists(table_prefix(table) + encode_key((2,))) == 0
    got = store.get_online_features(["user_stats:purchases"], [{"user_id": 1}, {"user_id": 2}])
    assert got.to_dict()["purchases"] == [4, None]
    store.close()
