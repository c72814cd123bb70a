"""Window aggregations online: rebuilding and merging each key's window state.

Materialization streams each touched key's events from the offline engine and *rebuilds* the
key's :class:`~skewless.online.window_state.WindowState` as of the range's end, replacing the
stored one (events a push added after that end are kept). A push merges its events into the
stored state, dropping re-delivered events by ``event_id``. Both run through
:meth:`OnlineStore.update <skewless._contracts.OnlineStore.update>`, so a concurrent writer of
the same key never loses an update. The rules are docs/semantics.md, "Window aggregations".
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from datetime import timedelta

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from skewless._contracts import OnlineStore, StoredRow
from skewless.definitions import BatchFeatureView
from skewless.offline.entity import UTC_MICROS
from skewless.offline.query import CREATED_TS, EVENT_ID, EVENT_TS
from skewless.online.codec import encode_key_columns
from skewless.online.window_state import NO_CREATED, Events, StateLayout, WindowState

__all__ = [
    "KEYS_PER_UPDATE",
    "batch_events",
    "events_by_key",
    "group_by_key",
    "merge_events",
    "rebuild_states",
    "state_ttl",
]

KEYS_PER_UPDATE = 5_000
"""Keys read, merged and written in one atomic store update."""


def state_ttl(view: BatchFeatureView) -> timedelta | None:
    """How long a stored state stays useful: the longest window (None with a lifetime
    aggregation). A store that expires keys by it changes no value read: past that time every
    windowed value of the key is that of a key without events."""
    layout = StateLayout.of(view)
    if layout.lifetime or layout.max_window is None:
        return None
    return timedelta(microseconds=layout.max_window)


def _micros(column: pa.ChunkedArray | pa.Array) -> np.ndarray:
    return np.asarray(column.cast(UTC_MICROS).cast(pa.int64()).to_numpy(), dtype=np.int64)


def batch_events(layout: StateLayout, table: pa.Table | pa.RecordBatch) -> Events:
    """All rows of ``table`` as one :class:`Events` (columns as :func:`events_by_key` reads)."""
    names = table.schema.names
    ts = _micros(table.column(names.index(EVENT_TS)))
    created_us = table.column(names.index(CREATED_TS)).cast(UTC_MICROS).cast(pa.int64())
    created = np.asarray(pc.fill_null(created_us, NO_CREATED).to_numpy(), dtype=np.int64)
    ids = table.column(names.index(EVENT_ID)).to_pylist() if layout.has_ids else None
    numeric = {}
    for name, is_int in layout.numeric.items():
        column = table.column(names.index(name))
        valid = np.asarray(column.is_valid().to_numpy(zero_copy_only=False), dtype=np.bool_)
        kind = pa.int64() if is_int else pa.float64()
        values = pc.fill_null(column.cast(kind), 0).to_numpy(zero_copy_only=False)
        numeric[name] = (np.asarray(values, dtype=np.int64 if is_int else np.float64), valid)
    other = {name: table.column(names.index(name)).to_pylist() for name in layout.other}
    return Events(ts.astype(np.int64), created, ids, numeric, other)


def events_by_key(
    layout: StateLayout, keys: tuple[str, ...], batches: Iterable[pa.RecordBatch]
) -> Iterator[list[tuple[bytes, Events]]]:
    """Per batch, each key's events, from batches ordered by key (a key may span batches: it
    is handed out once, whole, with the batch where it ends)."""
    carry: tuple[bytes, Events] | None = None
    for batch in batches:
        if not batch.num_rows:
            continue
        encoded = encode_key_columns([batch.column(k) for k in keys])
        events = batch_events(layout, batch)
        marks = np.array(encoded, dtype=object)
        cuts = np.flatnonzero(marks[1:] != marks[:-1]) + 1
        bounds = [0, *cuts.tolist(), batch.num_rows]
        out: list[tuple[bytes, Events]] = []
        for start, stop in itertools.pairwise(bounds):
            key = encoded[start]
            assert key is not None  # the engine drops null keys
            part = events.slice(start, stop)
            if carry is not None:
                if carry[0] == key:
                    part = carry[1].concat(part)
                else:
                    out.append(carry)
                carry = None
            if stop == batch.num_rows:
                carry = (key, part)
            else:
                out.append((key, part))
        if out:
            yield out
    if carry is not None:
        yield [carry]


def rebuild_states(
    online: OnlineStore,
    table: str,
    layout: StateLayout,
    end_us: int,
    keyed: list[tuple[bytes, Events]],
) -> int:
    """Replace each key's state by the one rebuilt from its source events up to ``end_us``.

    Events a stored state holds after ``end_us`` (pushed beyond the range) are kept. A stored
    state whose lifetime prefix already reaches past ``end_us`` is left alone: rebuilding it
    would lose the events folded into that prefix. Returns the keys written.
    """
    written = 0
    for start in range(0, len(keyed), KEYS_PER_UPDATE):
        chunk = keyed[start : start + KEYS_PER_UPDATE]
        fresh = [
            WindowState.empty(layout, end_us).merge(events, as_of=end_us, dedupe=False)
            for _, events in chunk
        ]

        def merge(
            stored: list[StoredRow | None], fresh: list[WindowState] = fresh
        ) -> list[StoredRow | None]:
            out: list[StoredRow | None] = []
            for row, state in zip(stored, fresh, strict=True):
                if row is not None and row[0] > end_us:
                    old = WindowState.decode(layout, row[1])
                    if layout.lifetime and layout.horizon(old.as_of) > end_us:
                        out.append(None)
                        continue
                    later = int(np.searchsorted(old.events.ts, end_us, side="right"))
                    tail = old.events.slice(later, len(old.events))
                    state = state.merge(tail, as_of=old.as_of)
                out.append((state.as_of, state.encode()))
            return out

        online.update(table, [key for key, _ in chunk], merge)
        written += len(chunk)
    return written


def group_by_key(
    layout: StateLayout, keys: tuple[str, ...], table: pa.Table
) -> list[tuple[bytes, Events]]:
    """The rows of ``table`` (any order) as each key's events, rows of a key in table order."""
    encoded = encode_key_columns([table.column(k) for k in keys])
    rows: dict[bytes, list[int]] = {}
    for i, key in enumerate(encoded):
        if key is not None:
            rows.setdefault(key, []).append(i)
    events = batch_events(layout, table)
    return [(key, events.take(np.array(index, dtype=np.int64))) for key, index in rows.items()]


def merge_events(
    online: OnlineStore, table: str, layout: StateLayout, keyed: list[tuple[bytes, Events]]
) -> None:
    """Add pushed events to each key's stored state (a key without one starts empty)."""
    for start in range(0, len(keyed), KEYS_PER_UPDATE):
        chunk = keyed[start : start + KEYS_PER_UPDATE]

        def merge(
            stored: list[StoredRow | None], chunk: list[tuple[bytes, Events]] = chunk
        ) -> list[StoredRow | None]:
            out: list[StoredRow | None] = []
            for row, (_, events) in zip(stored, chunk, strict=True):
                if row is None:
                    base = WindowState.empty(layout, int(events.ts.min()))
                else:
                    base = WindowState.decode(layout, row[1])
                state = base.merge(events)
                out.append((state.as_of, state.encode()))
            return out

        online.update(table, [key for key, _ in chunk], merge)
