"""One key's window state against a brute-force evaluation, on random event streams.

Events arrive in one to four merges (a materialization then pushes, in any time order); the
state is encoded and decoded between merges; reads run at several ``now`` at or after the
state's time, with windows computed from raw events and with tiles (the path long windows
take), and must equal the brute force within docs/semantics.md's tolerances.
"""

from __future__ import annotations

import itertools
import math
import statistics
from datetime import timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from window_streams import COLUMNS, aggregation_specs, make_aggregations, share_close, values

from skewless import Entity, Field, FileSource
from skewless.definitions import Aggregation, BatchFeatureView
from skewless.online.window_state import Events, StateLayout, WindowState, tile_micros

MINUTE = 60_000_000
WINDOWS = [None, timedelta(minutes=2), timedelta(minutes=7), timedelta(minutes=3, microseconds=1)]

events = st.lists(
    st.fixed_dictionaries(
        {
            "ts": st.builds(
                lambda m, us: m * MINUTE + us,
                st.integers(0, 12),
                st.sampled_from([0, 0, 1, -1, 30_000_000]),
            ),
            "created": st.one_of(st.none(), st.integers(0, 2)),
            **values,
            "eid": st.one_of(st.none(), st.integers(0, 8)),
        }
    ),
    min_size=0,
    max_size=60,
)
specs_strategy = aggregation_specs(WINDOWS)


def _view(
    specs: list[tuple[str, str, timedelta | None, float]], with_ids: bool
) -> BatchFeatureView:
    return BatchFeatureView(
        name="tx",
        entities=[Entity(name="user", join_keys=["user_id"])],
        source=FileSource(path="events", timestamp_field="ts"),
        schema=[Field(name=n, dtype=t) for n, t in COLUMNS.items()],
        aggregations=make_aggregations(specs),
        event_id="eid" if with_ids else "",
    )


def _events(layout: StateLayout, rows: list[dict[str, Any]]) -> Events:
    return Events.from_lists(
        layout,
        ts=[r["ts"] for r in rows],
        created=[r["created"] for r in rows],
        ids=[r["eid"] for r in rows],
        **{c: [r[c] for r in rows] for c in COLUMNS},
    )


def _brute(rows: list[tuple[int, dict[str, Any]]], agg: Aggregation, now: int) -> Any:
    """``agg`` over the rows (arrival index, row) with ``now - w < ts <= now``."""
    window = agg.window_micros
    inside = [
        (i, r) for i, r in rows if r["ts"] <= now and (window is None or r["ts"] > now - window)
    ]
    present = [(i, r) for i, r in inside if r[agg.column] is not None]
    values = [r[agg.column] for _, r in present]
    if agg.function == "count":
        return len(values)
    if agg.function == "count_distinct":
        return len(set(values))
    if not values:
        return None
    if agg.function == "sum":
        return math.fsum(values) if isinstance(values[0], float) else sum(values)
    if agg.function == "mean":
        return math.fsum(values) / len(values)
    if agg.function == "min":
        return min(values)
    if agg.function == "max":
        return max(values)
    if agg.function == "std":
        return statistics.stdev(float(v) for v in values) if len(values) > 1 else None
    if agg.function == "share_above":
        assert agg.threshold is not None
        return sum(1 for v in values if v > agg.threshold) / len(values)
    if agg.function == "last":
        rank = lambda p: (p[1]["ts"], -1 if p[1]["created"] is None else p[1]["created"], p[0])  # noqa: E731
        return max(present, key=rank)[1][agg.column]
    raise AssertionError(agg.function)


def _deduplicated(rows: list[dict[str, Any]]) -> list[tuple[int, dict[str, Any]]]:
    """Of rows sharing an event id, the greatest (ts, created, arrival); null ids all count."""
    numbered = list(enumerate(rows))
    best: dict[Any, tuple[int, dict[str, Any]]] = {}
    rank = lambda p: (p[1]["ts"], -1 if p[1]["created"] is None else p[1]["created"], p[0])  # noqa: E731
    for pair in numbered:
        ident = pair[1]["eid"]
        if ident is not None and (ident not in best or rank(pair) > rank(best[ident])):
            best[ident] = pair
    return [p for p in numbered if p[1]["eid"] is None or best[p[1]["eid"]] is p]


def _close(function: str, got: Any, want: Any, scale: list[float]) -> bool:
    if got is None or want is None:
        return got is None and want is None
    if function == "share_above":
        return share_close(got, want)
    if function in ("sum", "mean", "std"):
        size = max([abs(x) for x in scale], default=0.0)
        return abs(got - want) <= 1e-9 * size * max(len(scale), 1) + 1e-12
    return bool(got == want)


@settings(max_examples=300, deadline=None)
@given(
    rows=events,
    specs=specs_strategy,
    with_ids=st.booleans(),
    cuts=st.lists(st.integers(0, 60), max_size=3),
    later=st.sampled_from([0, 1, MINUTE, 3 * MINUTE, 10 * MINUTE]),
)
def test_state_matches_brute_force(
    rows: list[dict[str, Any]],
    specs: list[tuple[str, str, timedelta | None, float]],
    with_ids: bool,
    cuts: list[int],
    later: int,
) -> None:
    view = _view(specs, with_ids)
    layout = StateLayout.of(view)
    if with_ids:
        assert layout.keep_us >= 12 * MINUTE  # every event here stays deduplicable
    if not with_ids:
        rows = [{**r, "eid": None} for r in rows]
    bounds = sorted({0, len(rows), *(min(c, len(rows)) for c in cuts)})
    state = WindowState.empty(layout, 0)
    for lo, hi in itertools.pairwise(bounds):
        state = state.merge(_events(layout, rows[lo:hi]))
        state = WindowState.decode(layout, state.encode())
    kept = _deduplicated(rows) if with_ids else list(enumerate(rows))
    for now in (state.as_of, state.as_of + later):
        for limit in (0, 512):
            state.raw_scan_limit = limit
            got = state.evaluate(view.aggregations, now)
            for agg, value in zip(view.aggregations, got, strict=True):
                want = _brute(kept, agg, now)
                scale = [
                    float(r[agg.column]) for _, r in kept if isinstance(r[agg.column], int | float)
                ]
                assert _close(agg.function, value, want, scale), (agg, now, limit, value, want)


def test_tiles_follow_the_shortest_window() -> None:
    assert tile_micros([7 * 86_400_000_000, 30 * 86_400_000_000]) == 6 * 3_600_000_000
    assert tile_micros([2 * MINUTE]) == 1_000_000
    assert tile_micros([timedelta(hours=1) // timedelta(microseconds=1)]) == 60_000_000


def test_a_redelivered_event_counts_once_and_a_correction_replaces_it() -> None:
    view = _view(
        [("count", "amount", timedelta(minutes=5), 0.0), ("sum", "amount", None, 0.0)], True
    )
    layout = StateLayout.of(view)
    first = [{"ts": MINUTE, "created": None, "amount": 2.0, "qty": None, "cat": None, "eid": 1}]
    state = WindowState.empty(layout, 0).merge(_events(layout, first))
    state = state.merge(_events(layout, first))  # the same event again
    assert state.evaluate(view.aggregations, 2 * MINUTE) == [1, 2.0]
    fixed = [{**first[0], "amount": 5.0}]  # same time and id, arrives later: it wins
    state = state.merge(_events(layout, fixed))
    assert state.evaluate(view.aggregations, 2 * MINUTE) == [1, 5.0]
