"""Engines against the reference of docs/semantics.md, on random data full of ties.

Times sit on a coarse grid (plus a microsecond now and then), so equal event timestamps,
equal created timestamps, full ties across files and rows exactly on a TTL boundary are
common. Keys are compound, with nulls in either part, and values are often null. Sources are
Parquet (UTC, naive, nanosecond and Tokyo-zoned times) or CSV (times written naive, with
``Z`` or with an offset), with or without a created-timestamp column; entity frames carry
their times in any of those types (docs/semantics.md "Time, keys, TTL").
"""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
from hypothesis import given, settings
from hypothesis import strategies as st
from offline_data import T0, make_view, request
from offline_engines import EngineFactory
from reference import RefView, latest_per_key, point_in_time

from skewless.types import Int64, String

US_UTC = pa.timestamp("us", tz="UTC")
TIME_TYPES = [US_UTC, pa.timestamp("us"), pa.timestamp("ns"), pa.timestamp("ns", tz="Asia/Tokyo")]
TTLS = [None, timedelta(minutes=2), timedelta(minutes=4), timedelta(minutes=2, microseconds=1)]


def _times(minutes: list[int]) -> st.SearchStrategy[Any]:
    return st.builds(
        lambda m, us: T0 + timedelta(minutes=m, microseconds=us),
        st.sampled_from(minutes),
        st.sampled_from([0, 0, 0, 0, 0, 1, -1]),
    )


times = _times([0, 2, 4])  # few distinct values: ties are common
entity_times = _times([0, 2, 4, 6, 8])
source_rows = st.lists(
    st.fixed_dictionaries(
        {
            "user_id": st.sampled_from([1, 1, 1, 2, 2, None]),
            "region": st.sampled_from(["a", "a", "b", None]),
            "ts": st.one_of(times, times, times, times, st.none()),
            "created": st.one_of(st.none(), st.sampled_from([T0, T0 + timedelta(minutes=1)])),
            "score": st.one_of(st.none(), st.integers(-3, 3)),
            "label": st.one_of(st.none(), st.sampled_from(["x", "y", "z"])),
            "file": st.integers(0, 2),
        }
    ),
    min_size=8,
    max_size=40,
)
entity_rows = st.lists(
    st.fixed_dictionaries(
        {
            "user_id": st.sampled_from([1, 1, 1, 2, 2, 3, None]),
            "region": st.sampled_from(["a", "a", "b", None]),
            "event_timestamp": entity_times,
        }
    ),
    min_size=1,
    max_size=20,
)
# Entity rows placed on a TTL boundary of a source row: (row index, microseconds past it).
probes = st.lists(st.tuples(st.integers(0, 39), st.sampled_from([0, 1, -1])), max_size=6)


def _probe_rows(rows: list[dict], ttl: timedelta | None, found: list[tuple[int, int]]) -> list:
    out = []
    for index, micros in found:
        if index < len(rows) and rows[index]["ts"] is not None:
            row = rows[index]
            t = row["ts"] + (ttl or timedelta(0)) + timedelta(microseconds=micros)
            out.append({"user_id": row["user_id"], "region": row["region"], "event_timestamp": t})
    return out


CSV_FORMS = ["naive", "naive-space", "Z", "+09:00", "-05:30"]
"""How a CSV file writes its times: naive (read as UTC), with ``Z``, or with an offset."""


def _csv_time(value: datetime | None, form: str) -> str | None:
    if value is None:
        return None
    if form.startswith(("+", "-")):
        hours, minutes = int(form[1:3]), int(form[4:6])
        offset = timedelta(hours=hours, minutes=minutes) * (1 if form[0] == "+" else -1)
        return value.astimezone(timezone(offset)).isoformat()
    naive = value.astimezone(UTC).replace(tzinfo=None)
    text = naive.isoformat(sep=" " if form == "naive-space" else "T")
    return text + "Z" if form == "Z" else text


def _write_source(
    root: Path,
    name: str,
    rows: list[dict],
    ts_type: pa.DataType,
    created: bool = True,
    csv_form: str | None = None,
) -> list[dict]:
    """Write rows into up to three files; return them in source order (file, then row).

    With ``csv_form`` the files are CSV with times written that way; without ``created``
    they have no created column (and the returned rows none either).
    """
    ordered = []
    for part in range(3):
        chunk = [r for r in rows if r["file"] == part]
        if not chunk and part:
            continue
        columns: dict[str, pa.Array] = {
            "user_id": pa.array([r["user_id"] for r in chunk], pa.int64()),
            "region": pa.array([r["region"] for r in chunk], pa.string()),
        }
        for column in ("ts", "created") if created else ("ts",):
            values = [r[column] for r in chunk]
            if csv_form is None:
                kind = ts_type if column == "ts" else US_UTC
                columns[column] = pa.array(values, US_UTC).cast(kind)
            else:
                columns[column] = pa.array([_csv_time(v, csv_form) for v in values], pa.string())
        columns["score"] = pa.array([r["score"] for r in chunk], pa.int64())
        columns["label"] = pa.array([r["label"] for r in chunk], pa.string())
        table = pa.table(columns)
        (root / name).mkdir(parents=True, exist_ok=True)
        if csv_form is None:
            pq.write_table(table, root / name / f"part-{part}.parquet")
        else:
            pcsv.write_csv(table, root / name / f"part-{part}.csv")
        ordered += chunk if created else [{**r, "created": None} for r in chunk]
    return ordered


FEATURES = {"score": Int64, "label": String}


@settings(max_examples=80)
@given(
    rows_a=source_rows,
    rows_b=source_rows,
    entities=entity_rows,
    found=probes,
    ttl_a=st.sampled_from(TTLS),
    ttl_b=st.sampled_from(TTLS),
    ts_type=st.sampled_from(TIME_TYPES),
    csv_form=st.one_of(st.none(), st.sampled_from(CSV_FORMS)),
    created_a=st.booleans(),
    created_b=st.booleans(),
    entity_ts_type=st.sampled_from(TIME_TYPES),
    full_names=st.booleans(),
)
def test_historical_matches_the_reference(
    engine_factory: EngineFactory,
    rows_a: list[dict],
    rows_b: list[dict],
    entities: list[dict],
    found: list[tuple[int, int]],
    ttl_a: timedelta | None,
    ttl_b: timedelta | None,
    ts_type: pa.DataType,
    csv_form: str | None,
    created_a: bool,
    created_b: bool,
    entity_ts_type: pa.DataType,
    full_names: bool,
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        ordered_a = _write_source(root, "a", rows_a, ts_type, created_a, csv_form)
        ordered_b = _write_source(root, "b", rows_b, US_UTC, created_b)
        view_a = make_view(
            "va",
            "a",
            keys=("user_id", "region"),
            features=FEATURES,
            ttl=ttl_a,
            created=created_a,
            file_format="csv" if csv_form else "parquet",
        )
        view_b = make_view(
            "vb", "b", keys=("user_id",), features=FEATURES, ttl=ttl_b, created=created_b
        )
        req_b = request(view_b, ["label", "score"], full=True)
        req_a = request(view_a, ["score", "label"], full=full_names)
        entities = entities + _probe_rows(rows_a, ttl_a, found)
        tagged = [{**e, "tag": i} for i, e in enumerate(entities)]
        frame = pa.table(
            {
                "tag": pa.array([e["tag"] for e in tagged], pa.int64()),
                "user_id": pa.array([e["user_id"] for e in tagged], pa.int64()),
                "region": pa.array([e["region"] for e in tagged], pa.string()),
                "event_timestamp": pa.array([e["event_timestamp"] for e in tagged], US_UTC).cast(
                    entity_ts_type
                ),
            }
        )
        engine = engine_factory(root)
        try:
            got = engine.historical(frame, [req_b, req_a]).to_arrow().to_pylist()
        finally:
            engine.close()
    ref_a = RefView("va", ("user_id", "region"), tuple(FEATURES), ttl_a, ordered_a)
    ref_b = RefView("vb", ("user_id",), tuple(FEATURES), ttl_b, ordered_b)
    expected = point_in_time(
        tagged,
        [
            (ref_b, req_b.features, req_b.output_names),
            (ref_a, req_a.features, req_a.output_names),
        ],
    )
    assert got == expected


@settings(max_examples=60)
@given(
    rows=source_rows,
    start=st.one_of(st.none(), times),
    span=st.sampled_from([0, 2, 4, 8, 8]),
    late=st.one_of(st.none(), st.sampled_from([T0 - timedelta(minutes=1), T0])),
    ts_type=st.sampled_from(TIME_TYPES),
    csv_form=st.one_of(st.none(), st.sampled_from(CSV_FORMS)),
    created=st.booleans(),
    batch_rows=st.sampled_from([1, 3, 100_000]),
)
def test_latest_per_key_matches_the_reference(
    engine_factory: EngineFactory,
    rows: list[dict],
    start: Any,
    span: int,
    late: Any,
    ts_type: pa.DataType,
    csv_form: str | None,
    created: bool,
    batch_rows: int,
) -> None:
    end = (start or T0) + timedelta(minutes=span)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        ordered = _write_source(root, "a", rows, ts_type, created, csv_form)
        view = make_view(
            "va",
            "a",
            keys=("user_id", "region"),
            features=FEATURES,
            created=created,
            file_format="csv" if csv_form else "parquet",
        )
        engine = engine_factory(root)
        try:
            batches = list(
                engine.latest_per_key(
                    view, start, end, late_created_after=late, batch_rows=batch_rows
                )
            )
        finally:
            engine.close()
    got = {(r["user_id"], r["region"]): r for b in batches for r in b.to_pylist()}
    assert sum(b.num_rows for b in batches) == len(got)  # one row per key
    ref = RefView("va", ("user_id", "region"), tuple(FEATURES), None, ordered)
    expected = latest_per_key(ref, start, end, late)
    assert set(got) == set(expected)
    for key, row in expected.items():
        created = row.get("created")
        assert got[key] == {
            "user_id": key[0],
            "region": key[1],
            "__event_ts": row["ts"],
            "__created_ts": created,
            "score": row["score"],
            "label": row["label"],
        }
