"""Online read latency: ``store.get_online_features(...).to_dict()`` in-process.

The store holds USERS users (100k) x 6 features, materialized from the benchmark data of
``bench/materialize.py``. Each call reads 1 entity (or 100 entities) x 6 features of random
users through a real ``FeatureStore``; the timed region covers the call and ``.to_dict()``.
The floor, measured in the same run on the same keys, is a raw ``sqlite3`` primary-key lookup
of the stored rows (keys already encoded, payloads not decoded). The two take turns call by call
(which goes first alternates), so a busy machine slows both alike, and the benchmark prints
each percentile as a ratio to the floor's with the targets marked met or not met: p50 within
2.5x and p99 within 2x of the floor, and p99 under 50 us (1 entity) / 1,000 us (100 entities)
on a quiet machine.

Run: ``.venv/bin/python bench/online.py`` (``--users 100000 --calls 20000``).
"""

from __future__ import annotations

import argparse
import gc
import random
import sqlite3
import time
from collections.abc import Callable
from datetime import timedelta

from materialize import DATA, START, ensure_source, open_repo

from skewless.online.codec import encode_key

FEATURES = [
    "user_stats:total_purchases",
    "user_stats:avg_purchase_amount",
    "user_stats:days_since_last_login",
    "user_stats:preferred_category",
    "user_stats:session_minutes",
    "user_stats:churn_score",
]


def percentiles(samples_ns: list[int]) -> tuple[float, float, float]:
    """p50, p99 and p99.9 in microseconds."""
    ordered = sorted(samples_ns)
    pick = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))] / 1_000  # noqa: E731
    return pick(0.50), pick(0.99), pick(0.999)


def measure_pair(
    ours: Callable[[int], object], floor: Callable[[int], object], calls: int, warmup: int
) -> tuple[list[int], list[int]]:
    """Samples (ns) of ``ours`` and ``floor``, called in turns on the same inputs."""
    for i in range(warmup):
        ours(i)
        floor(i)
    ours_ns, floor_ns = [], []
    clock = time.perf_counter_ns
    for i in range(calls):
        for call, samples in ((ours, ours_ns), (floor, floor_ns))[:: 1 if i % 2 else -1]:
            began = clock()
            call(i)
            samples.append(clock() - began)
    return ours_ns, floor_ns


TARGET_P50_RATIO = 2.5
TARGET_P99_RATIO = 2.0


def verdict(ok: bool) -> str:
    return "met" if ok else "NOT met"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--days", type=int, default=10)
    parser.add_argument("--calls", type=int, default=20_000)
    args = parser.parse_args()

    source = ensure_source(args.users, args.days)
    end = START + timedelta(days=args.days)
    store = open_repo(DATA / "online_repo", source, ttl=timedelta(days=30), clock=lambda: end)
    store.materialize(START - timedelta(days=1), end)
    table = store.snapshot().online_table(store.get_feature_view("user_stats"))
    raw = sqlite3.connect(store.repo_path / "online.db")
    one_sql = f'SELECT ts, payload FROM "{table}" WHERE key = ?'
    many_sql = f'SELECT key, ts, payload FROM "{table}" WHERE key IN ({",".join("?" * 100)})'

    rnd = random.Random(7)
    user_ids = [1001 + rnd.randrange(args.users) for _ in range(args.calls * 100)]
    one_rows = [[{"user_id": u}] for u in user_ids[: args.calls]]
    one_keys = [(encode_key((u,)),) for u in user_ids[: args.calls]]
    batches = args.calls // 10
    many_rows = [
        [{"user_id": u} for u in user_ids[i * 100 : i * 100 + 100]] for i in range(batches)
    ]
    many_keys = [[encode_key((r["user_id"],)) for r in rows] for rows in many_rows]

    check = store.get_online_features(FEATURES, one_rows[0])
    assert all(s == "PRESENT" for s in check.statuses["total_purchases"]), check.statuses

    get = store.get_online_features
    results = {}
    gc.collect()
    results["1 entity x 6 features"] = measure_pair(
        lambda i: get(FEATURES, one_rows[i]).to_dict(),
        lambda i: raw.execute(one_sql, one_keys[i]).fetchone(),
        args.calls,
        2_000,
    )
    results["100 entities x 6 features"] = measure_pair(
        lambda i: get(FEATURES, many_rows[i]).to_dict(),
        lambda i: raw.execute(many_sql, many_keys[i]).fetchall(),
        batches,
        200,
    )
    raw.close()
    store.close()

    print(
        f"online reads: {args.users:,} users materialized, SQLite online store, in-process; "
        f"{args.calls:,} calls (1 entity) and {batches:,} calls (100 entities), "
        "taking turns with the floor"
    )
    print(f"{'':32} {'p50':>9} {'p99':>9} {'p99.9':>9}   (microseconds)")
    verdicts = []
    for (name, (ours, floor)), limit in zip(results.items(), (50.0, 1_000.0), strict=True):
        p, f = percentiles(ours), percentiles(floor)
        r = [a / b for a, b in zip(p, f, strict=True)]
        print(f"{name:<32} {p[0]:9.1f} {p[1]:9.1f} {p[2]:9.1f}   get_online_features().to_dict()")
        print(f"{'':32} {f[0]:9.1f} {f[1]:9.1f} {f[2]:9.1f}   floor: raw sqlite3 lookup")
        print(f"{'':32} {r[0]:8.2f}x {r[1]:8.2f}x {r[2]:8.2f}x   ratio to the floor")
        verdicts.append(
            f"{name}: p50 {r[0]:.2f}x the floor (target {TARGET_P50_RATIO}x: "
            f"{verdict(r[0] <= TARGET_P50_RATIO)}), p99 {r[1]:.2f}x (target "
            f"{TARGET_P99_RATIO}x: {verdict(r[1] <= TARGET_P99_RATIO)}), p99 {p[1]:.1f} us "
            f"(target under {limit:,.0f} us on a quiet machine: {verdict(p[1] < limit)})"
        )
    print("\n".join(verdicts))


if __name__ == "__main__":
    main()
