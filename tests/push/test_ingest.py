"""``skewless ingest``: a real redis-server stream into a push source, acked after writing."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
import redis
from push_repo import h, yaml_repo
from redis_server import RedisServer

from skewless import FeatureStore
from skewless.ingest import StorePushSink, StreamIngestor, parse_stream_url
from skewless.offline.sources import resolve_files

REFS = ["events:score", "events:label", "events:amount"]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[FeatureStore]:
    store = yaml_repo(tmp_path)
    yield store
    store.close()


@pytest.fixture
def client(clean_redis: RedisServer) -> Iterator[redis.Redis]:
    client = redis.Redis(host=clean_redis.host, port=clean_redis.port)
    yield client
    client.close()


def stream_url(client: redis.Redis, stream: str = "events") -> str:
    kwargs = client.connection_pool.connection_kwargs
    return f"redis://{kwargs['host']}:{kwargs['port']}/{stream}"


def entry(user: int, score: int, hours: float = 3) -> dict[str, Any]:
    row = {
        "user_id": user,
        "event_timestamp": h(hours).isoformat(),
        "score": score,
        "label": f"s{score}",
        "amount": score / 2,
    }
    return {"row": json.dumps(row)}


def ingestor(store: FeatureStore, client: redis.Redis, to: str, **options: Any) -> StreamIngestor:
    address = parse_stream_url(stream_url(client))
    sink = StorePushSink(store, "events_push", to, address.stream)
    return StreamIngestor(client, address, sink, group="g", consumer="c1", block_ms=50, **options)


def offline_rows(store: FeatureStore) -> list[dict[str, Any]]:
    files = resolve_files(store.get_feature_view("events").source, store.repo_path)
    return [r for f in files[1:] for r in pq.read_table(f).to_pylist()]  # pushed files only


def group_info(client: redis.Redis) -> dict[str, Any]:
    found = [g for g in client.xinfo_groups("events") if g["name"] == b"g"]
    return found[0] if found else {}


def test_entries_are_pushed_acked_and_readable_online(
    store: FeatureStore, client: redis.Redis
) -> None:
    client.xadd("events", entry(1, 10))
    client.xadd(
        "events",
        {
            "user_id": "2",
            "event_timestamp": "2024-03-01T04:00:00Z",
            "score": "20",
            "label": "flat",
            "amount": "2.5",
        },
    )
    client.xadd("events", {"row": "{not json"})
    client.xadd("events", entry(3, 30) | {"row": json.dumps({"user_id": 3, "score": "x"})})
    client.xadd("events", entry(1, 11, hours=5))
    stats = ingestor(store, client, "online_and_offline", batch=10).run(idle_exit=0.2)
    assert (stats.entries, stats.rows, stats.dead) == (5, 3, 2)
    assert group_info(client)["pending"] == 0 and group_info(client)["lag"] == 0
    got = store.get_online_features(REFS, [{"user_id": 1}, {"user_id": 2}, {"user_id": 3}])
    assert got.to_dict()["score"] == [11, 20, None]
    assert got.to_dict()["amount"] == [5.5, 2.5, None]
    dead = client.xrange("events:dead")
    assert len(dead) == 2
    errors = [fields[b"skewless_error"].decode() for _, fields in dead]
    assert "cannot decode" in errors[0] and "missing column" in errors[1]
    assert sorted(r["score"] for r in offline_rows(store)) == [10, 11, 20]


def test_a_crash_before_the_ack_redelivers_without_double_writes(
    store: FeatureStore, client: redis.Redis
) -> None:
    for i in range(20):
        client.xadd("events", entry(i % 4, i))
    crashing = ingestor(store, client, "online_and_offline", batch=8)
    real_push = crashing.sink.push

    def push_then_crash(*args: Any, **kwargs: Any) -> None:
        real_push(*args, **kwargs)
        if crashing.stats.batches == 1:
            raise SystemExit("crash after the write, before the ack")

    crashing.sink.push = push_then_crash  # type: ignore[method-assign]
    crashing.run(max_entries=8)  # first batch acked
    with pytest.raises(SystemExit):
        crashing.run(max_entries=16)  # second batch written, never acked
    assert group_info(client)["pending"] == 8
    restarted = ingestor(store, client, "online_and_offline", batch=8)
    stats = restarted.run(idle_exit=0.2)
    assert stats.redelivered == 8 and stats.entries == 12
    assert group_info(client)["pending"] == 0
    assert sorted(r["score"] for r in offline_rows(store)) == list(range(20))
    online = store.get_online_features(REFS, [{"user_id": u} for u in range(4)]).to_dict()
    assert online["score"] == [16, 17, 18, 19]


def test_ingest_process_killed_midway_loses_nothing(
    store: FeatureStore, client: redis.Redis
) -> None:
    n = 3000
    pipe = client.pipeline()
    for i in range(n):
        pipe.xadd("events", entry(i % 50, i, hours=1 + i / n))
    pipe.execute()
    command = [
        sys.executable,
        "-m",
        "skewless.cli.main",
        "-r",
        str(store.repo_path),
        "ingest",
        "events_push",
        "--stream",
        stream_url(client),
        "--group",
        "g",
        "--consumer",
        "c1",
        "--batch",
        "25",
        "--to",
        "online_and_offline",
        "--report-every",
        "0.2",
    ]
    first = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if (group_info(client).get("entries-read") or 0) >= n // 3:
            break
        time.sleep(0.02)
    os.kill(first.pid, signal.SIGKILL)
    first.wait()
    assert group_info(client)["entries-read"] < n  # killed mid-way
    second = subprocess.run(
        [*command, "--idle-exit", "0.5"], capture_output=True, text=True, timeout=120
    )
    assert second.returncode == 0, second.stderr
    assert "lag 0, pending 0" in second.stderr
    info = group_info(client)
    assert (info["pending"], info["lag"]) == (0, 0)
    scores = sorted(r["score"] for r in offline_rows(store))
    assert scores == list(range(n))  # nothing lost, nothing written twice
    online = store.get_online_features(REFS, [{"user_id": u} for u in range(50)]).to_dict()
    assert online["score"] == list(range(n - 50, n))


def test_bad_stream_url_is_one_error_line(store: FeatureStore) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "skewless.cli.main",
            "-r",
            str(store.repo_path),
            "ingest",
            "events_push",
            "--stream",
            "http://x/y",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "error: stream 'http://x/y' is not a Redis stream URL: write redis://host:port/STREAM"
    ]


def test_rows_valid_alone_but_mixed_together_are_all_written(
    store: FeatureStore, client: redis.Redis
) -> None:
    for user, score in ((1, 1), (2, "2")):
        row = {
            "user_id": user,
            "event_timestamp": "2024-03-01T03:00:00",
            "score": score,
            "label": None,
            "amount": None,
        }
        client.xadd("events", {"row": json.dumps(row)})
    stats = ingestor(store, client, "online").run(idle_exit=0.2)
    assert (stats.entries, stats.rows, stats.dead) == (2, 2, 0)
    got = store.get_online_features(["events:score"], [{"user_id": 1}, {"user_id": 2}])
    assert got.to_dict()["score"] == [1, 2]


def test_an_entry_from_the_future_goes_to_the_dead_letter_stream(
    store: FeatureStore, client: redis.Redis
) -> None:
    # docs/semantics.md "Push": an event time past the maximum clock skew is refused.
    client.xadd("events", entry(1, 10))
    client.xadd("events", entry(2, 20, hours=24 * 366 + 1))  # a day past the store's clock
    stats = ingestor(store, client, "online").run(idle_exit=0.2)
    assert (stats.entries, stats.rows, stats.dead) == (2, 1, 1)
    got = store.get_online_features(["events:score"], [{"user_id": 1}, {"user_id": 2}])
    assert got.to_dict()["score"] == [10, None]
    (_, fields), *_ = client.xrange("events:dead")
    assert "in the future" in fields[b"skewless_error"].decode()


def test_entries_left_by_a_dead_consumer_are_claimed(
    store: FeatureStore, client: redis.Redis
) -> None:
    for i in range(6):
        client.xadd("events", entry(i, i))
    client.xgroup_create("events", "g", id="0")
    client.xreadgroup("g", "dead-worker", {"events": ">"}, count=4)  # read, never acked
    time.sleep(0.05)
    stats = ingestor(store, client, "online", claim_idle_ms=20).run(idle_exit=0.2)
    assert stats.entries == 6 and group_info(client)["pending"] == 0
    got = store.get_online_features(["events:score"], [{"user_id": u} for u in range(6)])
    assert got.to_dict()["score"] == list(range(6))


def test_flat_fields_are_read_as_their_declared_types() -> None:
    from skewless.ingest import EntryDecoder
    from skewless.types import Array, Bool, Bytes, Float32, Int64, String

    decoder = EntryDecoder(
        {
            "k": None,
            "n": Int64,
            "x": Float32,
            "b": Bool,
            "raw": Bytes,
            "v": Array(Int64),
            "s": String,
        },
        times=["ts"],
    )
    fields = {
        b"k": b"7",
        b"n": b"-3",
        b"x": b"1.5",
        b"b": b"true",
        b"raw": b"\x00\xff",
        b"v": b"[1,2]",
        b"s": b"123",
        b"ts": b"2024-01-01T00:00:00Z",
        b"extra": b"e",
    }
    assert decoder.decode(fields) == {
        "k": 7,
        "n": -3,
        "x": 1.5,
        "b": True,
        "raw": b"\x00\xff",
        "v": [1, 2],
        "s": "123",
        "ts": "2024-01-01T00:00:00Z",
        "extra": "e",
    }
    assert decoder.decode({b"k": b"eu-1"}) == {"k": "eu-1"}
    assert decoder.decode({b"row": b'{"n": 1}'}) == {"n": 1}
    for bad in ({b"n": b"one"}, {b"b": b"maybe"}, {b"row": b"[1]"}, {b"row": b"{}", b"n": b"1"}):
        with pytest.raises(ValueError):
            decoder.decode(bad)
