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
from hypothesis import given, settings
from hypothesis import strategies as st
from offline_data import T0
from offline_engines import EngineFactory
from reference import RefAggregation, RefView, window_aggregates
from window_streams import close, values

from skewless import Entity, Field, FileSource
from skewless._contracts import ViewRequest
from skewless.definitions import Aggregation, BatchFeatureView
from skewless.types import Float64, Int64, String

US_UTC = pa.timestamp("us", tz="UTC")
FUNCTIONS = ("count", "count_distinct", "sum", "mean", "min", "max", "std", "last")
WINDOWS = [None, timedelta(minutes=2), timedelta(minutes=4), timedelta(minutes=3, microseconds=1)]
COLUMNS = {"amount": Float64, "qty": Int64, "cat": String}


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
aggregations = st.lists(
    st.tuples(
        st.sampled_from(FUNCTIONS), st.sampled_from(sorted(COLUMNS)), st.sampled_from(WINDOWS)
    ).filter(lambda a: a[1] != "cat" or a[0] in ("count", "count_distinct", "last")),
    min_size=1,
    max_size=6,
    unique=True,
)


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


@settings(max_examples=60)
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
    picked: list[tuple[str, str, timedelta | None]],
    with_event_id: bool,
    created: bool,
) -> None:
    if not rows:
        rows = [{"user_id": None, "region": "a", "ts": None, "file": 0}]
        rows[0].update(created=None, amount=None, qty=None, cat=None, eid=None)
    if not created:
        rows = [{**r, "created": None} for r in rows]
    aggs = [
        Aggregation(column=c, function=f, time_window=w, name=f"f{i}")
        for i, (f, c, w) in enumerate(picked)
    ]
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
    spec = [RefAggregation(a.function, a.column, a.time_window, a.name) for a in aggs]
    seen: list[dict[str, list[Any]]] = []
    expected = window_aggregates(tagged, ref, spec, "eid" if with_event_id else None, seen)
    for row, want, held in zip(got.to_pylist(), expected, seen, strict=True):
        for agg in aggs:
            assert close(agg.function, row[agg.name], want[agg.name], held[agg.name]), (
                agg,
                row,
                want,
            )
