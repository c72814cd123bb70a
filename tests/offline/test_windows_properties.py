"""Window aggregations against the brute-force reference, on random event streams.

Times sit on a coarse grid (plus a microsecond now and then) so that events fall exactly on
window edges, share timestamps, repeat (duplicates) and share event ids. Keys are compound,
with nulls; values have nulls. Floats are compared with the tolerances of docs/semantics.md.
"""

from __future__ import annotations

import tempfile
from datetime import timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from hypothesis import example, given, settings
from hypothesis import strategies as st
from offline_data import T0
from offline_engines import EngineFactory
from reference import RefAggregation, RefView, window_aggregates
from window_streams import COLUMNS, aggregation_specs, close, make_aggregations, values

from skewless import Entity, Field, FileSource
from skewless._contracts import ViewRequest
from skewless.definitions import BatchFeatureView

US_UTC = pa.timestamp("us", tz="UTC")
WINDOWS = [None, timedelta(minutes=2), timedelta(minutes=4), timedelta(minutes=3, microseconds=1)]


def _times(minutes: list[int]) -> st.SearchStrategy[Any]:
    return st.builds(
        lambda m, us: T0 + timedelta(minutes=m, microseconds=us),
        st.sampled_from(minutes),
        st.sampled_from([0, 0, 0, 0, 1, -1]),
    )


source_rows = st.lists(
    st.fixed_dictionaries(
        {
            "user_id": st.sampled_from([1, 1, 1, 2, 2, None]),
            "region": st.sampled_from(["a", "a", "b"]),
            "ts": st.one_of(_times([0, 1, 2, 3, 4, 6]), st.none()),
            "created": st.one_of(st.none(), st.sampled_from([T0, T0 + timedelta(minutes=1)])),
            **values,
            "eid": st.one_of(st.none(), st.integers(0, 6)),
            "file": st.integers(0, 1),
        }
    ),
    min_size=0,
    max_size=40,
)
entity_rows = st.lists(
    st.fixed_dictionaries(
        {
            "user_id": st.sampled_from([1, 1, 2, 3, None]),
            "region": st.sampled_from(["a", "a", "b"]),
            "event_timestamp": _times([0, 1, 2, 3, 4, 5, 6, 8]),
        }
    ),
    min_size=1,
    max_size=15,
)
aggregations = aggregation_specs(WINDOWS)


def _write(root: Path, rows: list[dict]) -> list[dict]:
    ordered = []
    for part in range(2):
        chunk = [r for r in rows if r["file"] == part]
        if not chunk and part:
            continue
        table = pa.table(
            {
                "user_id": pa.array([r["user_id"] for r in chunk], pa.int64()),
                "region": pa.array([r["region"] for r in chunk], pa.string()),
                "ts": pa.array([r["ts"] for r in chunk], US_UTC),
                "created": pa.array([r["created"] for r in chunk], US_UTC),
                "amount": pa.array([r["amount"] for r in chunk], pa.float64()),
                "qty": pa.array([r["qty"] for r in chunk], pa.int64()),
                "cat": pa.array([r["cat"] for r in chunk], pa.string()),
                "eid": pa.array([r["eid"] for r in chunk], pa.int64()),
            }
        )
        (root / "events").mkdir(parents=True, exist_ok=True)
        pq.write_table(table, root / "events" / f"part-{part}.parquet")
        ordered += chunk
    return ordered


def _event(minute: int, qty: int | None, amount: float | None, eid: int | None = None) -> dict:
    at = T0 + timedelta(minutes=minute)
    row = {"user_id": 1, "region": "a", "ts": at, "created": None, "file": 0}
    return row | {"amount": amount, "qty": qty, "cat": None, "eid": eid}


# share_above where values equal the threshold (not above it), with nulls and window edges.
SHARES = [
    _event(0, -1, 0.5),
    _event(1, 0, None),
    _event(2, 2, 0.5),
    _event(3, None, 3.0),
    _event(4, -1, -2.25),
]
SHARE_SPECS = [
    ("share_above", "qty", None, -1.0),
    ("share_above", "qty", timedelta(minutes=2), 0.0),
    ("share_above", "amount", timedelta(minutes=4), 0.5),
]


@settings(max_examples=60)
@example(
    rows=SHARES,
    entities=[{"user_id": 1, "region": "a", "event_timestamp": T0 + timedelta(minutes=m)}
              for m in (0, 2, 4, 6)],
    picked=SHARE_SPECS,
    with_event_id=False,
    created=False,
)  # fmt: skip
@given(
    rows=source_rows,
    entities=entity_rows,
    picked=aggregations,
    with_event_id=st.booleans(),
    created=st.booleans(),
)
def test_window_aggregations_match_the_reference(
    engine_factory: EngineFactory,
    rows: list[dict],
    entities: list[dict],
    picked: list[tuple[str, str, timedelta | None, float]],
    with_event_id: bool,
    created: bool,
) -> None:
    if not rows:
        rows = [{"user_id": None, "region": "a", "ts": None, "file": 0}]
        rows[0].update(created=None, amount=None, qty=None, cat=None, eid=None)
    if not created:
        rows = [{**r, "created": None} for r in rows]
    aggs = make_aggregations(picked)
    view = BatchFeatureView(
        name="tx",
        entities=[
            Entity(name="user", join_keys=["user_id"]),
            Entity(name="r", join_keys=["region"]),
        ],
        source=FileSource(
            path="events",
            timestamp_field="ts",
            created_timestamp_column="created" if created else "",
        ),
        schema=[Field(name=n, dtype=t) for n, t in COLUMNS.items()],
        aggregations=aggs,
        event_id="eid" if with_event_id else "",
    )
    tagged = [{**e, "tag": i} for i, e in enumerate(entities)]
    frame = pa.table(
        {
            "tag": pa.array([e["tag"] for e in tagged], pa.int64()),
            "user_id": pa.array([e["user_id"] for e in tagged], pa.int64()),
            "region": pa.array([e["region"] for e in tagged], pa.string()),
            "event_timestamp": pa.array([e["event_timestamp"] for e in tagged], US_UTC),
        }
    )
    names = tuple(reversed(view.feature_names))  # request order differs from definition order
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        ordered = _write(root, rows)
        engine = engine_factory(root)
        try:
            got = engine.historical(frame, [ViewRequest(view, names, names)]).to_arrow()
        finally:
            engine.close()
    assert got.column_names == ["tag", "user_id", "region", "event_timestamp", *names]
    assert got.column("tag").to_pylist() == [e["tag"] for e in tagged]
    ref = RefView("tx", ("user_id", "region"), tuple(COLUMNS), None, ordered)
    spec = [RefAggregation(a.function, a.column, a.time_window, a.name, a.threshold) for a in aggs]
    seen: list[dict[str, list[Any]]] = []
    expected = window_aggregates(tagged, ref, spec, "eid" if with_event_id else None, seen)
    for row, want, held in zip(got.to_pylist(), expected, seen, strict=True):
        for agg in aggs:
            assert close(agg.function, row[agg.name], want[agg.name], held[agg.name]), (
                agg,
                row,
                want,
            )
