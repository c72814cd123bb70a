"""Point-in-time retrieval, rule by rule (docs/semantics.md), on every offline engine."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from offline_data import (
    at,
    entity_frame,
    make_view,
    request,
    source_types,
    write_parquet,
)

from skewless._contracts import OfflineEngine
from skewless.errors import EntityFrameError
from skewless.types import Float64, Int64, String

US_UTC = pa.timestamp("us", tz="UTC")
USER = {"user_id": pa.int64()}
FEATURES = {"score": Int64, "label": String}
TYPES = source_types(USER, FEATURES)
ENTITY = {"user_id": pa.int64(), "event_timestamp": US_UTC}


def run(engine: OfflineEngine, entities: list[dict[str, Any]], *requests: Any) -> list[dict]:
    frame = entity_frame(entities, ENTITY) if isinstance(entities, list) else entities
    return engine.historical(frame, list(requests)).to_arrow().to_pylist()


def scores(rows: list[dict]) -> list[Any]:
    return [r["score"] for r in rows]


def test_ttl_window_is_inclusive_at_both_ends(engine: OfflineEngine, tmp_path: Path) -> None:
    ttl = timedelta(minutes=10)
    write_parquet(
        tmp_path / "s.parquet",
        [
            {"user_id": 1, "ts": at(0), "score": 1},  # exactly t - ttl for the entity at 10
            {"user_id": 2, "ts": at(0, micros=-1), "score": 2},  # 1 µs too old
            {"user_id": 3, "ts": at(10), "score": 3},  # exactly at the entity time
            {"user_id": 4, "ts": at(10, micros=1), "score": 4},  # 1 µs in the future
        ],
        TYPES,
    )
    view = make_view("v", "s.parquet", ttl=ttl)
    entities = [{"user_id": u, "event_timestamp": at(10)} for u in (1, 2, 3, 4)]
    assert scores(run(engine, entities, request(view))) == [1, None, 3, None]


def test_a_row_after_the_entity_time_is_never_used(engine: OfflineEngine, tmp_path: Path) -> None:
    write_parquet(
        tmp_path / "s.parquet",
        [{"user_id": 1, "ts": at(0), "score": 1}, {"user_id": 1, "ts": at(5), "score": 2}],
        TYPES,
    )
    view = make_view("v", "s.parquet")  # unbounded TTL
    entities = [{"user_id": 1, "event_timestamp": at(m)} for m in (-1, 0, 4, 5, 600)]
    assert scores(run(engine, entities, request(view))) == [None, 1, 1, 2, 2]


@pytest.mark.parametrize("ttl", [None, timedelta(0)])
def test_no_or_zero_ttl_is_unbounded(
    engine: OfflineEngine, tmp_path: Path, ttl: timedelta | None
) -> None:
    write_parquet(tmp_path / "s.parquet", [{"user_id": 1, "ts": at(-(10**6)), "score": 7}], TYPES)
    view = make_view("v", "s.parquet", ttl=ttl)
    assert scores(run(engine, [{"user_id": 1, "event_timestamp": at(0)}], request(view))) == [7]


def test_equal_ts_is_broken_by_created_and_null_created_ranks_lowest(
    engine: OfflineEngine, tmp_path: Path
) -> None:
    write_parquet(
        tmp_path / "s.parquet",
        [
            {"user_id": 1, "ts": at(0), "created": at(5), "score": 1},
            {"user_id": 1, "ts": at(0), "created": at(9), "score": 2},  # latest created wins
            {"user_id": 1, "ts": at(0), "created": at(7), "score": 3},
            {"user_id": 2, "ts": at(0), "created": None, "score": 4},  # later in file, but null
            {"user_id": 2, "ts": at(0), "created": at(-100), "score": 5},
            {"user_id": 2, "ts": at(0), "created": None, "score": 6},
        ],
        TYPES,
    )
    view = make_view("v", "s.parquet")
    entities = [{"user_id": u, "event_timestamp": at(1)} for u in (1, 2)]
    assert scores(run(engine, entities, request(view))) == [2, 5]


def test_created_never_competes_with_the_entity_time(engine: OfflineEngine, tmp_path: Path) -> None:
    # Created long after the entity time: still a candidate, c is only a tie-breaker.
    write_parquet(
        tmp_path / "s.parquet",
        [{"user_id": 1, "ts": at(0), "created": at(10_000), "score": 1}],
        TYPES,
    )
    view = make_view("v", "s.parquet")
    assert scores(run(engine, [{"user_id": 1, "event_timestamp": at(0)}], request(view))) == [1]


def test_full_ties_go_to_the_later_file_then_the_later_row(
    engine: OfflineEngine, tmp_path: Path
) -> None:
    tie = {"ts": at(0), "created": at(1)}
    write_parquet(
        tmp_path / "src" / "b.parquet",
        [{"user_id": 1, **tie, "score": 20}, {"user_id": 2, **tie, "score": 21}],
        TYPES,
    )
    write_parquet(
        tmp_path / "src" / "a.parquet",
        [
            {"user_id": 1, **tie, "score": 10},
            {"user_id": 3, **tie, "score": 30},
            {"user_id": 3, **tie, "score": 31},  # later row in the same file
        ],
        TYPES,
    )
    write_parquet(tmp_path / "src" / "a0.parquet", [{"user_id": 2, **tie, "score": 0}], TYPES)
    view = make_view("v", "src")
    entities = [{"user_id": u, "event_timestamp": at(5)} for u in (1, 2, 3)]
    assert scores(run(engine, entities, request(view))) == [20, 21, 31]


def test_full_ties_without_created_column(engine: OfflineEngine, tmp_path: Path) -> None:
    types = source_types(USER, FEATURES, created=None)
    write_parquet(
        tmp_path / "s.parquet", [{"user_id": 1, "ts": at(0), "score": s} for s in (3, 1, 2)], types
    )
    view = make_view("v", "s.parquet", created=False)
    assert scores(run(engine, [{"user_id": 1, "event_timestamp": at(0)}], request(view))) == [2]


def test_null_value_stays_null_and_features_come_from_one_row(
    engine: OfflineEngine, tmp_path: Path
) -> None:
    write_parquet(
        tmp_path / "s.parquet",
        [
            {"user_id": 1, "ts": at(0), "score": 1, "label": "old"},
            {"user_id": 1, "ts": at(1), "score": None, "label": "new"},
            {"user_id": 2, "ts": at(0), "score": 5, "label": None},
            {"user_id": 2, "ts": at(1), "score": None, "label": None},
        ],
        TYPES,
    )
    view = make_view("v", "s.parquet")
    rows = run(engine, [{"user_id": u, "event_timestamp": at(2)} for u in (1, 2)], request(view))
    assert [(r["score"], r["label"]) for r in rows] == [(None, "new"), (None, None)]


def test_null_keys_match_nothing_and_null_ts_rows_are_ignored(
    engine: OfflineEngine, tmp_path: Path
) -> None:
    write_parquet(
        tmp_path / "s.parquet",
        [
            {"user_id": None, "ts": at(0), "score": 1},
            {"user_id": 2, "ts": at(0), "score": 2},
            {"user_id": 2, "ts": None, "score": 3},  # null ts: ignored
        ],
        TYPES,
    )
    view = make_view("v", "s.parquet")
    rows = run(
        engine,
        [{"user_id": None, "event_timestamp": at(1)}, {"user_id": 2, "event_timestamp": at(1)}],
        request(view),
    )
    assert scores(rows) == [None, 2]


def test_compound_keys_match_on_every_part(engine: OfflineEngine, tmp_path: Path) -> None:
    keys = {"user_id": pa.int64(), "region": pa.string()}
    write_parquet(
        tmp_path / "s.parquet",
        [
            {"user_id": 1, "region": "eu", "ts": at(0), "score": 1},
            {"user_id": 1, "region": "EU", "ts": at(0), "score": 2},
            {"user_id": 2, "region": "eu", "ts": at(0), "score": 3},
            {"user_id": 1, "region": None, "ts": at(0), "score": 4},
        ],
        source_types(keys, FEATURES),
    )
    view = make_view("v", "s.parquet", keys=("user_id", "region"))
    frame = entity_frame(
        [
            {"user_id": 1, "region": "EU", "event_timestamp": at(1)},
            {"user_id": 1, "region": "eu", "event_timestamp": at(1)},
            {"user_id": 2, "region": "EU", "event_timestamp": at(1)},
            {"user_id": 1, "region": None, "event_timestamp": at(1)},
        ],
        {**keys, "event_timestamp": US_UTC},
    )
    assert scores(run(engine, frame, request(view))) == [2, 1, None, None]


def test_entity_order_duplicates_and_pass_through_columns_are_kept(
    engine: OfflineEngine, tmp_path: Path
) -> None:
    write_parquet(
        tmp_path / "s.parquet",
        [{"user_id": u, "ts": at(0), "score": u * 10} for u in range(1, 6)],
        TYPES,
    )
    view = make_view("v", "s.parquet", features={"score": Int64})
    order = [5, 3, 3, 1, 9, 5, 2, 3]
    frame = entity_frame(
        [{"label": f"row{i}", "user_id": u, "event_timestamp": at(1)} for i, u in enumerate(order)],
        {"label": pa.string(), "user_id": pa.int64(), "event_timestamp": US_UTC},
    )
    out = engine.historical(frame, [request(view)]).to_arrow()
    assert out.column_names == ["label", "user_id", "event_timestamp", "score"]
    assert out.column("label").to_pylist() == [f"row{i}" for i in range(len(order))]
    assert out.column("user_id").to_pylist() == order
    assert out.column("score").to_pylist() == [50, 30, 30, 10, None, 50, 20, 30]


@pytest.mark.parametrize(
    ("source_ts", "entity_ts"),
    [
        (pa.timestamp("us"), pa.timestamp("us", tz="UTC")),
        (pa.timestamp("ns"), pa.timestamp("ns")),
        (pa.timestamp("ns", tz="UTC"), pa.timestamp("us", tz="Asia/Tokyo")),
        (pa.timestamp("ms", tz="America/New_York"), pa.timestamp("ns", tz="Europe/Paris")),
        (pa.timestamp("us", tz="Asia/Kolkata"), pa.timestamp("ms")),
    ],
)
def test_naive_aware_and_nanosecond_timestamps_compare_as_utc_micros(
    engine: OfflineEngine, tmp_path: Path, source_ts: pa.DataType, entity_ts: pa.DataType
) -> None:
    def stamp(dt: Any, kind: pa.DataType) -> pa.Array:
        # Naive columns hold UTC wall time; aware columns the instant itself.
        return pa.array([dt], pa.timestamp("us", tz="UTC")).cast(kind)

    ms = 1000 if source_ts.unit == "ms" or entity_ts.unit == "ms" else 1
    source = pa.table(
        {
            "user_id": pa.array([1, 1], pa.int64()),
            "ts": pa.concat_arrays([stamp(at(0), source_ts), stamp(at(0, 2 * ms), source_ts)]),
            "created": pa.array([None, None], US_UTC),
            "score": pa.array([1, 2], pa.int64()),
            "label": pa.array(["a", "b"]),
        }
    )
    pq.write_table(source, tmp_path / "s.parquet")
    view = make_view("v", "s.parquet")
    entity_times = [at(0), at(0, ms), at(0, 2 * ms)]
    frame = pa.table(
        {
            "user_id": pa.array([1, 1, 1], pa.int64()),
            "event_timestamp": pa.concat_arrays([stamp(t, entity_ts) for t in entity_times]),
        }
    )
    out = engine.historical(frame, [request(view)]).to_arrow()
    assert out.schema.field("event_timestamp").type == US_UTC
    assert out.column("event_timestamp").to_pylist() == entity_times
    assert out.column("score").to_pylist() == [1, 1, 2]


def test_nanoseconds_truncate_toward_the_past(engine: OfflineEngine, tmp_path: Path) -> None:
    ns = pa.timestamp("ns", tz="UTC")
    base = int(at(0).timestamp()) * 10**9
    source = pa.table(
        {
            "user_id": pa.array([1, 2], pa.int64()),
            "ts": pa.array([base + 1999, base + 1000], ns),  # both are 1 µs after base
            "created": pa.array([None, None], US_UTC),
            "score": pa.array([1, 2], pa.int64()),
            "label": pa.array(["a", "b"]),
        }
    )
    pq.write_table(source, tmp_path / "s.parquet")
    view = make_view("v", "s.parquet")
    frame = pa.table(
        {
            "user_id": pa.array([1, 2, 1], pa.int64()),
            "event_timestamp": pa.array([base + 1000, base + 1999, base + 999], ns),
        }
    )
    out = engine.historical(frame, [request(view)]).to_arrow()
    assert out.column("score").to_pylist() == [1, 2, None]
    micros = out.column("event_timestamp").cast(pa.int64()).to_pylist()
    assert micros == [base // 1000 + 1, base // 1000 + 1, base // 1000]


def test_several_views_with_their_own_keys_and_ttls(engine: OfflineEngine, tmp_path: Path) -> None:
    write_parquet(
        tmp_path / "users.parquet",
        [{"user_id": 1, "ts": at(0), "score": 1}, {"user_id": 2, "ts": at(0), "score": 2}],
        TYPES,
    )
    item_types = source_types({"item_id": pa.string()}, {"price": Float64, "score": Int64})
    write_parquet(
        tmp_path / "items.parquet",
        [{"item_id": "a", "ts": at(0), "price": 9.5, "score": 100}],
        item_types,
    )
    users = make_view("users", "users.parquet", ttl=timedelta(minutes=5))
    items = make_view(
        "items", "items.parquet", keys=("item_id",), features={"price": Float64, "score": Int64}
    )
    frame = entity_frame(
        [
            {"user_id": 1, "item_id": "a", "event_timestamp": at(5)},
            {"user_id": 2, "item_id": "b", "event_timestamp": at(6)},
        ],
        {"user_id": pa.int64(), "item_id": pa.string(), "event_timestamp": US_UTC},
    )
    out = engine.historical(
        frame, [request(items, ["price", "score"], full=True), request(users, ["score"], full=True)]
    ).to_arrow()
    assert out.column_names[3:] == ["items__price", "items__score", "users__score"]
    assert out.to_pylist() == [
        {"user_id": 1, "item_id": "a", "event_timestamp": at(5), "items__price": 9.5,
         "items__score": 100, "users__score": 1},
        {"user_id": 2, "item_id": "b", "event_timestamp": at(6), "items__price": None,
         "items__score": None, "users__score": None},
    ]  # fmt: skip


def test_declared_types_are_kept_exactly(engine: OfflineEngine, tmp_path: Path) -> None:
    from skewless.types import Array, Bool, Float32, Int32, UnixTimestamp

    features = {
        "i32": Int32,
        "f32": Float32,
        "flag": Bool,
        "vec": Array(Float32),
        "seen": UnixTimestamp,
        "count": Int64,
    }
    types = source_types(USER, features)
    types["i32"] = pa.int64()  # wider in the file, declared narrower
    types["f32"] = pa.int64()  # an int column read as a float feature
    types["seen"] = pa.timestamp("ns")
    write_parquet(
        tmp_path / "s.parquet",
        [{"user_id": 1, "ts": at(0), "i32": 3, "f32": 2, "flag": True, "vec": [1.5],
          "seen": at(-1), "count": None}],
        types,
    )  # fmt: skip
    view = make_view("v", "s.parquet", features=features)
    out = engine.historical(
        entity_frame(
            [{"user_id": 1, "event_timestamp": at(1)}, {"user_id": 2, "event_timestamp": at(1)}],
            ENTITY,
        ),
        [request(view)],
    ).to_arrow()
    assert [out.schema.field(f).type for f in features] == [
        pa.int32(), pa.float32(), pa.bool_(), pa.list_(pa.float32()), US_UTC, pa.int64()
    ]  # fmt: skip
    assert out.slice(0, 1).to_pylist()[0] == {
        "user_id": 1, "event_timestamp": at(1), "i32": 3, "f32": 2.0, "flag": True,
        "vec": [1.5], "seen": at(-1), "count": None,
    }  # fmt: skip
    assert out.column("count").null_count == 2  # an int with nulls stays an int


def test_field_mapping_renames_source_columns(engine: OfflineEngine, tmp_path: Path) -> None:
    write_parquet(
        tmp_path / "s.parquet",
        [{"uid": 1, "when": at(0), "raw_score": 4}],
        {"uid": pa.int64(), "when": US_UTC, "raw_score": pa.int64()},
    )
    view = make_view(
        "v",
        "s.parquet",
        features={"score": Int64},
        created=False,
        timestamp_field="when",
        field_mapping={"uid": "user_id", "raw_score": "score"},
    )
    assert engine.source_schema(view).names == ["user_id", "when", "score"]
    assert scores(run(engine, [{"user_id": 1, "event_timestamp": at(0)}], request(view))) == [4]


def test_to_parquet_writes_what_to_arrow_returns(engine: OfflineEngine, tmp_path: Path) -> None:
    write_parquet(
        tmp_path / "s.parquet",
        [{"user_id": u, "ts": at(u), "score": u, "label": str(u)} for u in range(20)],
        TYPES,
    )
    view = make_view("v", "s.parquet", ttl=timedelta(minutes=3))
    frame = entity_frame(
        [{"user_id": u % 7, "event_timestamp": at(u)} for u in range(30, 0, -1)], ENTITY
    )
    result = engine.historical(frame, [request(view)])
    result.to_parquet(tmp_path / "out.parquet")
    written = pq.read_table(tmp_path / "out.parquet")
    expected = result.to_arrow()
    assert written.column_names == expected.column_names
    assert written.cast(expected.schema).equals(expected)


def test_entity_column_named_like_a_feature_is_an_error(
    engine: OfflineEngine, tmp_path: Path
) -> None:
    write_parquet(tmp_path / "s.parquet", [{"user_id": 1, "ts": at(0), "score": 1}], TYPES)
    view = make_view("v", "s.parquet")
    frame = entity_frame(
        [{"user_id": 1, "event_timestamp": at(0), "score": 0}],
        {**ENTITY, "score": pa.int64()},
    )
    with pytest.raises(EntityFrameError, match="full_feature_names=True"):
        engine.historical(frame, [request(view)])


def test_entity_key_of_another_type_family_is_an_error(
    engine: OfflineEngine, tmp_path: Path
) -> None:
    write_parquet(tmp_path / "s.parquet", [{"user_id": 1, "ts": at(0), "score": 1}], TYPES)
    view = make_view("v", "s.parquet")
    frame = entity_frame(
        [{"user_id": "1", "event_timestamp": at(0)}],
        {"user_id": pa.string(), "event_timestamp": US_UTC},
    )
    with pytest.raises(EntityFrameError, match="user_id"):
        engine.historical(frame, [request(view)])


def test_an_empty_entity_frame_gives_an_empty_result(engine: OfflineEngine, tmp_path: Path) -> None:
    write_parquet(tmp_path / "s.parquet", [{"user_id": 1, "ts": at(0), "score": 1}], TYPES)
    view = make_view("v", "s.parquet")
    out = engine.historical(entity_frame([], ENTITY), [request(view)]).to_arrow()
    assert out.num_rows == 0
    assert out.column_names == ["user_id", "event_timestamp", "score", "label"]


def test_event_timestamp_output_is_utc_even_from_a_zone(
    engine: OfflineEngine, tmp_path: Path
) -> None:
    write_parquet(tmp_path / "s.parquet", [{"user_id": 1, "ts": at(0), "score": 1}], TYPES)
    view = make_view("v", "s.parquet")
    tokyo = pa.array([at(0)], US_UTC).cast(pa.timestamp("us", tz="Asia/Tokyo"))
    frame = pa.table({"user_id": pa.array([1], pa.int64()), "event_timestamp": tokyo})
    out = engine.historical(frame, [request(view)]).to_arrow()
    assert out.column("event_timestamp").type == US_UTC
    assert out.column("event_timestamp")[0].as_py() == at(0)
