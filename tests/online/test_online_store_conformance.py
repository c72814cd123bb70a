"""The OnlineStore contract, run against every backend in ``conftest.BACKENDS``.

Rows are ``(key, ts, created, payload)``; a write replaces a stored row only when its
``(ts, created)`` is >= the stored pair, a null created ranking lowest and a full tie going to
the later write (docs/semantics.md "Materialization").
"""

from __future__ import annotations

import itertools
import multiprocessing
import random
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from skewless._contracts import OnlineRow, OnlineStore
from skewless.online.codec import encode_key

T = "proj__stats__0123456789ab"


def _rank(created: int | None) -> tuple[int, int]:
    return (0, 0) if created is None else (1, created)


def reference(writes: list[OnlineRow]) -> dict[bytes, tuple[int, bytes]]:
    """The monotonic rule, applied one write at a time."""
    state: dict[bytes, OnlineRow] = {}
    for row in writes:
        key, ts, created, _ = row
        old = state.get(key)
        if old is None or (ts, _rank(created)) >= (old[1], _rank(old[2])):
            state[key] = row
    return {k: (r[1], r[3]) for k, r in state.items()}


def _key(i: int) -> bytes:
    key = encode_key((i,))
    assert key is not None
    return key


def _read_all(store: OnlineStore, table: str, keys: list[bytes]) -> dict[bytes, tuple[int, bytes]]:
    (rows,) = store.read([(table, keys)])
    return {k: r for k, r in zip(keys, rows, strict=True) if r is not None}


# -- round trips ---------------------------------------------------------------------------


def test_rows_round_trip_byte_exact(store: OnlineStore) -> None:
    rows = [
        (_key(1), 10, None, b"[1]"),
        (b"\x02eu\x00\xff", -5, 3, bytes(range(256))),
        (b"\x03", 2**62, 2**62, b"!" + b"x" * 10_000),
    ]
    assert store.write(T, rows) == 3
    keys = [r[0] for r in rows]
    assert store.read([(T, keys)]) == [[(r[1], r[3]) for r in rows]]


def test_read_answers_every_lookup_in_order_with_duplicates(store: OnlineStore) -> None:
    store.write(T, [(_key(i), i, None, f"[{i}]".encode()) for i in range(5)])
    store.write("other", [(_key(1), 7, None, b"[7]")])
    got = store.read(
        [
            (T, [_key(3), _key(9), _key(3), _key(0)]),
            ("missing", [_key(1)]),
            ("other", [_key(1), _key(2)]),
            (T, []),
        ]
    )
    assert got == [
        [(3, b"[3]"), None, (3, b"[3]"), (0, b"[0]")],
        [None],
        [(7, b"[7]"), None],
        [],
    ]


def test_a_single_key_read_and_a_missing_table(store: OnlineStore) -> None:
    assert store.read([("missing", [_key(1)])]) == [[None]]
    store.write(T, [(_key(1), 1, None, b"[1]")])
    assert store.read([(T, [_key(1)])]) == [[(1, b"[1]")]]
    assert store.read([(T, [_key(2)])]) == [[None]]


def test_many_keys_in_one_read(store: OnlineStore) -> None:
    n = 40_000
    store.write(T, [(_key(i), i, None, b"[]") for i in range(0, n, 2)])
    keys = [_key(i) for i in range(n)]
    (rows,) = store.read([(T, keys)])
    assert [r is not None for r in rows] == [i % 2 == 0 for i in range(n)]
    assert rows[10] == (10, b"[]")


def test_table_names_are_quoted(store: OnlineStore) -> None:
    odd = 'p__v"; DROP TABLE x; --__abc'
    store.write(odd, [(_key(1), 1, None, b"[1]")])
    assert store.read([(odd, [_key(1)])]) == [[(1, b"[1]")]]


# -- the monotonic rule --------------------------------------------------------------------


def test_an_older_row_never_replaces_a_newer_one(store: OnlineStore) -> None:
    store.write(T, [(_key(1), 20, None, b"[new]")])
    store.write(T, [(_key(1), 10, 99, b"[old]")])
    assert _read_all(store, T, [_key(1)]) == {_key(1): (20, b"[new]")}


def test_equal_ts_and_created_later_write_wins(store: OnlineStore) -> None:
    store.write(T, [(_key(1), 10, 5, b"[a]")])
    store.write(T, [(_key(1), 10, 5, b"[b]")])
    assert _read_all(store, T, [_key(1)]) == {_key(1): (10, b"[b]")}
    store.write(T, [(_key(1), 10, 5, b"[c]"), (_key(1), 10, 5, b"[d]")])
    assert _read_all(store, T, [_key(1)]) == {_key(1): (10, b"[d]")}


def test_in_a_big_batch_the_last_row_of_a_key_wins_ties(store: OnlineStore) -> None:
    rows = [(_key(i % 100), 10, 5, f"[{i}]".encode()) for i in range(3_000)]
    store.write(T, rows)
    got = _read_all(store, T, [_key(k) for k in range(100)])
    assert got == {_key(k): (10, f"[{2_900 + k}]".encode()) for k in range(100)}


def test_null_created_ranks_lowest(store: OnlineStore) -> None:
    k = _key(1)
    store.write(T, [(k, 10, None, b"[none]")])
    store.write(T, [(k, 10, -(2**62), b"[low]")])  # any created beats a null one
    assert _read_all(store, T, [k]) == {k: (10, b"[low]")}
    store.write(T, [(k, 10, None, b"[none again]")])
    assert _read_all(store, T, [k]) == {k: (10, b"[low]")}
    store.write(T, [(_key(2), 10, None, b"[x]")])
    store.write(T, [(_key(2), 10, None, b"[y]")])  # both null: a full tie, later wins
    assert _read_all(store, T, [_key(2)]) == {_key(2): (10, b"[y]")}


def test_a_later_ts_wins_whatever_the_created_times(store: OnlineStore) -> None:
    store.write(T, [(_key(1), 10, 1000, b"[a]")])
    store.write(T, [(_key(1), 11, None, b"[b]")])
    assert _read_all(store, T, [_key(1)]) == {_key(1): (11, b"[b]")}


_tables = itertools.count()
_writes = st.lists(
    st.tuples(
        st.integers(0, 3),
        st.integers(0, 3),
        st.one_of(st.none(), st.integers(0, 2)),
    ),
    max_size=40,
)


@settings(max_examples=60)
@given(writes=_writes, cuts=st.lists(st.integers(0, 40), max_size=4))
def test_monotonic_rule_matches_the_reference(backend: Any, writes: list, cuts: list) -> None:
    rows = [(_key(k), ts, c, f"[{i}]".encode()) for i, (k, ts, c) in enumerate(writes)]
    table = f"t{next(_tables)}"  # a fresh table per example
    store = backend.open()
    try:
        bounds = sorted({0, len(rows), *[min(c, len(rows)) for c in cuts]})
        for lo, hi in itertools.pairwise(bounds):
            store.write(table, rows[lo:hi])
        keys = [_key(i) for i in range(4)]
        assert _read_all(store, table, keys) == reference(rows)
    finally:
        store.close()


def _contending_batches(seed: int, n_keys: int = 50) -> list[list[OnlineRow]]:
    """Batches of rows whose payload is a function of (key, ts, created), so ties agree."""
    rnd = random.Random(seed)
    batches = []
    for _ in range(20):
        batch = []
        for k in rnd.sample(range(n_keys), 20):
            ts, c = rnd.randint(0, 30), rnd.choice([None, *range(5)])
            batch.append((_key(k), ts, c, f"[{k},{ts},{c}]".encode()))
        batches.append(batch)
    return batches


def _expected(all_batches: list[list[list[OnlineRow]]]) -> dict[bytes, tuple[int, bytes]]:
    best: dict[bytes, OnlineRow] = {}
    for batches in all_batches:
        for batch in batches:
            for row in batch:
                old = best.get(row[0])
                if old is None or (row[1], _rank(row[2])) > (old[1], _rank(old[2])):
                    best[row[0]] = row
    return {k: (r[1], r[3]) for k, r in best.items()}


def test_concurrent_writers_in_threads_keep_the_greatest_row(backend: Any) -> None:
    work = [_contending_batches(seed) for seed in (1, 2)]
    start = threading.Barrier(2)
    errors: list[BaseException] = []

    def run(batches: list[list[OnlineRow]]) -> None:
        store = backend.open()
        try:
            start.wait()
            for batch in batches:
                store.write(T, batch)
        except BaseException as exc:  # surfaced in the main thread below
            errors.append(exc)
        finally:
            store.close()

    threads = [threading.Thread(target=run, args=(b,)) for b in work]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    reader = backend.open()
    assert _read_all(reader, T, [_key(k) for k in range(50)]) == _expected(work)
    reader.close()


def test_one_store_shared_by_threads(store: OnlineStore) -> None:
    work = [_contending_batches(seed) for seed in (3, 4, 5)]
    threads = [
        threading.Thread(target=lambda b=b: [store.write(T, batch) for batch in b]) for b in work
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert _read_all(store, T, [_key(k) for k in range(50)]) == _expected(work)


def _write_in_child(backend: Any, seed: int) -> None:
    store = backend.open()
    for batch in _contending_batches(seed):
        store.write(T, batch)
    store.close()


def test_concurrent_writers_in_processes_keep_the_greatest_row(backend: Any) -> None:
    parent = backend.open()
    parent.write(T, [(_key(0), -1, None, b"[seed]")])  # the parent has an open connection
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_write_in_child, args=(backend, seed)) for seed in (11, 12)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert [p.exitcode for p in procs] == [0, 0]
    work = [[[(_key(0), -1, None, b"[seed]")]]] + [_contending_batches(s) for s in (11, 12)]
    assert _read_all(parent, T, [_key(k) for k in range(50)]) == _expected(work)
    parent.close()


# -- atomicity, drop, other instances ------------------------------------------------------


def test_a_failing_write_leaves_nothing(store: OnlineStore) -> None:
    store.write(T, [(_key(1), 1, None, b"[before]")])

    def rows() -> Iterator[OnlineRow]:
        yield (_key(1), 5, None, b"[after]")
        yield (_key(2), 5, None, b"[after]")
        raise RuntimeError("source broke")

    with pytest.raises(RuntimeError, match="source broke"):
        store.write(T, rows())
    assert _read_all(store, T, [_key(1), _key(2)]) == {_key(1): (1, b"[before]")}

    def first_rows() -> Iterator[OnlineRow]:
        yield (_key(1), 5, None, b"[x]")
        raise RuntimeError("again")

    with pytest.raises(RuntimeError):
        store.write("fresh_table", first_rows())
    assert store.read([("fresh_table", [_key(1)])]) == [[None]]


def test_drop_removes_tables_and_ignores_missing_ones(store: OnlineStore) -> None:
    store.write(T, [(_key(1), 1, None, b"[1]")])
    store.write("keep", [(_key(1), 1, None, b"[k]")])
    store.drop([T, "never_written"])
    assert store.read([(T, [_key(1)]), ("keep", [_key(1)])]) == [[None], [(1, b"[k]")]]
    store.write(T, [(_key(1), 0, None, b"[again]")])  # an older row: the old one is gone
    assert store.read([(T, [_key(1)])]) == [[(0, b"[again]")]]


def test_other_instances_see_writes_and_drops(backend: Any) -> None:
    a, b = backend.open(), backend.open()
    try:
        assert a.read([(T, [_key(1)])]) == [[None]]
        b.write(T, [(_key(1), 1, None, b"[1]")])
        assert a.read([(T, [_key(1)])]) == [[(1, b"[1]")]]
        assert a.read([(T, [_key(1), _key(2)])]) == [[(1, b"[1]"), None]]
        a.write(T, [(_key(2), 1, None, b"[2]")])
        b.drop([T])
        assert a.read([(T, [_key(1)])]) == [[None]]
        assert a.read([(T, [_key(1), _key(2)])]) == [[None, None]]
        a.write(T, [(_key(3), 1, None, b"[3]")])  # a knew the table: it is created again
        assert b.read([(T, [_key(3), _key(1)])]) == [[(1, b"[3]"), None]]
    finally:
        a.close()
        b.close()


def test_close_then_use_again(store: OnlineStore) -> None:
    store.write(T, [(_key(1), 1, None, b"[1]")])
    store.close()
    assert store.read([(T, [_key(1)])]) == [[(1, b"[1]")]]


def test_a_streamed_write_counts_the_rows_offered(store: OnlineStore) -> None:
    rows = ((_key(i), i, None, b"[%d]" % i) for i in range(2_500))
    assert store.write(T, rows) == 2_500
    assert store.write(T, iter([])) == 0
    assert _read_all(store, T, [_key(0), _key(2_499)]) == {
        _key(0): (0, b"[0]"),
        _key(2_499): (2_499, b"[2499]"),
    }
