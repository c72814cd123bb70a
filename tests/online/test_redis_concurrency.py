"""Two processes write interleaved older and newer rows to the same Redis keys at once.

The monotonic rule runs on the server, so whatever the interleaving: a reader never sees a
key's event time go backwards, and at the end every key holds its newest row.
"""

from __future__ import annotations

import multiprocessing
import random
from pathlib import Path
from typing import Any

from redis_server import RedisServer

from skewless.config import RedisOnlineConfig
from skewless.online.codec import encode_key
from skewless.online.redis.store import RedisOnlineStore

T = "proj__contended__0123456789ab"
KEYS = 200
ROUNDS = 150


def _key(i: int) -> bytes:
    key = encode_key((i,))
    assert key is not None
    return key


def _open(server: str) -> RedisOnlineStore:
    return RedisOnlineStore(RedisOnlineConfig(connection_string=server), Path("."))


def _rows_of(writer: int) -> list[list[tuple[bytes, int, int | None, bytes]]]:
    """Writer 0 owns the even event times, writer 1 the odd ones, each in a shuffled order,
    so each writer keeps sending rows both older and newer than the other's."""
    rnd = random.Random(writer)
    times = list(range(writer, ROUNDS * 2, 2))
    rnd.shuffle(times)
    batches = []
    for ts in times:
        keys = rnd.sample(range(KEYS), KEYS // 2)
        created = rnd.choice([None, 1, 2])
        batches.append([(_key(k), ts, created, f"[{k},{ts},{writer}]".encode()) for k in keys])
    return batches


def _writer(server: str, writer: int, start: Any) -> None:
    store = _open(server)
    start.wait()
    for batch in _rows_of(writer):
        store.write(T, batch)
    store.close()


def test_two_processes_the_newest_row_always_wins(clean_redis: RedisServer) -> None:
    ctx = multiprocessing.get_context("fork")
    start = ctx.Event()
    procs = [
        ctx.Process(target=_writer, args=(clean_redis.connection_string, w, start)) for w in (0, 1)
    ]
    for p in procs:
        p.start()
    reader = _open(clean_redis.connection_string)
    keys = [_key(k) for k in range(KEYS)]
    seen = [-1] * KEYS
    start.set()
    reads = 0
    while any(p.is_alive() for p in procs) or reads == 0:
        (rows,) = reader.read([(T, keys)])
        for k, row in enumerate(rows):
            if row is not None:
                assert row[0] >= seen[k], f"key {k} went back from ts {seen[k]} to {row[0]}"
                seen[k] = row[0]
        reads += 1
    for p in procs:
        p.join(60)
    assert [p.exitcode for p in procs] == [0, 0]

    newest: dict[bytes, tuple[int, bytes]] = {}  # event times are unique per key
    for writer in (0, 1):
        for batch in _rows_of(writer):
            for key, ts, _, payload in batch:
                if key not in newest or ts > newest[key][0]:
                    newest[key] = (ts, payload)
    (rows,) = reader.read([(T, keys)])
    assert rows == [newest.get(key) for key in keys]
    assert max(seen) == ROUNDS * 2 - 1
    reader.close()
