"""Online window aggregations == offline == the brute-force reference, on random event streams.

Materialization (one run, or a run and then a second over a later range) and pushes (with
re-delivery) build each key's window state; reads at several ``now`` at or after the last
materialized time must equal the reference evaluated at ``now`` and the offline retrieval at
``now``, within docs/semantics.md's tolerances.
"""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from hypothesis import example, given, settings
from hypothesis import strategies as st
from reference import RefAggregation, RefView, window_aggregates
from window_streams import COLUMNS, aggregation_specs, close, make_aggregations, values

from skewless import Entity, FeatureStore, Field, FileSource, PushSource
from skewless.config import RepoConfig
from skewless.definitions import Aggregation, BatchFeatureView

T0 = datetime(2024, 3, 1, tzinfo=UTC)
US_UTC = pa.timestamp("us", tz="UTC")
WINDOWS = [None, timedelta(minutes=2), timedelta(minutes=4), timedelta(minutes=3, microseconds=1)]
KEYS = [(u, r) for u in (1, 2, 3) for r in ("a", "b")]
STEPS = [timedelta(0), timedelta(microseconds=1), timedelta(minutes=2), timedelta(minutes=5)]


def _time(minute: int, micro: int) -> datetime:
    return T0 + timedelta(minutes=minute, microseconds=micro)


times = st.builds(_time, st.sampled_from([0, 1, 2, 3, 4, 6]), st.sampled_from([0, 0, 0, 1, -1]))
source_rows = st.lists(
    st.fixed_dictionaries(
        {
            "user_id": st.sampled_from([1, 1, 1, 2, 2, 3]),
            "region": st.sampled_from(["a", "a", "b"]),
            "ts": times,
            "created": st.one_of(st.none(), st.sampled_from([T0, T0 + timedelta(minutes=1)])),
            **values,
            "eid": st.one_of(st.none(), st.integers(0, 6)),
            "file": st.integers(0, 1),
        }
    ),
    min_size=1,
    max_size=40,
)
aggregations = aggregation_specs(WINDOWS)


def _table(rows: list[dict[str, Any]], with_created: bool = True, with_id: bool = True) -> pa.Table:
    columns = {
        "user_id": pa.array([r["user_id"] for r in rows], pa.int64()),
        "region": pa.array([r["region"] for r in rows], pa.string()),
        "ts": pa.array([r["ts"] for r in rows], US_UTC),
        "amount": pa.array([r["amount"] for r in rows], pa.float64()),
        "qty": pa.array([r["qty"] for r in rows], pa.int64()),
        "cat": pa.array([r["cat"] for r in rows], pa.string()),
    }
    if with_id:
        columns["eid"] = pa.array([r["eid"] for r in rows], pa.int64())
    if with_created:
        columns["created"] = pa.array([r["created"] for r in rows], US_UTC)
    return pa.table(columns)


def _write(root: Path, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows in two files; returns them in source order (file, then row)."""
    (root / "events").mkdir(parents=True, exist_ok=True)
    ordered = []
    for part in range(2):
        chunk = [r for r in rows if r["file"] == part]
        if chunk or not part:
            pq.write_table(_table(chunk), root / "events" / f"part-{part}.parquet")
        ordered += chunk
    return ordered


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def _store(root: Path, clock: Clock, online: dict[str, Any] | None = None) -> FeatureStore:
    config = RepoConfig(
        project="w",
        registry={"path": str(root / "registry.db")},
        online_store=online or {"type": "sqlite", "path": str(root / "online.db")},
        repo_path=root,
    )
    return FeatureStore(config=config, clock=clock)


ENTITIES = [
    Entity(name="user", join_keys=["user_id"]),
    Entity(name="r", join_keys=["region"]),
]


def _check(
    store: FeatureStore,
    clock: Clock,
    view: BatchFeatureView,
    aggs: list[Aggregation],
    reference_rows: list[dict[str, Any]],
    event_id: str | None,
    nows: list[datetime],
) -> None:
    """At each ``now``: online == offline, and online == the reference over ``reference_rows``
    (the source rows in source order)."""
    refs = [f"{view.name}:{a.name}" for a in aggs]
    entity_rows = [{"user_id": u, "region": r} for u, r in KEYS]
    spec = [RefAggregation(a.function, a.column, a.time_window, a.name, a.threshold) for a in aggs]
    ref = RefView("tx", ("user_id", "region"), tuple(COLUMNS), None, reference_rows)
    for now in nows:
        clock.now = now
        online = store.get_online_features(refs, entity_rows).to_dict()
        frame = pa.table(
            {
                "user_id": pa.array([u for u, _ in KEYS], pa.int64()),
                "region": pa.array([r for _, r in KEYS], pa.string()),
                "event_timestamp": pa.array([now] * len(KEYS), US_UTC),
            }
        )
        offline = store.get_historical_features(frame, refs).to_arrow().to_pylist()
        seen: list[dict[str, list[Any]]] = []
        tagged = [{**e, "event_timestamp": now} for e in entity_rows]
        expected = window_aggregates(tagged, ref, spec, event_id, seen)
        for i, row in enumerate(offline):
            for agg in aggs:
                got, held = online[agg.name][i], seen[i][agg.name]
                want, exact = row[agg.name], expected[i][agg.name]
                assert close(agg.function, got, want, held), (now, KEYS[i], agg, got, want)
                assert close(agg.function, got, exact, held), (now, KEYS[i], agg, got, exact)


def _event(user: int, region: str, minute: int, amount: float, eid: int, file: int) -> dict:
    row = {"user_id": user, "region": region, "ts": _time(minute, 0), "created": None}
    return row | {"amount": amount, "qty": None, "cat": None, "eid": eid, "file": file}


# One event id under several keys, in the files and in pushes, re-delivered: each key counts
# its own event once (docs/semantics.md "Window aggregations").
SHARED_IDS = [
    _event(1, "a", 0, 1.0, 7, 0),
    _event(2, "a", 1, 2.0, 7, 0),
    _event(1, "a", 2, 4.0, 7, 1),  # a correction of (1, a)'s event 7: it wins by time
    _event(1, "b", 3, 8.0, 7, 1),
    _event(3, "b", 4, 16.0, 7, 1),
]
SHARED_SPECS = [
    ("count", "amount", None, 0.0),
    ("sum", "amount", None, 0.0),
    ("last", "amount", timedelta(minutes=4), 0.0),
]


@settings(max_examples=40, deadline=None)
@example(
    rows=SHARED_IDS, picked=SHARED_SPECS, with_event_id=True, created=False, split=2,
    after=STEPS[0],
)  # fmt: skip
@given(
    rows=source_rows,
    picked=aggregations,
    with_event_id=st.booleans(),
    created=st.booleans(),
    split=st.sampled_from([None, 1, 2, 3, 5]),
    after=st.sampled_from(STEPS),
)
def test_materialized_windows_match_offline_and_the_reference(
    rows: list[dict[str, Any]],
    picked: list[tuple[str, str, timedelta | None, float]],
    with_event_id: bool,
    created: bool,
    split: int | None,
    after: timedelta,
) -> None:
    if not created:
        rows = [{**r, "created": None} for r in rows]
    aggs = make_aggregations(picked)
    view = BatchFeatureView(
        name="tx",
        entities=ENTITIES,
        source=FileSource(
            path="events",
            timestamp_field="ts",
            created_timestamp_column="created" if created else "",
        ),
        schema=[Field(name=n, dtype=t) for n, t in COLUMNS.items()],
        aggregations=aggs,
        event_id="eid" if with_event_id else "",
    )
    end = max(r["ts"] for r in rows) + after
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        ordered = _write(root, rows)
        clock = Clock(end)
        store = _store(root, clock)
        try:
            store.apply([*ENTITIES, view])
            if split is None:
                store.materialize(T0 - timedelta(days=1), end)
            else:
                middle = T0 + timedelta(minutes=split)
                store.materialize(T0 - timedelta(days=1), min(middle, end))
                store.materialize_incremental(end)
            nows = [end + step for step in STEPS]
            _check(store, clock, view, aggs, ordered, "eid" if with_event_id else None, nows)
        finally:
            store.close()


@settings(max_examples=25, deadline=None)
@example(rows=SHARED_IDS, picked=SHARED_SPECS, with_event_id=True, chunks=2, redeliver=True)
@given(
    rows=source_rows,
    picked=aggregations,
    with_event_id=st.booleans(),
    chunks=st.integers(1, 3),
    redeliver=st.booleans(),
)
def test_pushed_windows_match_offline(
    rows: list[dict[str, Any]],
    picked: list[tuple[str, str, timedelta | None, float]],
    with_event_id: bool,
    chunks: int,
    redeliver: bool,
) -> None:
    """Rows in files are materialized, the rest pushed online and offline (a chunk perhaps
    twice): the online values equal the offline ones at every later ``now``."""
    push_scenario(rows, picked, with_event_id, chunks, redeliver)


def push_scenario(
    rows: list[dict[str, Any]],
    picked: list[tuple[str, str, timedelta | None, float]],
    with_event_id: bool,
    chunks: int,
    redeliver: bool,
    online: dict[str, Any] | None = None,
) -> None:
    """Materialize the rows of file 0, push the others in ``chunks`` (the first one again
    when ``redeliver``), then compare online with offline at several ``now``."""
    # Event ids name one event of one key; the same id under another key is another event,
    # and a re-delivered chunk repeats ids (under several keys).
    rows = [{**r, "created": None} for r in rows]
    if with_event_id:
        rows = [
            {**r, "eid": 10_000 + i if r["eid"] is None else r["eid"]} for i, r in enumerate(rows)
        ]
    aggs = make_aggregations(picked)
    stored = [r for r in rows if r["file"] == 0]
    pushed = [r for r in rows if r["file"] == 1]
    view = BatchFeatureView(
        name="tx",
        entities=ENTITIES,
        source=PushSource(
            name="tx_push",
            batch_source=FileSource(path="events", timestamp_field="ts"),
        ),
        schema=[Field(name=n, dtype=t) for n, t in COLUMNS.items()],
        aggregations=aggs,
        event_id="eid" if with_event_id else "",
    )
    first_end = max((r["ts"] for r in stored), default=T0)
    end = max(r["ts"] for r in rows)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "events").mkdir()
        pq.write_table(_table(stored, with_created=False), root / "events" / "part-0.parquet")
        clock = Clock(end)
        store = _store(root, clock, online)
        try:
            store.apply([*ENTITIES, view])
            store.materialize(T0 - timedelta(days=1), first_end)
            size = max(1, -(-len(pushed) // chunks))
            parts = [pushed[i : i + size] for i in range(0, len(pushed), size)]
            if redeliver and with_event_id and parts:
                parts.append(parts[0])
            for part in parts:
                frame = _table(part, with_created=False, with_id=with_event_id)
                store.push("tx_push", frame, to="online_and_offline")
            nows = [end + step for step in STEPS]
            ordered = stored + [r for part in parts for r in part]
            event_id = "eid" if with_event_id else None
            _check(store, clock, view, aggs, ordered, event_id, nows)
        finally:
            store.close()
