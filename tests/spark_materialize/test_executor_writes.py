"""Materialization from Spark: executors write Redis directly, the driver streams to SQLite.

Reference: the driver path of :mod:`skewless.materialize` on the DuckDB engine (itself proven
against the slow reference), writing the same rows to another Redis database. Every stored
key, value (order header + payload) and expiry time must be the same bytes.
"""

from __future__ import annotations

import itertools
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from redis_server import RedisServer, free_port

from skewless import Entity, FeatureStore, FeatureView, Field, FileSource
from skewless._contracts import OfflineEngine, OnlineStore
from skewless.backends import make_offline_engine, make_online_store
from skewless.config import parse_config
from skewless.errors import MaterializationError
from skewless.materialize import MaterializeContext, materialize
from skewless.offline.spark.materialize import (
    PartitionWriter,
    can_write_from_executors,
    connection_url,
    job_failure,
    write_from_executors,
)
from skewless.online.codec import ViewCodec, encode_key
from skewless.types import Array, Bool, Bytes, Float32, Float64, Int32, Int64, String, UnixTimestamp

pytest.importorskip("pyspark", reason="pyspark is not installed: pip install 'skewless[spark]'")

T0 = datetime(2024, 3, 1, tzinfo=UTC)
USER = Entity(name="user", join_keys=["user_id"])
STAMP = pa.timestamp("us", "UTC")
FEATURES = [
    Field(name="score", dtype=Int64),
    Field(name="label", dtype=String),
    Field(name="amount", dtype=Float64),
    Field(name="raw", dtype=Bytes),
    Field(name="vec", dtype=Array(Float32)),
    Field(name="seen", dtype=UnixTimestamp),
    Field(name="flag", dtype=Bool),
    Field(name="n32", dtype=Int32),
]
ARROW = {
    "score": pa.int64(),
    "label": pa.string(),
    "amount": pa.float64(),
    "raw": pa.binary(),
    "vec": pa.list_(pa.float32()),
    "seen": STAMP,
    "flag": pa.bool_(),
    "n32": pa.int32(),
}
_folders = itertools.count()


def h(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


def stats_view(path: str, ttl: timedelta | None = None, name: str = "stats") -> FeatureView:
    return FeatureView(
        name=name,
        entities=[USER],
        ttl=ttl,
        schema=FEATURES,
        source=FileSource(
            path=path, timestamp_field="event_timestamp", created_timestamp_column="created"
        ),
    )


def write_source(folder: Path, parts: list[list[dict[str, Any]]]) -> None:
    """One Parquet file per part (later parts come later in source order)."""
    folder.mkdir(parents=True, exist_ok=True)
    for i, rows in enumerate(parts):
        columns = {
            "user_id": pa.array([r["user_id"] for r in rows], pa.int64()),
            "event_timestamp": pa.array([r["ts"] for r in rows], STAMP),
            "created": pa.array([r.get("created") for r in rows], STAMP),
        }
        for name, kind in ARROW.items():
            columns[name] = pa.array([r.get(name) for r in rows], kind)
        pq.write_table(pa.table(columns), folder / f"part-{i:03d}.parquet")


def backends(root: Path, offline: dict[str, Any], online: dict[str, Any]) -> Any:
    config = parse_config(
        {"project": "shop", "offline_store": offline, "online_store": online}, root
    )
    return make_offline_engine(config), make_online_store(config)


def redis_block(server: RedisServer, db: int = 0, **more: Any) -> dict[str, Any]:
    return {"type": "redis", "connection_string": f"{server.connection_string},db={db}", **more}


def dump(server: RedisServer, db: int) -> dict[bytes, tuple[bytes, int]]:
    """Every key of a Redis database: its value and its expiry time (ms, -1: none)."""
    client = redis.Redis(host=server.host, port=server.port, db=db)
    try:
        keys = sorted(client.scan_iter(match=b"sk:*", count=1_000))
        values = client.mget(keys) if keys else []
        expiry = [client.pexpiretime(k) for k in keys]
        return {k: (v, e) for k, v, e in zip(keys, values, expiry, strict=True)}
    finally:
        client.close()


def driver_write(
    engine: OfflineEngine,
    online: OnlineStore,
    view: FeatureView,
    table: str,
    start: datetime | None,
    end: datetime,
    late_after: datetime | None = None,
) -> int:
    """The driver path of skewless.materialize: stream batches, encode, write."""
    online.set_table_ttl(table, view.ttl)
    codec = ViewCodec(view)
    written = 0
    for batch in engine.latest_per_key(view, start, end, late_created_after=late_after):
        written += online.write(table, codec.encode_rows(batch))
    return written


@pytest.fixture(scope="module")
def spark_root(tmp_path_factory: pytest.TempPathFactory, spark: Any) -> Path:
    return tmp_path_factory.mktemp("spark_materialize")


@pytest.fixture(scope="module")
def duck_engine(spark_root: Path) -> Iterator[OfflineEngine]:
    engine, _ = backends(spark_root, {"type": "duckdb", "threads": 2}, {"type": "sqlite"})
    yield engine
    engine.close()


@pytest.fixture(scope="module")
def spark_engine(spark_root: Path, spark: Any) -> Iterator[OfflineEngine]:
    from skewless.offline.spark.engine import SparkEngine

    engine = SparkEngine.from_session(spark, spark_root)
    yield engine
    engine.close()  # the session stays open: it is the run's


# -- random data ---------------------------------------------------------------------------
_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=5)
_row = st.fixed_dictionaries(
    {
        "user_id": st.one_of(st.integers(0, 4), st.integers(0, 4), st.none()),
        "ts": st.integers(0, 6).map(h),
        "created": st.one_of(st.none(), st.integers(0, 3).map(h)),
        "score": st.one_of(st.none(), st.integers(-(2**40), 2**40)),
        "label": st.one_of(st.none(), _text, st.just("],[")),
        "amount": st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True)),
        "raw": st.one_of(st.none(), st.binary(max_size=4)),
        "vec": st.one_of(
            st.none(), st.lists(st.one_of(st.none(), st.floats(width=32)), max_size=3)
        ),
        "seen": st.one_of(
            st.none(), st.integers(0, 10**6).map(lambda s: h(0) + timedelta(seconds=s))
        ),
        "flag": st.one_of(st.none(), st.booleans()),
        "n32": st.one_of(st.none(), st.integers(-(2**31), 2**31 - 1)),
    }
)
_parts = st.lists(st.lists(_row, max_size=12), min_size=1, max_size=2)
_range = st.tuples(
    st.one_of(st.none(), st.integers(0, 6)),
    st.integers(0, 6),
    st.one_of(st.none(), st.integers(0, 3)),
)


@settings(
    max_examples=5,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(parts=_parts, window=_range)
def test_executor_writes_equal_driver_writes_and_rerun_changes_nothing(
    parts: list[list[dict[str, Any]]],
    window: tuple[int | None, int, int | None],
    spark_engine: OfflineEngine,
    duck_engine: OfflineEngine,
    spark_root: Path,
    redis_server: RedisServer,
) -> None:
    redis_server.flushall()
    first, last, late = window
    start = None if first is None else h(min(first, last))
    end = h(max(first or 0, last))
    late_after = None if start is None or late is None else h(late)
    folder = f"data/ex{next(_folders)}"
    write_source(spark_root / folder, parts)
    view = stats_view(folder, ttl=timedelta(hours=3))

    _, by_driver = backends(spark_root, {"type": "duckdb"}, redis_block(redis_server, db=1))
    _, by_executors = backends(spark_root, {"type": "duckdb"}, redis_block(redis_server, db=0))
    assert can_write_from_executors(spark_engine, by_executors)
    expected = driver_write(duck_engine, by_driver, view, "t", start, end, late_after)
    by_executors.set_table_ttl("t", view.ttl)
    args = (spark_engine, by_executors, view, "t", start, end, late_after)
    assert write_from_executors(*args, batch_rows=4) == expected
    assert dump(redis_server, 0) == dump(redis_server, 1)
    assert write_from_executors(*args, batch_rows=4) == expected  # a rerun
    assert dump(redis_server, 0) == dump(redis_server, 1)
    by_driver.close()
    by_executors.close()


def _recent_rows(now: datetime) -> list[dict[str, Any]]:
    return [
        {"user_id": u, "ts": now - timedelta(minutes=10 * i + u), "score": i, "label": str(u)}
        for i in range(3)
        for u in range(40)
    ]


def test_key_expiry_matches_the_driver_path(
    spark_engine: OfflineEngine,
    duck_engine: OfflineEngine,
    spark_root: Path,
    clean_redis: RedisServer,
) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    folder = f"data/ex{next(_folders)}"
    write_source(spark_root / folder, [_recent_rows(now)])
    view = stats_view(folder, ttl=timedelta(days=1))
    expiring = {"key_ttl_seconds": 60}
    _, by_driver = backends(spark_root, {"type": "duckdb"}, redis_block(clean_redis, 1, **expiring))
    _, by_executors = backends(
        spark_root, {"type": "duckdb"}, redis_block(clean_redis, 0, **expiring)
    )
    start, end = now - timedelta(days=1), now
    assert driver_write(duck_engine, by_driver, view, "t", start, end) == 40
    by_executors.set_table_ttl("t", view.ttl)
    assert write_from_executors(spark_engine, by_executors, view, "t", start, end) == 40
    stored = dump(clean_redis, 0)
    assert len(stored) == 40 and all(expiry > 0 for _, expiry in stored.values())
    assert stored == dump(clean_redis, 1)


# -- failures ------------------------------------------------------------------------------
def test_unreachable_redis_fails_the_job_with_a_clear_error(
    spark_engine: OfflineEngine, spark_root: Path
) -> None:
    folder = f"data/ex{next(_folders)}"
    write_source(spark_root / folder, [_recent_rows(T0)])
    view = stats_view(folder)
    port = free_port()
    _, dead = backends(
        spark_root, {"type": "duckdb"}, {"type": "redis", "connection_string": f"127.0.0.1:{port}"}
    )
    with pytest.raises(MaterializationError) as caught:
        write_from_executors(spark_engine, dead, view, "t", None, h(1))
    message = str(caught.value)
    assert f"127.0.0.1:{port}" in message and "watermark did not move" in message
    assert "OnlineStoreUnavailableError" in message


def test_source_deleted_after_planning_fails_the_job(
    spark_engine: OfflineEngine,
    spark_root: Path,
    clean_redis: RedisServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    folder = f"data/ex{next(_folders)}"
    write_source(spark_root / folder, [_recent_rows(T0)])
    view = stats_view(folder)
    plan = type(spark_engine).latest_per_key_frame

    def plan_then_delete(self: Any, *args: Any, **kwargs: Any) -> Any:
        frame = plan(self, *args, **kwargs)
        shutil.rmtree(spark_root / folder)
        return frame

    monkeypatch.setattr(type(spark_engine), "latest_per_key_frame", plan_then_delete)
    _, online = backends(spark_root, {"type": "duckdb"}, redis_block(clean_redis))
    with pytest.raises(MaterializationError, match=r"'stats'.*watermark did not move"):
        write_from_executors(spark_engine, online, view, "t", None, h(1))
    assert dump(clean_redis, 0) == {}


def test_not_for_other_backends(
    spark_engine: OfflineEngine, duck_engine: OfflineEngine, tmp_path: Path
) -> None:
    _, sqlite_store = backends(tmp_path, {"type": "duckdb"}, {"type": "sqlite"})
    assert not can_write_from_executors(spark_engine, sqlite_store)
    _, redis_store = backends(tmp_path, {"type": "duckdb"}, {"type": "redis"})
    assert not can_write_from_executors(duck_engine, redis_store)
    assert can_write_from_executors(spark_engine, redis_store)
    with pytest.raises(MaterializationError, match="needs the Spark offline engine"):
        write_from_executors(duck_engine, redis_store, stats_view("x"), "t", None, T0)


def test_writer_configuration_is_plain_and_picklable() -> None:
    import pickle

    writer = PartitionWriter("redis://h:1/0", None, "t", 60.0, stats_view("x").to_spec(), 10)
    assert pickle.loads(pickle.dumps(writer)) == writer
    from skewless.online.redis.connection import parse_connection_string

    for text in ("h:1,db=3,username=u,password=a:b@c", "rediss://:p@[::1]:6380/2", "h:2"):
        address = parse_connection_string(text)
        assert parse_connection_string(connection_url(address)) == address


def test_job_failure_names_the_skewless_error_of_a_task() -> None:
    text = (
        "An exception was thrown from the Python worker.\n"
        "Traceback (most recent call last):\n  ...\n"
        "skewless.errors.OnlineStoreError: cannot reach the Redis online store at h:1\n"
        "\tat org.apache.spark.api.python.BasePythonRunner ...\n"
    )
    assert job_failure(RuntimeError(text)) == (
        "OnlineStoreError: cannot reach the Redis online store at h:1"
    )
    assert job_failure(RuntimeError("")) == "RuntimeError: no message"


# -- through skewless.materialize ----------------------------------------------------------
def _repo(root: Path, online: str, rows: list[dict[str, Any]]) -> FeatureStore:
    root.mkdir(parents=True)
    (root / "feature_store.yaml").write_text(
        "project: shop\n"
        "registry: registry.db\n"
        'offline_store: {type: spark, master: "local[2]"}\n'
        f"online_store: {online}\n"
    )
    write_source(root / "data" / "stats", [rows])
    store = FeatureStore(root)
    store.apply([USER, stats_view("data/stats")])
    return store


def test_materialize_writes_from_executors_and_keeps_the_watermark_on_failure(
    spark: Any,
    clean_redis: RedisServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rows = _recent_rows(T0)
    store = _repo(
        tmp_path / "ok",
        f'{{type: redis, connection_string: "{clean_redis.connection_string}"}}',
        rows,
    )
    engine = store.offline_engine
    # Spark with Redis is the pairing whose rows go from the executors straight to Redis.
    assert can_write_from_executors(engine, store.online_store)

    def no_driver_stream(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the driver path was used")

    monkeypatch.setattr(type(engine), "latest_per_key", no_driver_stream)
    view = store.get_feature_view("stats")
    assert store.materialize(T0 - timedelta(days=1), T0).rows == 40
    assert store.registry.get_watermark(view) is not None
    assert store.materialize(T0 - timedelta(days=1), T0).rows == 40  # idempotent rerun
    got = store.get_online_features(["stats:score"], [{"user_id": 3}]).to_dict()
    assert got == {"user_id": [3], "score": [0]}
    store.close()

    port = free_port()
    dead = _repo(tmp_path / "dead", f'{{type: redis, connection_string: "127.0.0.1:{port}"}}', rows)
    with pytest.raises(MaterializationError, match="watermark did not move"):
        dead.materialize(T0 - timedelta(days=1), T0)
    assert dead.registry.get_watermark(dead.get_feature_view("stats")) is None
    dead.close()


# -- the embedded store: the driver streams bounded batches --------------------------------
def test_sqlite_store_gets_bounded_batches_from_the_driver(
    spark_root: Path, spark_engine: OfflineEngine, duck_engine: OfflineEngine, tmp_path: Path
) -> None:
    rows = [
        {"user_id": u, "ts": h(i % 5), "created": h(i % 3), "score": i, "label": "x" * (i % 4)}
        for i in range(60)
        for u in range(i % 7, 60, 7)
    ]
    store = _repo(tmp_path / "repo", "{type: sqlite, path: online.db}", rows)
    assert not can_write_from_executors(store.offline_engine, store.online_store)
    engine = store.offline_engine
    seen: list[int] = []
    stream = type(engine).latest_per_key

    def counted(self: Any, *args: Any, **kwargs: Any) -> Iterator[pa.RecordBatch]:
        assert kwargs["batch_rows"] == 7
        for batch in stream(self, *args, **kwargs):
            seen.append(batch.num_rows)
            yield batch

    writes: list[int] = []
    online = store.online_store
    write = online.write

    def recorded(table: str, rows: Any) -> int:
        written = write(table, rows)
        writes.append(written)
        return written

    ctx = MaterializeContext(engine, online, store.registry, store.snapshot(), batch_rows=7)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(type(engine), "latest_per_key", counted)
        patch.setattr(online, "write", recorded)
        report = materialize(ctx, h(0), h(4))
    assert report.rows == 60 and sum(seen) == 60
    assert max(seen) <= 7 and len(seen) >= 60 // 7
    assert max(writes) <= 7

    view = store.get_feature_view("stats")
    table = store.snapshot().online_table(view)
    keys = [encode_key((u,)) for u in range(60)]
    _, expected_store = backends(tmp_path, {"type": "duckdb"}, {"type": "sqlite", "path": "ref.db"})
    driver_write(
        duck_engine, expected_store, _with_path(view, tmp_path / "repo"), table, h(0), h(4)
    )
    assert online.read([(table, keys)]) == expected_store.read([(table, keys)])
    assert all(r is not None for r in online.read([(table, keys)])[0])
    store.close()


def _with_path(view: FeatureView, root: Path) -> FeatureView:
    return stats_view(str(root / "data" / "stats"), ttl=view.ttl)
