"""What the Redis online store adds to the shared contract: its configuration, key layout, one
round trip per read, the write script's life on the server, errors, key expiry.

The contract itself is tested by ``test_online_store_conformance.py`` (Redis is one of its
backends); every test here runs against a real ``redis-server`` on a loopback port.
"""

from __future__ import annotations

import re
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
import redis
from hypothesis import given, settings
from hypothesis import strategies as st
from redis_server import RedisServer, find_redis_server, free_port

from skewless.config import RedisOnlineConfig
from skewless.errors import ConfigError, OnlineStoreError, SkewlessError
from skewless.online.codec import encode_key
from skewless.online.redis.connection import RedisAddress, parse_connection_string
from skewless.online.redis.store import ROWS_PER_CALL, RedisOnlineStore, pack_value, table_prefix

T = "proj__stats__0123456789ab"
INT64 = st.integers(-(2**63), 2**63 - 1)


def _key(i: int) -> bytes:
    key = encode_key((i,))
    assert key is not None
    return key


def _open(connection_string: str, **kw: object) -> RedisOnlineStore:
    return RedisOnlineStore(
        RedisOnlineConfig(connection_string=connection_string, **kw),  # type: ignore[arg-type]
        Path("."),
    )


@pytest.fixture
def server(clean_redis: RedisServer) -> RedisServer:
    return clean_redis


@pytest.fixture
def raw(server: RedisServer) -> redis.Redis:
    client = redis.Redis(host=server.host, port=server.port)
    yield client
    client.close()


# -- configuration -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("localhost:6379", RedisAddress("localhost", 6379)),
        ("10.0.0.5", RedisAddress("10.0.0.5", 6379)),
        (" c:7000 , db=3 ,password=p=w,ssl=TRUE ", RedisAddress("c", 7000, 3, None, "p=w", True)),
        ("h:1,username=app,password=x,ssl=false,", RedisAddress("h", 1, 0, "app", "x", False)),
        ("[::1]:6380,db=1", RedisAddress("::1", 6380, 1)),
        ("redis://u:p%40ss@h:6390/2", RedisAddress("h", 6390, 2, "u", "p@ss", False)),
        ("rediss://h", RedisAddress("h", 6379, 0, None, None, True)),
    ],
)  # fmt: skip
def test_connection_strings(text: str, expected: RedisAddress) -> None:
    assert parse_connection_string(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("localhost:port", "port must be a whole number"),
        ("localhost:0", "port must be a whole number from 1 to 65535"),
        (":6379", "no host"),
        ("h:1,db=x", "db must be a whole number"),
        ("h:1,ssl=maybe", "ssl='maybe' is not true or false"),
        ("h:1,timeout=3", "unknown option 'timeout'"),
        ("h:1,db", "is name=value"),
        ("http://h:1", "only redis:// and rediss://"),
    ],
)
def test_bad_connection_strings_name_the_problem(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        _open(text)


def test_negative_expiry_margin_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="key_ttl_seconds is -1"):
        _open("localhost:6379", key_ttl_seconds=-1)


@pytest.mark.parametrize(
    "text", ["h:1,password=hunter2,db=x", "redis://u:hunter2@h:1/x", "h:1,PASSWORD=hunter2,x=1"]
)
def test_the_password_never_appears_in_messages(text: str) -> None:
    assert parse_connection_string("h:1,password=hunter2").where == "h:1"
    with pytest.raises(ConfigError) as info:
        parse_connection_string(text)
    assert "hunter2" not in str(info.value) and "***" in str(info.value)


# -- errors --------------------------------------------------------------------------------


def test_unreachable_server_fails_on_first_use_naming_host_and_port() -> None:
    port = free_port()
    store = _open(f"127.0.0.1:{port}")  # no connection yet: constructing never fails
    for use in (
        lambda: store.read([(T, [_key(1)])]),
        lambda: store.write(T, [(_key(1), 1, None, b"[]")]),
        lambda: store.drop([T]),
        store.ping,
    ):
        with pytest.raises(OnlineStoreError) as info:
            use()
        message = str(info.value)
        assert f"127.0.0.1:{port}" in message
        assert "connection_string" in message and "start redis-server" in message
        assert isinstance(info.value, SkewlessError)
        assert info.value.__cause__ is None  # no raw redis exception chained for the user
    store.close()


def test_a_wrong_password_is_reported_as_such() -> None:
    if find_redis_server() is None:
        pytest.skip("redis-server is not installed")
    with RedisServer(args=("--requirepass", "right")) as server:
        store = _open(f"{server.connection_string},password=wrong")
        with pytest.raises(OnlineStoreError, match=r"refused the credentials.*password="):
            store.read([(T, [_key(1)])])
        store.close()
        anonymous = _open(server.connection_string)
        with pytest.raises(OnlineStoreError, match=r"password="):
            anonymous.write(T, [(_key(1), 1, None, b"[1]")])
        anonymous.close()
        good = _open(f"{server.connection_string},password=right")
        assert good.write(T, [(_key(1), 1, None, b"[1]")]) == 1
        assert good.read([(T, [_key(1)])]) == [[(1, b"[1]")]]
        good.close()


def test_a_restarted_server_is_reconnected_and_the_script_reloaded() -> None:
    if find_redis_server() is None:
        pytest.skip("redis-server is not installed")
    server = RedisServer().start()
    port = server.port
    store = _open(server.connection_string)
    try:
        store.write(T, [(_key(1), 5, None, b"[5]")])
        server.stop()
        with pytest.raises(OnlineStoreError, match=f"127.0.0.1:{port}"):
            store.write(T, [(_key(1), 6, None, b"[6]")])
        server = RedisServer(port=port).start()  # empty, and without the script
        rows = [(_key(i), 7, None, b"[7]") for i in range(ROWS_PER_CALL * 3)]
        assert store.write(T, rows) == len(rows)  # pooled sockets are stale: reconnects
        assert store.read([(T, [_key(1), _key(ROWS_PER_CALL * 3 - 1)])]) == [
            [(7, b"[7]"), (7, b"[7]")]
        ]
    finally:
        store.close()
        server.stop()


def test_every_stale_connection_is_replaced_after_a_restart() -> None:
    if find_redis_server() is None:
        pytest.skip("redis-server is not installed")
    server = RedisServer().start()
    port = server.port
    store = _open(server.connection_string)
    try:
        store.write(T, [(_key(1), 5, None, b"[5]")])
        held = [store._connection() for _ in range(4)]  # four connections, all opened
        for conn in held:
            conn.connect()
            store._idle.append(conn)
        server.stop()
        server = RedisServer(port=port).start()  # every idle connection is now stale
        store.write(T, [(_key(1), 6, None, b"[6]")])
        for _ in range(8):  # each stale connection is used in turn: every read succeeds
            assert store.read([(T, [_key(1)])]) == [[(6, b"[6]")]]
    finally:
        store.close()
        server.stop()


def test_reads_from_many_threads_get_their_own_answers(server: RedisServer) -> None:
    store = _open(server.connection_string)
    store.write(T, [(_key(i), i, None, f"[{i}]".encode()) for i in range(64)])
    failures: list[str] = []

    def reader(n: int) -> None:
        for round_ in range(150):
            keys = [(n * 7 + round_ + j) % 64 for j in range(1 + round_ % 5)]
            got = store.read([(T, [_key(k) for k in keys])])
            if got != [[(k, f"[{k}]".encode()) for k in keys]]:
                failures.append(f"thread {n} round {round_}: {got}")

    threads = [threading.Thread(target=reader, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not failures, failures[:3]
    store.close()


def test_close_disconnects_and_the_store_reconnects(server: RedisServer, raw: redis.Redis) -> None:
    def clients() -> int:
        return len(raw.client_list())  # includes the raw client itself

    baseline = clients()
    store = _open(server.connection_string)
    store.write(T, [(_key(1), 1, None, b"[1]")])
    assert store.read([(T, [_key(1)])]) == [[(1, b"[1]")]]
    assert clients() > baseline
    store.close()
    deadline = time.monotonic() + 5
    while clients() > baseline and time.monotonic() < deadline:
        time.sleep(0.01)
    assert clients() == baseline
    assert store.read([(T, [_key(1)])]) == [[(1, b"[1]")]]
    store.close()


def test_a_flushed_script_is_loaded_again_and_rows_keep_their_order(
    server: RedisServer, raw: redis.Redis
) -> None:
    store = _open(server.connection_string)
    store.write(T, [(_key(0), 1, None, b"[0]")])
    raw.script_flush()
    # Ties across script calls: the last row of each key must still win.
    rows = [(_key(i % 7), 10, 3, f"[{i}]".encode()) for i in range(ROWS_PER_CALL * 2 + 11)]
    store.write(T, rows)
    last = {r[0]: r for r in rows}
    (got,) = store.read([(T, [_key(k) for k in range(7)])])
    assert got == [(10, last[_key(k)][3]) for k in range(7)]
    store.close()


def test_server_errors_become_online_store_errors(server: RedisServer, raw: redis.Redis) -> None:
    store = _open(server.connection_string)
    raw.lpush(table_prefix(T) + _key(1), b"not a string")  # a key of the wrong type
    with pytest.raises(OnlineStoreError, match=r"answered an error while writing 1 row\(s\)"):
        store.write(T, [(_key(1), 1, None, b"[1]")])
    assert store.read([(T, [_key(1)])]) == [[None]]  # MGET answers nil for other types
    store.close()


# -- layout and round trips ----------------------------------------------------------------


def test_keys_and_values_layout(server: RedisServer, raw: redis.Redis) -> None:
    store = _open(server.connection_string)
    store.write(T, [(_key(1), 1_700_000_000_000_000, None, b"[1]"), (_key(2), -1, 7, b"[2]")])
    assert sorted(raw.keys("*")) == sorted(
        [b"sk:" + T.encode() + b":" + _key(1), b"sk:" + T.encode() + b":" + _key(2)]
    )
    value = raw.get(b"sk:" + T.encode() + b":" + _key(2))
    header = (2**63 - 1).to_bytes(8, "big") + b"\x01" + (2**63 + 7).to_bytes(8, "big")
    assert value == header + b"[2]"
    store.close()


@settings(max_examples=200)
@given(a=st.tuples(INT64, st.none() | INT64), b=st.tuples(INT64, st.none() | INT64))
def test_value_headers_sort_like_ts_then_created(a: tuple, b: tuple) -> None:
    def rank(row: tuple) -> tuple:
        return (row[0], (0, 0) if row[1] is None else (1, row[1]))

    ha, hb = pack_value(*a, b"")[:17], pack_value(*b, b"")[:17]
    assert (ha < hb) == (rank(a) < rank(b)) and (ha == hb) == (rank(a) == rank(b))


def _calls(raw: redis.Redis, command: str) -> int:
    stats = raw.info("commandstats").get(f"cmdstat_{command}", {})
    return int(stats.get("calls", 0))


def test_a_read_of_many_tables_is_one_mget(server: RedisServer, raw: redis.Redis) -> None:
    store = _open(server.connection_string)
    for table in ("a", "b", "c"):
        store.write(table, [(_key(i), i, None, f"[{table}{i}]".encode()) for i in range(50)])
    raw.config_resetstat()
    got = store.read([("a", [_key(1), _key(99)]), ("b", [_key(2)]), ("c", []), ("d", [_key(1)])])
    assert got == [[(1, b"[a1]"), None], [(2, b"[b2]")], [], [None]]
    assert _calls(raw, "mget") == 1
    assert _calls(raw, "get") == 0
    store.close()


def test_a_big_write_is_few_script_calls(server: RedisServer, raw: redis.Redis) -> None:
    store = _open(server.connection_string)
    store.write(T, [(_key(0), 0, None, b"[]")])  # loads the script
    raw.config_resetstat()
    store.write(T, [(_key(i), 1, None, b"[]") for i in range(ROWS_PER_CALL * 4)])
    assert _calls(raw, "evalsha") == 4
    assert _calls(raw, "set") == ROWS_PER_CALL * 4  # run inside the script
    store.close()


def test_drop_removes_only_its_tables_keys(server: RedisServer, raw: redis.Redis) -> None:
    store = _open(server.connection_string)
    tables = ["t", "t2", "t:x", "t*", "t\\", "t[1]", "x"]
    for table in tables:
        store.write(table, [(_key(i), 1, None, b"[]") for i in range(1_500)])
    raw.set(b"unrelated", b"1")
    store.drop(["t", "t*", "t[1]", "never"])
    assert raw.dbsize() == 4 * 1_500 + 1
    got = store.read([(table, [_key(0), _key(1_499)]) for table in tables])
    present = {table: rows[0] is not None for table, rows in zip(tables, got, strict=True)}
    assert present == {
        "t": False, "t2": True, "t:x": True, "t*": False, "t\\": True, "t[1]": False, "x": True
    }  # fmt: skip
    store.close()


# -- key expiry (docs/semantics.md "Redis key expiry") ------------------------------------------


def _now_us() -> int:
    return int(time.time() * 1_000_000)


def test_keys_expire_at_event_time_plus_ttl_plus_margin(
    server: RedisServer, raw: redis.Redis
) -> None:
    store = _open(server.connection_string, key_ttl_seconds=60.5)
    store.set_table_ttl(T, timedelta(hours=1))
    assert store.table_ttls == {T: 3600.0}
    ts = _now_us() - 10_000_001  # not a whole millisecond: the expiry rounds up
    store.write(T, [(_key(1), ts, None, b"[1]")])
    key = table_prefix(T) + _key(1)
    expected_ms = -(-(ts + 3_600_000_000 + 60_500_000) // 1000)
    assert raw.execute_command("PEXPIRETIME", key) == expected_ms

    store.write(T, [(_key(1), ts - 5, None, b"[older]")])  # rejected: the expiry stays
    assert raw.execute_command("PEXPIRETIME", key) == expected_ms
    store.write(T, [(_key(1), ts + 1_000_000, None, b"[newer]")])  # replaces: later expiry
    assert raw.execute_command("PEXPIRETIME", key) == expected_ms + 1_000
    assert store.read([(T, [_key(1)])]) == [[(ts + 1_000_000, b"[newer]")]]
    store.close()


def test_a_write_already_past_its_expiry_is_skipped(server: RedisServer, raw: redis.Redis) -> None:
    store = _open(server.connection_string, key_ttl_seconds=0)
    store.set_table_ttl(T, 60)
    old = _now_us() - 61_000_000
    fresh = _now_us()
    assert store.write(T, [(_key(1), old, None, b"[old]"), (_key(2), fresh, None, b"[new]")]) == 2
    assert store.read([(T, [_key(1), _key(2)])]) == [[None, (fresh, b"[new]")]]
    assert raw.dbsize() == 1
    store.close()


def test_keys_really_expire(server: RedisServer) -> None:
    store = _open(server.connection_string, key_ttl_seconds=0)
    store.set_table_ttl(T, 1)
    ts = _now_us() - 700_000  # expires about 0.3 s from now
    store.write(T, [(_key(1), ts, None, b"[1]")])
    assert store.read([(T, [_key(1)])]) == [[(ts, b"[1]")]]
    time.sleep(0.5)
    assert store.read([(T, [_key(1)])]) == [[None]]
    store.close()


@pytest.mark.parametrize(("margin", "ttl"), [(None, 60), (30, None), (30, 0), (30, timedelta(0))])
def test_no_expiry_without_a_margin_or_a_bounded_ttl(
    server: RedisServer, raw: redis.Redis, margin: float | None, ttl: object
) -> None:
    store = _open(server.connection_string, key_ttl_seconds=margin)
    store.set_table_ttl(T, ttl)  # type: ignore[arg-type]
    store.write(T, [(_key(1), 0, None, b"[1]")])  # 1970: would be long expired
    assert store.read([(T, [_key(1)])]) == [[(0, b"[1]")]]
    assert raw.execute_command("PEXPIRETIME", table_prefix(T) + _key(1)) == -1
    store.close()


def test_an_unexpiring_write_clears_an_old_expiry(server: RedisServer, raw: redis.Redis) -> None:
    with_expiry = _open(server.connection_string, key_ttl_seconds=10)
    with_expiry.set_table_ttl(T, 10)
    ts = _now_us()
    with_expiry.write(T, [(_key(1), ts, None, b"[1]")])
    without = _open(server.connection_string)
    without.write(T, [(_key(1), ts + 1, None, b"[2]")])
    assert raw.execute_command("PEXPIRETIME", table_prefix(T) + _key(1)) == -1
    with_expiry.close()
    without.close()
