"""Online read latency with the Redis online store, in-process.

Starts its own ``redis-server`` on a free loopback port (no persistence) and stops it by pid at
the end. The store holds USERS users (100k) x 6 features, materialized from the benchmark data
of ``bench/materialize.py`` through a real ``FeatureStore`` whose online store is Redis. Each
timed call is ``store.get_online_features(6 features, entity_rows).to_dict()`` for 1 or 100
random users. In the same run, on the same keys, taking turns call by call:

- ``RedisOnlineStore.read`` alone (keys already encoded, payloads not decoded);
- ``redis-py MGET`` (for context): ``redis.Redis.mget`` of the same full keys;
- the floor: the same ``MGET`` packed beforehand (pre-encoded keys, one RESP command per
  call), written to a plain socket in one send and its reply parsed with hiredis, as the store
  does, without any client library around it.

Before timing, the answers are compared for every call: the floor's values equal redis-py's,
and each payload the store reads is the one the floor got (the stored value after its time
header); a disagreement exits non-zero.

Run: ``.venv/bin/python bench/redis_read.py`` (``--users 100000 --calls 20000``); ``--quick``
for a tiny run that checks the answers agree.
"""

from __future__ import annotations

import argparse
import gc
import random
import socket
import sys
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import hiredis
import redis
from _agree import require_equal
from materialize import DATA, START, USER, ensure_source, feature_view
from online import FEATURES, percentiles

from skewless import FeatureStore
from skewless.config import RepoConfig
from skewless.online.codec import encode_key
from skewless.online.redis.store import table_prefix

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from redis_server import RedisServer


class RawMget:
    """The floor: pre-packed ``MGET`` commands on a plain socket, replies parsed by hiredis."""

    def __init__(self, host: str, port: int) -> None:
        self.sock = socket.create_connection((host, port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.reader = hiredis.Reader()

    @staticmethod
    def pack(keys: list[bytes]) -> bytes:
        parts = [b"*%d\r\n$4\r\nMGET\r\n" % (len(keys) + 1)]
        parts += [b"$%d\r\n%s\r\n" % (len(k), k) for k in keys]
        return b"".join(parts)

    def call(self, packed: bytes) -> list[bytes | None]:
        self.sock.sendall(packed)
        reader = self.reader
        reply = reader.gets()
        while reply is False:
            chunk = self.sock.recv(1 << 16)
            if not chunk:
                raise ConnectionError("redis-server closed the connection")
            reader.feed(chunk)
            reply = reader.gets()
        return reply  # type: ignore[no-any-return]

    def close(self) -> None:
        self.sock.close()


def check_answers(
    floor: RawMget,
    raw: redis.Redis,
    online: object,
    table: str,
    calls: list[tuple[list[bytes], list[bytes], bytes]],
) -> None:
    """Exit non-zero unless the timed variants read the same values, call by call: each call
    is (store keys, full keys, packed command), as the timed loops use them."""
    for keys, full, packed in calls:
        values = floor.call(packed)
        require_equal("floor", values, "redis-py MGET", raw.mget(full))
        stored = online.read([(table, keys)])[0]  # type: ignore[attr-defined]
        expected = [None if s is None else s[1] for s in stored]
        tails = [
            v if v is None or e is None else v[len(v) - len(e) :]
            for v, e in zip(values, expected, strict=True)
        ]
        require_equal("RedisOnlineStore.read", expected, "floor", tails)


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
    parser.add_argument("--data", type=Path, default=DATA, help="where generated data goes")
    parser.add_argument("--quick", action="store_true", help="2,000 users, 400 calls")
    args = parser.parse_args()
    if args.quick:
        args.users, args.days, args.calls = 2_000, 3, 400

    source = ensure_source(args.users, args.days, data=args.data)
    end = START + timedelta(days=args.days)
    root = args.data / "redis_repo"
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

        one_packed = [RawMget.pack(keys) for keys in one_full]
        many_packed = [RawMget.pack(keys) for keys in many_full]
        floor = RawMget(server.host, server.port)

        check = store.get_online_features(FEATURES, many_rows[0])
        assert all(s == "PRESENT" for s in check.statuses["total_purchases"]), check.statuses
        calls = [*zip(one_keys, one_full, one_packed, strict=True)][:1_000]
        calls += [*zip(many_keys, many_full, many_packed, strict=True)][:1_000]
        check_answers(floor, raw, online, table, calls)

        get = store.get_online_features
        results = {}
        gc.collect()
        results["1 entity x 6 features"] = interleaved(
            [
                lambda i: get(FEATURES, one_rows[i]).to_dict(),
                lambda i: online.read([(table, one_keys[i])]),
                lambda i: raw.mget(one_full[i]),
                lambda i: floor.call(one_packed[i]),
            ],
            args.calls,
            min(2_000, args.calls),
        )
        results["100 entities x 6 features"] = interleaved(
            [
                lambda i: get(FEATURES, many_rows[i]).to_dict(),
                lambda i: online.read([(table, many_keys[i])]),
                lambda i: raw.mget(many_full[i]),
                lambda i: floor.call(many_packed[i]),
            ],
            batches,
            min(200, batches),
        )
        floor.close()
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
    print("answers agree: floor, redis-py MGET, RedisOnlineStore.read")
    print(f"{'':28} {'p50':>8} {'p99':>8} {'p99.9':>8} {'p50/floor':>6}   (microseconds)")
    labels = (
        "get_online_features().to_dict()",
        "RedisOnlineStore.read (no decoding)",
        "redis-py MGET (context)",
        "floor: pre-packed MGET, raw socket + hiredis",
    )
    for name, samples in results.items():
        floor_p50 = percentiles(samples[-1])[0]
        for i, (label, ns) in enumerate(zip(labels, samples, strict=True)):
            p = percentiles(ns)
            vs = f"{p[0] / floor_p50:5.2f}x"
            print(
                f"{name if i == 0 else '':<28} {p[0]:8.1f} {p[1]:8.1f} {p[2]:8.1f} {vs}   {label}"
            )
    p99 = percentiles(results["100 entities x 6 features"][0])[1]
    met = "met" if p99 < 1_000 else "not met"
    print(f"target: p99 under 1,000 us for 100 entities x 6 features: {met} ({p99:.0f} us)")
    print(
        f"server memory for {written:,} keys: {memory / 1e6:.1f} MB "
        f"({memory / written:.0f} B/key); "
        f"drop of the table (SCAN + UNLINK): {drop_s:.2f} s"
    )


if __name__ == "__main__":
    main()
