"""Online state of window-aggregation views: what a read at ``now`` needs, per entity key.

A :class:`~skewless.definitions.BatchFeatureView` is served online from one stored row per
entity key holding a :class:`WindowState`:

* the key's **events** of the longest finite window, ``(as_of - max_window, as_of]``: event
  time, created time and the aggregated columns (and the ``event_id`` when the view has one).
  Every one of them is needed: as ``now`` moves on, each event in turn sits at a window's left
  edge, where only the raw event tells whether it is still inside;
* **tiles**: the events grouped by time bucket, each with a partial aggregate (count, mean,
  M2, min, max, sum) of every numeric column. A read merges the tiles that lie wholly inside
  ``(now - window, now]`` with Chan's parallel formulas and scans raw events only in the two
  edge tiles;
* a **prefix** per column for lifetime aggregations: the partial aggregate of the events older
  than the kept events (count, mean, M2, min, max, sum, the last value, distinct values and
  counts above thresholds as needed).

States are never incremented blindly: materialization rebuilds a key's state from the source
(:func:`build_state`), and a push merges events into it (:meth:`WindowState.merge`), dropping
re-delivered events of the key by ``event_id``. The rules are docs/semantics.md, "Window
aggregations".

Example:
    >>> from datetime import timedelta
    >>> from skewless.definitions import Aggregation, BatchFeatureView, Entity, Field, FileSource
    >>> from skewless.types import Float64
    >>> view = BatchFeatureView(
    ...     name="txn", entities=[Entity(name="user", join_keys=["user_id"])],
    ...     source=FileSource(path="t.parquet"), schema=[Field(name="amount", dtype=Float64)],
    ...     aggregations=[Aggregation(column="amount", function="sum",
    ...                               time_window=timedelta(microseconds=10))])
    >>> layout = StateLayout.of(view)
    >>> events = Events.from_lists(layout, ts=[1, 5, 12], amount=[1.0, 2.0, 4.0])
    >>> state = WindowState.empty(layout, as_of=12).merge(events, as_of=12)
    >>> decoded = WindowState.decode(layout, state.encode())
    >>> decoded.evaluate(view.aggregations, now=12), decoded.evaluate(view.aggregations, now=16)
    ([6.0], [4.0])
"""

from __future__ import annotations

import math
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import orjson

from skewless._types import Bool, DType, Float32, Float64, Int32, Int64, String
from skewless.definitions import Aggregation, BatchFeatureView
from skewless.errors import DefinitionError

__all__ = [
    "NO_CREATED",
    "Events",
    "StateLayout",
    "WindowState",
    "tile_micros",
]

NO_CREATED = -(2**63)
"""The created time of an event without one: below every real created time."""

KEEP_RAW_US = 86_400_000_000
"""With an ``event_id`` and a lifetime aggregation, events of the last day (or of the longest
window, if longer) stay raw: a re-delivery within it counts once in lifetime values too."""

RAW_SCAN_LIMIT = 512
"""Windows spanning at most this many events are computed from the raw events directly
(faster than merging tiles when there are few); wider ones merge tiles."""

_MAGIC = b"W1"
_LEN = struct.Struct(">I")
_NICE_TILES_US = [
    1_000_000 * s
    for s in (1, 10, 60, 5 * 60, 15 * 60, 3600, 6 * 3600, 86_400, 7 * 86_400, 30 * 86_400)
]
_INTS = (Int32, Int64)
_FLOATS = (Float32, Float64)
_OTHER = (String, Bool)


def tile_micros(windows: Sequence[int | None]) -> int:
    """The tile length for a view: about a 24th of its shortest finite window, rounded down
    to 1 s, 10 s, 1 min, 5 min, 15 min, 1 h, 6 h, 1 d, 7 d or 30 d.

    Example:
        >>> tile_micros([7 * 86_400_000_000, None]) // 3_600_000_000  # 7 days: 6-hour tiles
        6
        >>> tile_micros([None]) // 86_400_000_000  # lifetime only: 30-day tiles
        30
    """
    finite = [w for w in windows if w is not None]
    target = min(finite) // 24 if finite else _NICE_TILES_US[-1]
    chosen = _NICE_TILES_US[0]
    for size in _NICE_TILES_US:
        if size <= target:
            chosen = size
    return chosen


@dataclass(frozen=True)
class StateLayout:
    """What a view's state holds: its columns and their kinds, windows and thresholds.

    Attributes:
        numeric: aggregated numeric columns and whether each is an integer column.
        other: aggregated string or bool columns (count, count_distinct and last only).
        max_window: the longest finite window in µs (None when every window is lifetime).
        lifetime: whether any aggregation is over the whole history (a prefix is kept).
        tile_us: the tile length.
        has_ids: whether events carry the view's ``event_id``.
        distinct: columns with a lifetime count_distinct (the prefix keeps their values).
        thresholds: per column, the thresholds of its lifetime share_above aggregations.
        keep_us: with lifetime aggregations and an ``event_id``, how long events stay raw
            (deduplicable) before they are folded into the prefix.
    """

    numeric: Mapping[str, bool]
    other: tuple[str, ...]
    max_window: int | None
    lifetime: bool
    tile_us: int
    has_ids: bool
    distinct: frozenset[str] = frozenset()
    thresholds: Mapping[str, tuple[float, ...]] = field(default_factory=dict)
    keep_us: int = 0

    @classmethod
    def of(cls, view: BatchFeatureView) -> StateLayout:
        """The layout of ``view``'s state.

        Raises:
            DefinitionError: an aggregated column's type cannot be kept online.
        """
        declared = {f.name: f.dtype for f in view.schema}
        numeric: dict[str, bool] = {}
        other: list[str] = []
        for agg in view.aggregations:
            dtype: DType = declared[agg.column]
            if dtype in _INTS or dtype in _FLOATS:
                numeric[agg.column] = dtype in _INTS
            elif dtype in _OTHER:
                if agg.column not in other:
                    other.append(agg.column)
            else:
                raise DefinitionError(
                    f"batch feature view {view.name!r}: aggregation {agg.name!r} reads "
                    f"{agg.column!r} of type {dtype}, which online window state cannot keep "
                    "(numeric, String and Bool columns can be); set online=False on the view"
                )
        windows = [a.window_micros for a in view.aggregations]
        finite = [w for w in windows if w is not None]
        lifetime_aggs = [a for a in view.aggregations if a.time_window is None]
        thresholds: dict[str, tuple[float, ...]] = {}
        for agg in lifetime_aggs:
            if agg.function == "share_above" and agg.threshold is not None:
                thresholds[agg.column] = (*thresholds.get(agg.column, ()), agg.threshold)
        return cls(
            numeric=numeric,
            other=tuple(other),
            max_window=max(finite) if finite else None,
            lifetime=bool(lifetime_aggs),
            tile_us=tile_micros(windows),
            has_ids=bool(view.event_id),
            distinct=frozenset(a.column for a in lifetime_aggs if a.function == "count_distinct"),
            thresholds=thresholds,
            keep_us=KEEP_RAW_US if view.event_id else 0,
        )

    @property
    def columns(self) -> tuple[str, ...]:
        return (*self.numeric, *self.other)

    def horizon(self, as_of: int) -> int:
        """Events at or before this time are folded into the prefix (or dropped).

        Without a lifetime aggregation, events older than the longest window are dropped:
        no read at ``now >= as_of`` can see them. With one, events stay raw for at least
        ``keep_us`` as well, so a re-delivered event is still recognized by its id.
        """
        window = self.max_window or 0
        if self.lifetime:
            window = max(window, self.keep_us)
        return as_of - window


# -- events ---------------------------------------------------------------------------------
@dataclass
class Events:
    """Events of one key, in order (event time, created time, arrival).

    Numeric columns are ``(values, valid)`` arrays (int64 or float64, and a null mask);
    other columns are lists with None for null.
    """

    ts: np.ndarray
    created: np.ndarray
    ids: list[Any] | None
    numeric: dict[str, tuple[np.ndarray, np.ndarray]]
    other: dict[str, list[Any]]

    def __len__(self) -> int:
        return len(self.ts)

    @classmethod
    def empty(cls, layout: StateLayout) -> Events:
        return cls(
            np.empty(0, np.int64),
            np.empty(0, np.int64),
            [] if layout.has_ids else None,
            {
                c: (np.empty(0, np.int64 if is_int else np.float64), np.empty(0, np.bool_))
                for c, is_int in layout.numeric.items()
            },
            {c: [] for c in layout.other},
        )

    @classmethod
    def from_lists(
        cls,
        layout: StateLayout,
        ts: Sequence[int],
        created: Sequence[int | None] | None = None,
        ids: Sequence[Any] | None = None,
        **columns: Sequence[Any],
    ) -> Events:
        """Events from plain lists (None for null), in the given order."""
        n = len(ts)
        made = [NO_CREATED if c is None else c for c in (created or [None] * n)]
        numeric = {}
        for name, is_int in layout.numeric.items():
            raw = list(columns.get(name, [None] * n))
            valid = np.array([v is not None for v in raw], dtype=np.bool_)
            kind = np.int64 if is_int else np.float64
            numeric[name] = (np.array([0 if v is None else v for v in raw], dtype=kind), valid)
        other = {name: list(columns.get(name, [None] * n)) for name in layout.other}
        if layout.has_ids:
            id_list: list[Any] | None = list(ids) if ids is not None else [None] * n
        else:
            id_list = None
        return cls(
            np.asarray(ts, dtype=np.int64),
            np.asarray(made, dtype=np.int64),
            id_list,
            numeric,
            other,
        )

    def take(self, index: np.ndarray) -> Events:
        """The events at ``index`` (an int array), in that order."""
        idx = index.tolist()
        return Events(
            self.ts[index],
            self.created[index],
            None if self.ids is None else [self.ids[i] for i in idx],
            {c: (v[index], ok[index]) for c, (v, ok) in self.numeric.items()},
            {c: [vals[i] for i in idx] for c, vals in self.other.items()},
        )

    def slice(self, start: int, stop: int) -> Events:
        return Events(
            self.ts[start:stop],
            self.created[start:stop],
            None if self.ids is None else self.ids[start:stop],
            {c: (v[start:stop], ok[start:stop]) for c, (v, ok) in self.numeric.items()},
            {c: vals[start:stop] for c, vals in self.other.items()},
        )

    def concat(self, other: Events) -> Events:
        return Events(
            np.concatenate([self.ts, other.ts]),
            np.concatenate([self.created, other.created]),
            None if self.ids is None or other.ids is None else self.ids + other.ids,
            {
                c: (
                    np.concatenate([v, other.numeric[c][0]]),
                    np.concatenate([ok, other.numeric[c][1]]),
                )
                for c, (v, ok) in self.numeric.items()
            },
            {c: vals + other.other[c] for c, vals in self.other.items()},
        )


# -- partial aggregates ---------------------------------------------------------------------
@dataclass
class Partial:
    """Count, mean, M2 (sum of squared deviations), min, max and sum of some numbers."""

    n: int = 0
    mean: float = 0.0
    m2: float = 0.0
    low: Any = None
    high: Any = None
    total: Any = 0

    @classmethod
    def of(cls, x: np.ndarray) -> Partial:
        """The partial of ``x`` (two passes: the mean, then squared deviations from it)."""
        n = len(x)
        if not n:
            return cls()
        as_float = x.astype(np.float64, copy=False)
        mean = float(as_float.mean())
        m2 = float(np.square(as_float - mean).sum()) if n > 1 else 0.0
        total = int(x.sum()) if x.dtype.kind == "i" else float(math.fsum(x.tolist()))
        return cls(n, mean, m2, x.min().item(), x.max().item(), total)

    def merge(self, other: Partial) -> Partial:
        """Chan et al.'s pairwise update: exact counts, stable mean and M2."""
        if not other.n:
            return self
        if not self.n:
            return other
        n = self.n + other.n
        delta = other.mean - self.mean
        mean = self.mean + delta * other.n / n
        m2 = self.m2 + other.m2 + delta * delta * self.n * other.n / n
        return Partial(
            n,
            mean,
            m2,
            min(self.low, other.low),
            max(self.high, other.high),
            self.total + other.total,
        )

    def to_list(self) -> list[Any]:
        return [self.n, self.mean, self.m2, self.low, self.high, self.total]

    @classmethod
    def from_list(cls, items: Sequence[Any]) -> Partial:
        return cls(*items)


def _merge_tiles(
    n: np.ndarray,
    mean: np.ndarray,
    m2: np.ndarray,
    low: np.ndarray,
    high: np.ndarray,
    total: np.ndarray,
) -> Partial:
    """Many tile partials at once: N = Σn, mean = Σ n·mean / N, M2 = Σ M2 + Σ n·(mean_i - mean)²."""
    used = n > 0
    if not used.any():
        return Partial()
    n, mean, m2 = n[used], mean[used], m2[used]
    count = int(n.sum())
    overall = float((n * mean).sum() / count)
    spread = float(m2.sum() + (n * np.square(mean - overall)).sum())
    low_v, high_v, tot = low[used], high[used], total[used]
    summed = int(tot.sum()) if tot.dtype.kind == "i" else float(math.fsum(tot.tolist()))
    return Partial(count, overall, spread, low_v.min().item(), high_v.max().item(), summed)


# -- the state --------------------------------------------------------------------------------
@dataclass
class WindowState:
    """One key's window state as of ``as_of`` (µs): events, tiles and lifetime prefix."""

    layout: StateLayout
    as_of: int
    events: Events
    prefix: dict[str, dict[str, Any]]
    starts: np.ndarray = field(default_factory=lambda: np.zeros(1, np.int64))
    tiles: dict[str, tuple[np.ndarray, ...]] = field(default_factory=dict)
    raw_scan_limit: int = RAW_SCAN_LIMIT

    @classmethod
    def empty(cls, layout: StateLayout, as_of: int) -> WindowState:
        return cls(layout, as_of, Events.empty(layout), {})

    # -- updates ------------------------------------------------------------------------
    def merge(self, new: Events, as_of: int | None = None, *, dedupe: bool = True) -> WindowState:
        """A new state with ``new`` events added (they rank after stored ones on full ties).

        With ``event_id``s, of several events sharing one id the greatest (event time,
        created time, arrival) is kept. ``as_of`` defaults to the later of the state's and
        the newest event's time; events at or before the layout's horizon are folded into
        the lifetime prefix (or dropped when no aggregation is lifetime).
        """
        newest = int(new.ts.max()) if len(new) else self.as_of
        as_of = max(self.as_of, newest, self.as_of if as_of is None else as_of)
        events = self.events.concat(new) if len(self.events) else new
        if len(events) > 1:
            order = np.lexsort((events.created, events.ts))  # stable: arrival breaks ties
            if not np.array_equal(order, np.arange(len(order))):
                events = events.take(order)
            if dedupe and events.ids is not None:
                events = _deduplicate(events)
        horizon = self.layout.horizon(as_of)
        cut = int(np.searchsorted(events.ts, horizon, side="right"))
        prefix = self.prefix
        if cut:
            if self.layout.lifetime:
                prefix = _fold(self.layout, prefix, events.slice(0, cut))
            events = events.slice(cut, len(events))
        state = WindowState(self.layout, as_of, events, prefix)
        state._tile()
        return state

    def _tile(self) -> None:
        ts = self.events.ts
        if not len(ts):
            self.starts = np.zeros(1, np.int64)
            self.tiles = {}
            return
        bucket = ts // self.layout.tile_us
        change = np.flatnonzero(bucket[1:] != bucket[:-1]) + 1
        starts = np.concatenate([[0], change, [len(ts)]]).astype(np.int64)
        self.starts = starts
        heads = starts[:-1]
        tiles = {}
        for name, (values, valid) in self.events.numeric.items():
            tiles[name] = _tile_partials(values, valid, heads)
        self.tiles = tiles

    # -- reads --------------------------------------------------------------------------
    def evaluate(self, aggregations: Sequence[Aggregation], now: int) -> list[Any]:
        """The value of each aggregation over ``(now - window, now]`` (docs/semantics.md).

        Exact for ``now >= as_of``; an earlier ``now`` sees lifetime history up to ``as_of``.
        """
        ts = self.events.ts
        stop = int(np.searchsorted(ts, now, side="right"))
        return [self._value(agg, ts, stop, now) for agg in aggregations]

    def _value(self, agg: Aggregation, ts: np.ndarray, stop: int, now: int) -> Any:
        window = agg.window_micros
        start = 0 if window is None else int(np.searchsorted(ts, now - window, side="right"))
        column, function = agg.column, agg.function
        prefix = self.prefix.get(column) if window is None else None
        if column in self.events.numeric:
            return self._numeric(agg, column, function, start, stop, prefix)
        values = [v for v in self.events.other[column][start:stop] if v is not None]
        if function == "count":
            return len(values) + (prefix["n"] if prefix else 0)
        if function == "count_distinct":
            seen = set(values)
            if prefix:
                seen.update(prefix.get("distinct", ()))
            return len(seen)
        if function == "last":
            if values:
                return values[-1]
            return prefix.get("last") if prefix else None
        raise AssertionError(function)

    def _numeric(
        self,
        agg: Aggregation,
        column: str,
        function: str,
        start: int,
        stop: int,
        prefix: dict[str, Any] | None,
    ) -> Any:
        values, valid = self.events.numeric[column]
        if function == "last":
            hits = np.flatnonzero(valid[start:stop])
            if len(hits):
                return values[start + int(hits[-1])].item()
            return prefix.get("last") if prefix else None
        if function == "count_distinct":
            seen = set(values[start:stop][valid[start:stop]].tolist())
            if prefix:
                seen.update(prefix.get("distinct", ()))
            return len(seen)
        if function == "share_above":
            x = values[start:stop][valid[start:stop]]
            above = int(np.count_nonzero(x > agg.threshold))
            n = len(x)
            if prefix:
                above += prefix.get("above", {}).get(repr(agg.threshold), 0)
                n += prefix["n"]
            return above / n if n else None
        if not prefix and stop - start <= self.raw_scan_limit:
            return _direct(function, values[start:stop][valid[start:stop]])
        part = self._partial(column, start, stop)
        if prefix:
            part = Partial.from_list(prefix["p"]).merge(part)
        if function == "count":
            return part.n
        if not part.n:
            return None
        if function == "sum":
            return part.total
        if function == "mean":
            return part.mean
        if function == "min":
            return part.low
        if function == "max":
            return part.high
        if function == "std":
            return math.sqrt(max(part.m2, 0.0) / (part.n - 1)) if part.n > 1 else None
        raise AssertionError(function)

    def _partial(self, column: str, start: int, stop: int) -> Partial:
        """The partial of the valid values of events ``[start, stop)``: whole tiles merged,
        edge events scanned."""
        values, valid = self.events.numeric[column]
        if stop <= start:
            return Partial()
        starts = self.starts
        first = int(np.searchsorted(starts, start, side="left"))
        last = int(np.searchsorted(starts, stop, side="right")) - 1
        if last <= first:
            return Partial.of(values[start:stop][valid[start:stop]])
        head, tail = int(starts[first]), int(starts[last])
        tiles = self.tiles[column]
        inner = _merge_tiles(*(t[first:last] for t in tiles))
        left = Partial.of(values[start:head][valid[start:head]])
        right = Partial.of(values[tail:stop][valid[tail:stop]])
        return left.merge(inner).merge(right)

    # -- bytes ----------------------------------------------------------------------------
    def encode(self) -> bytes:
        """The state as bytes: a small JSON header, then the arrays."""
        ev = self.events
        header: dict[str, Any] = {"a": self.as_of, "n": len(ev), "m": len(self.starts) - 1}
        if ev.ids is not None:
            header["ids"] = ev.ids
        if ev.other:
            header["o"] = ev.other
        if self.prefix:
            header["p"] = self.prefix
        head = orjson.dumps(header, option=orjson.OPT_SERIALIZE_NUMPY)
        parts = [_MAGIC, _LEN.pack(len(head)), head, ev.ts.tobytes(), ev.created.tobytes()]
        for name in self.layout.numeric:
            values, valid = ev.numeric[name]
            parts += [values.tobytes(), valid.tobytes()]
        parts.append(self.starts.tobytes())
        for name in self.layout.numeric:
            if len(ev):
                parts += [t.tobytes() for t in self.tiles[name]]
        return b"".join(parts)

    @classmethod
    def decode(cls, layout: StateLayout, payload: bytes) -> WindowState:
        """The state :meth:`encode` wrote."""
        if payload[:2] != _MAGIC:
            raise ValueError("not a window state")
        (size,) = _LEN.unpack_from(payload, 2)
        at = 6 + size
        header = orjson.loads(payload[6:at])
        n, m = header["n"], header["m"]
        buf = memoryview(payload)

        def take(kind: Any, count: int) -> np.ndarray:
            nonlocal at
            width = np.dtype(kind).itemsize * count
            out = np.frombuffer(buf[at : at + width], dtype=kind)
            at += width
            return out

        ts, created = take(np.int64, n), take(np.int64, n)
        numeric = {}
        for name, is_int in layout.numeric.items():
            values = take(np.int64 if is_int else np.float64, n)
            numeric[name] = (values, take(np.bool_, n))
        starts = take(np.int64, m + 1)
        tiles: dict[str, tuple[np.ndarray, ...]] = {}
        if n:
            for name, is_int in layout.numeric.items():
                kind = np.int64 if is_int else np.float64
                tiles[name] = (
                    take(np.int64, m),
                    take(np.float64, m),
                    take(np.float64, m),
                    take(kind, m),
                    take(kind, m),
                    take(kind, m),
                )
        other = header.get("o") or {c: [] for c in layout.other}
        events = Events(ts, created, header.get("ids"), numeric, other)
        return cls(layout, header["a"], events, header.get("p") or {}, starts, tiles)


def _direct(function: str, x: np.ndarray) -> Any:
    """``function`` of the valid values ``x`` of a window, computed from them directly."""
    n = len(x)
    if function == "count":
        return n
    if not n:
        return None
    if function == "sum":
        return int(x.sum()) if x.dtype.kind == "i" else float(x.sum())
    if function == "mean":
        return float(x.mean())
    if function == "min":
        return x.min().item()
    if function == "max":
        return x.max().item()
    if function == "std":
        return float(x.std(ddof=1)) if n > 1 else None
    raise AssertionError(function)


def _tile_partials(
    values: np.ndarray, valid: np.ndarray, heads: np.ndarray
) -> tuple[np.ndarray, ...]:
    """Per tile (events ``heads[i]`` up to the next head): n, mean, M2, min, max, sum."""
    as_float = values.astype(np.float64)
    ok = valid.astype(np.int64)
    n = np.add.reduceat(ok, heads)
    safe_n = np.maximum(n, 1)
    masked = np.where(valid, as_float, 0.0)
    mean = np.add.reduceat(masked, heads) / safe_n
    spans = np.diff(np.append(heads, len(values)))
    deviation = np.where(valid, as_float - np.repeat(mean, spans), 0.0)
    m2 = np.add.reduceat(np.square(deviation), heads)
    if values.dtype.kind == "i":
        info = np.iinfo(np.int64)
        low = np.minimum.reduceat(np.where(valid, values, info.max), heads)
        high = np.maximum.reduceat(np.where(valid, values, info.min), heads)
        total = np.add.reduceat(np.where(valid, values, 0), heads)
    else:
        low = np.minimum.reduceat(np.where(valid, values, np.inf), heads)
        high = np.maximum.reduceat(np.where(valid, values, -np.inf), heads)
        total = np.add.reduceat(masked, heads)
    return n.astype(np.int64), mean, m2, low, high, total


def _deduplicate(events: Events) -> Events:
    """Keep, of events sharing an ``event_id``, the last in order (null ids all count)."""
    ids = events.ids
    assert ids is not None
    last: dict[Any, int] = {}
    for i, ident in enumerate(ids):
        if ident is not None:
            last[ident] = i
    if len(last) == sum(1 for i in ids if i is not None):
        return events
    keep = np.array(
        [i for i, ident in enumerate(ids) if ident is None or last[ident] == i], dtype=np.int64
    )
    return events.take(keep)


def _fold(
    layout: StateLayout, prefix: dict[str, dict[str, Any]], old: Events
) -> dict[str, dict[str, Any]]:
    """The lifetime prefix with the events ``old`` (all older than the kept ones) added."""
    out = {name: dict(entry) for name, entry in prefix.items()}
    for name, (values, valid) in old.numeric.items():
        x = values[valid]
        entry = out.setdefault(name, {"n": 0, "p": Partial().to_list()})
        part = Partial.from_list(entry["p"]).merge(Partial.of(x))
        entry["p"] = part.to_list()
        entry["n"] = part.n
        hits = np.flatnonzero(valid)
        if len(hits):
            _set_last(entry, old, int(hits[-1]), values[hits[-1]].item())
        if name in layout.distinct:
            entry["distinct"] = sorted(set(entry.get("distinct", ())) | set(x.tolist()))
        for threshold in layout.thresholds.get(name, ()):
            above = entry.setdefault("above", {})
            key = repr(threshold)
            above[key] = above.get(key, 0) + int(np.count_nonzero(x > threshold))
    for name, column in old.other.items():
        present = [v for v in column if v is not None]
        entry = out.setdefault(name, {"n": 0})
        entry["n"] += len(present)
        if present:
            index = max(i for i, v in enumerate(column) if v is not None)
            _set_last(entry, old, index, column[index])
        if name in layout.distinct:
            entry["distinct"] = sorted(set(entry.get("distinct", ())) | set(present), key=repr)
    return out


def _set_last(entry: dict[str, Any], old: Events, index: int, value: Any) -> None:
    """Keep ``value`` as the prefix's last value unless the stored one ranks later; on a
    full tie of (event time, created time) the newer arrival wins."""
    rank = [int(old.ts[index]), int(old.created[index])]
    if "last_at" not in entry or rank >= entry["last_at"]:
        entry["last"] = value
        entry["last_at"] = rank
