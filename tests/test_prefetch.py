"""The read-ahead of materialization: order, errors, early stops and bounded memory."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from skewless._prefetch import prefetched


def test_items_come_in_order() -> None:
    with prefetched(iter(range(1000)), depth=3) as items:
        assert list(items) == list(range(1000))


def test_a_source_error_comes_out_of_the_loop_after_the_items_before_it() -> None:
    def source() -> Iterator[int]:
        yield 1
        yield 2
        raise ValueError("the engine failed")

    seen = []
    with pytest.raises(ValueError, match="the engine failed"), prefetched(source()) as items:
        for item in items:
            seen.append(item)
    assert seen == [1, 2]


def test_stopping_early_closes_the_source_on_leaving() -> None:
    closed = threading.Event()

    def source() -> Iterator[int]:
        try:
            yield from range(10**9)
        finally:
            closed.set()

    with prefetched(source(), depth=2) as items:
        assert next(items) == 0
    assert closed.is_set()


def test_a_consumer_error_stops_the_reader() -> None:
    closed = threading.Event()

    def source() -> Iterator[int]:
        try:
            yield from range(10**9)
        finally:
            closed.set()

    with pytest.raises(RuntimeError), prefetched(source()) as items:
        for _ in items:
            raise RuntimeError("the write failed")
    assert closed.is_set()


def test_the_reader_runs_at_most_depth_items_ahead() -> None:
    produced = []
    release = threading.Event()

    def source() -> Iterator[int]:
        for i in range(100):
            produced.append(i)
            yield i

    with prefetched(source(), depth=2) as items:
        assert next(items) == 0
        release.wait(0.2)
        # one item taken, two waiting, one held by the reader blocked on the full queue
        assert len(produced) <= 4
        assert list(items) == list(range(1, 100))
