"""Online read latency with the Redis online store, in-process.

Starts its own ``redis-server`` on a free loopback port (no persistence) and stops it by pid at
the end. The store holds USERS users (100k) x 6 features, materialized from the benchmark data
of ``bench/materialize.py`` through a real ``FeatureStore`` whose online store is Redis. Each
timed call is ``store.get_online_features(6 features, entity_rows).to_dict()`` for 1 or 100
random users. In the same run, on the same keys: ``RedisOnlineStore.read`` alone (keys already
encoded, payloads not decoded) and the floor, a raw redis-py ``MGET`` of the same keys; the
three take turns call by call.

Run: ``.venv/bin/python bench/redis_read.py`` (``--users 100000 --calls 20000``).
"""

from __future__ import annotations

import argparse
import gc
import random
import sys
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import redis
from materialize import DATA, START, USER, ensure_source, feature_view
from online import FEATURES, percentiles

from skewless import FeatureStore
from skewless.config import RepoConfig
from skewless.online.codec import encode_key
from skewless.online.redis.store import table_prefix

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from redis_server import RedisServer


def interleaved(calls: list[Callable[[int], object]], n: int, warmup: int) -> list[list[int]]:
    """Nanoseconds per call of each variant, the variants taking turns call by call, so a
    noisy moment of the machine hits them alike."""
    for i in range(warmup):
        for call in calls:
            call(i)
    samples: list[list[int]] = [[] for _ in calls]
    clock = time.perf_counter_ns
    for i in range(n):
        for call, out in zip(calls, samples, strict=True):
            began = clock()
            call(i)
            out.append(clock() - began)
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--days", type=int, default=10)
    parser.add_argument("--calls", type=int, default=20_000)
    args = parser.parse_args()

    source = ensure_source(args.users, args.days)
    end = START + timedelta(days=args.days)
    root = DATA / "redis_repo"
    root.mkdir(parents=True, exist_ok=True)
    (root / "registry.db").unlink(missing_ok=True)
    with RedisServer() as server:
        config = RepoConfig(
            project="bench",
            registry={"path": str(root / "registry.db")},
            online_store={"type": "redis", "connection_string": server.connection_string},
            repo_path=root,
        )
        store = FeatureStore(config=config, clock=lambda: end)
        baseline = int(
            redis.Redis(host=server.host, port=server.port).info("memory")["used_memory"]
        )
        store.apply([USER, feature_view(source, timedelta(days=30))])
        began = time.perf_counter()
        report = store.materialize(START - timedelta(days=1), end)
        load_s = time.perf_counter() - began
        written = sum(v.rows for v in report.views)
        table = store.snapshot().online_table(store.get_feature_view("user_stats"))
        prefix = table_prefix(table)
        raw = redis.Redis(host=server.host, port=server.port)
        online = store.online_store

        rnd = random.Random(7)
        user_ids = [1001 + rnd.randrange(args.users) for _ in range(args.calls * 100)]
        one_rows = [[{"user_id": u}] for u in user_ids[: args.calls]]
        batches = args.calls // 10
        many_rows = [
            [{"user_id": u} for u in user_ids[i * 100 : i * 100 + 100]] for i in range(batches)
        ]

        def encoded(rows: list[dict[str, int]]) -> list[bytes]:
            return [encode_key((r["user_id"],)) or b"" for r in rows]

        one_keys = [encoded(rows) for rows in one_rows]
        many_keys = [encoded(rows) for rows in many_rows]
        one_full = [[prefix + k for k in keys] for keys in one_keys]
        many_full = [[prefix + k for k in keys] for keys in many_keys]

        check = store.get_online_features(FEATURES, many_rows[0])
        assert all(s == "PRESENT" for s in check.statuses["total_purchases"]), check.statuses
        assert all(v is not None for v in raw.mget(many_full[0]))

        get = store.get_online_features
        results = {}
        gc.collect()
        results["1 entity x 6 features"] = interleaved(
            [
                lambda i: get(FEATURES, one_rows[i]).to_dict(),
                lambda i: online.read([(table, one_keys[i])]),
                lambda i: raw.mget(one_full[i]),
            ],
            args.calls,
            2_000,
        )
        results["100 entities x 6 features"] = interleaved(
            [
                lambda i: get(FEATURES, many_rows[i]).to_dict(),
                lambda i: online.read([(table, many_keys[i])]),
                lambda i: raw.mget(many_full[i]),
            ],
            batches,
            200,
        )
        memory = int(raw.info("memory")["used_memory"]) - baseline
        began = time.perf_counter()
        online.drop([table])
        drop_s = time.perf_counter() - began
        assert raw.dbsize() == 0
        raw.close()
        store.close()

    print(
        f"redis reads: {args.users:,} users materialized into redis-server on loopback "
        f"({written:,} rows in {load_s:.2f} s through store.materialize), in-process; "
        f"{args.calls:,} calls (1 entity) and {batches:,} calls (100 entities)"
    )
    print(f"{'':28} {'p50':>8} {'p99':>8} {'p99.9':>8}   (microseconds)")
    labels = (
        "get_online_features().to_dict()",
        "RedisOnlineStore.read (no decoding)",
        "floor: raw redis-py MGET",
    )
    for name, samples in results.items():
        for i, (label, ns) in enumerate(zip(labels, samples, strict=True)):
            p = percentiles(ns)
            print(f"{name if i == 0 else '':<28} {p[0]:8.1f} {p[1]:8.1f} {p[2]:8.1f}   {label}")
    print("target: p99 under 1,000 us for 100 entities x 6 features")
    print(
        f"server memory for {written:,} keys: {memory / 1e6:.1f} MB "
        f"({memory / written:.0f} B/key); "
        f"drop of the table (SCAN + UNLINK): {drop_s:.2f} s"
    )


if __name__ == "__main__":
    main()
