"""Latest row per key (materialization pulls) and max created, on every offline engine."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pyarrow as pa
import pytest
from offline_data import at, make_view, source_types, write_parquet

from skewless._contracts import OfflineEngine
from skewless.errors import TimeRangeError
from skewless.types import Float32, Int32, Int64, String

US_UTC = pa.timestamp("us", tz="UTC")
TYPES = source_types({"user_id": pa.int64()}, {"score": Int64, "label": String})


def latest(engine: OfflineEngine, view, start, end, **kw) -> dict:
    batches = list(engine.latest_per_key(view, start, end, **kw))
    table = pa.Table.from_batches(batches) if batches else None
    rows = table.to_pylist() if table is not None else []
    return {r["user_id"]: r for r in rows}


def test_batches_have_the_contract_layout(engine: OfflineEngine, tmp_path: Path) -> None:
    features = {"ratio": Float32, "score": Int32, "label": String}
    types = source_types({"user_id": pa.int64()}, features)
    types["ratio"] = pa.float64()
    types["score"] = pa.int64()
    write_parquet(
        tmp_path / "s.parquet",
        [{"user_id": 1, "ts": at(0), "created": None, "ratio": 0.5, "score": 2, "label": "a"}],
        types,
    )
    view = make_view("v", "s.parquet", features=features)
    (batch,) = list(engine.latest_per_key(view, at(-1), at(1)))
    assert batch.schema.names == [
        "user_id",
        "__event_ts",
        "__created_ts",
        "ratio",
        "score",
        "label",
    ]
    assert batch.schema.types[1:] == [US_UTC, US_UTC, pa.float32(), pa.int32(), pa.string()]
    assert batch.to_pylist() == [
        {"user_id": 1, "__event_ts": at(0), "__created_ts": None, "ratio": 0.5, "score": 2,
         "label": "a"}
    ]  # fmt: skip


def test_range_is_inclusive_and_the_winner_follows_the_tie_rules(
    engine: OfflineEngine, tmp_path: Path
) -> None:
    write_parquet(
        tmp_path / "s.parquet",
        [
            {"user_id": 1, "ts": at(0), "score": 1},  # == start
            {"user_id": 2, "ts": at(10), "score": 2},  # == end
            {"user_id": 2, "ts": at(10), "created": at(1), "score": 3},  # tie: created wins
            {"user_id": 3, "ts": at(10, micros=1), "score": 4},  # after end
            {"user_id": 4, "ts": at(0, micros=-1), "score": 5},  # before start
            {"user_id": 1, "ts": at(5), "score": None},  # newer, null value stays null
            {"user_id": None, "ts": at(5), "score": 6},  # null key
            {"user_id": 5, "ts": None, "score": 7},  # null ts
        ],
        TYPES,
    )
    view = make_view("v", "s.parquet", ttl=timedelta(minutes=1))
    got = latest(engine, view, at(0), at(10))
    assert {k: (r["__event_ts"], r["score"]) for k, r in got.items()} == {
        1: (at(5), None),
        2: (at(10), 3),
    }
    assert got[2]["__created_ts"] == at(1)


def test_no_start_means_all_history(engine: OfflineEngine, tmp_path: Path) -> None:
    write_parquet(tmp_path / "s.parquet", [{"user_id": 1, "ts": at(-(10**6)), "score": 1}], TYPES)
    view = make_view("v", "s.parquet")
    assert latest(engine, view, None, at(0))[1]["score"] == 1


def test_late_rows_are_candidates_when_created_after_the_mark(
    engine: OfflineEngine, tmp_path: Path
) -> None:
    write_parquet(
        tmp_path / "s.parquet",
        [
            {"user_id": 1, "ts": at(-5), "created": at(20), "score": 1},  # late arrival
            {"user_id": 2, "ts": at(-5), "created": at(3), "score": 2},  # seen before
            {"user_id": 3, "ts": at(-5), "created": None, "score": 3},  # no created
            {"user_id": 1, "ts": at(-6), "created": at(30), "score": 9},  # older ts loses
        ],
        TYPES,
    )
    view = make_view("v", "s.parquet")
    got = latest(engine, view, at(0), at(10), late_created_after=at(5))
    assert {k: r["score"] for k, r in got.items()} == {1: 1}
    assert latest(engine, view, at(0), at(10)) == {}


def test_streams_in_bounded_batches(engine: OfflineEngine, tmp_path: Path) -> None:
    rows = [{"user_id": u, "ts": at(u % 7), "score": u} for u in range(2500)]
    write_parquet(tmp_path / "s.parquet", rows, TYPES)
    view = make_view("v", "s.parquet")
    batches = list(engine.latest_per_key(view, None, at(100), batch_rows=1000))
    assert len(batches) >= 3
    assert all(b.num_rows <= 1000 for b in batches)
    assert sorted(v for b in batches for v in b.column("score").to_pylist()) == list(range(2500))


def test_end_before_start_is_an_error(engine: OfflineEngine, tmp_path: Path) -> None:
    write_parquet(tmp_path / "s.parquet", [], TYPES)
    view = make_view("v", "s.parquet")
    with pytest.raises(TimeRangeError, match="before"):
        engine.latest_per_key(view, at(1), at(0))


def test_max_created_in_range(engine: OfflineEngine, tmp_path: Path) -> None:
    write_parquet(
        tmp_path / "s.parquet",
        [
            {"user_id": 1, "ts": at(0), "created": at(50), "score": 1},
            {"user_id": 1, "ts": at(20), "created": at(90), "score": 1},  # outside the range
            {"user_id": 2, "ts": at(10), "created": at(60), "score": 1},
            {"user_id": 3, "ts": at(5), "created": None, "score": 1},
        ],
        TYPES,
    )
    view = make_view("v", "s.parquet")
    assert engine.max_created(view, at(0), at(10)) == at(60)
    assert engine.max_created(view, None, at(5)) == at(50)
    assert engine.max_created(view, at(4), at(6)) is None
    no_created = make_view("w", "s.parquet", created=False)
    assert engine.max_created(no_created, None, at(100)) is None
