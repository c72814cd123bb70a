"""Reading an iterator ahead on a background thread, a bounded number of items at a time.

Materialization reads the engine's batches while it writes the previous ones: DuckDB (and
Spark's collection) run without holding the GIL, so the pull of batch ``n + 1`` overlaps the
encoding and the online write of batch ``n``. At most ``depth`` items wait in between, so
memory stays bounded; an error raised by the source comes out of the consuming loop, and a
consumer that stops early (or fails) stops the reader and closes the source.

Example:
    >>> with prefetched(iter(range(5)), depth=2) as items:
    ...     list(items)
    [0, 1, 2, 3, 4]
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

__all__ = ["prefetched"]

T = TypeVar("T")

_POLL_S = 0.05
"""How often a reader blocked on a full queue checks whether the consumer has stopped."""


class _End:
    """Put after the last item; holds the source's error when it failed."""

    def __init__(self, error: BaseException | None = None) -> None:
        self.error = error


def _read(source: Iterator[Any], out: queue.Queue[Any], stop: threading.Event) -> None:
    end = _End()
    try:
        for item in source:
            while not stop.is_set():
                try:
                    out.put(item, timeout=_POLL_S)
                    break
                except queue.Full:
                    continue
            if stop.is_set():
                break
    except BaseException as exc:  # handed to the consumer, which raises it
        end = _End(exc)
    finally:
        close = getattr(source, "close", None)
        if close is not None:
            try:
                close()  # a generator's cleanup (e.g. closing a cursor) runs on its thread
            except Exception as exc:
                if end.error is None:
                    end = _End(exc)
    while not stop.is_set():
        try:
            out.put(end, timeout=_POLL_S)
            return
        except queue.Full:
            continue


def _drain(items: queue.Queue[Any]) -> Iterator[Any]:
    while True:
        item = items.get()
        if isinstance(item, _End):
            if item.error is not None:
                raise item.error
            return
        yield item


@contextmanager
def prefetched(source: Iterator[T], depth: int = 2) -> Iterator[Iterator[T]]:
    """The items of ``source``, read ahead by a background thread (at most ``depth`` waiting).

    Leaving the block stops the reader and waits for it, so ``source`` is closed when this
    returns, whether the items were all consumed or not.
    """
    items: queue.Queue[Any] = queue.Queue(maxsize=max(1, depth))
    stop = threading.Event()
    reader = threading.Thread(
        target=_read, args=(source, items, stop), name="skewless-prefetch", daemon=True
    )
    reader.start()
    try:
        yield _drain(items)
    finally:
        stop.set()
        reader.join()
