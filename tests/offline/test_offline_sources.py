"""Source files: one file, a directory, a glob, CSV; schemas; missing sources."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest
from offline_data import (
    at,
    entity_frame,
    make_view,
    request,
    source_types,
    write_csv,
    write_parquet,
)

from skewless._contracts import OfflineEngine
from skewless.errors import SchemaMismatchError, SourceNotFoundError
from skewless.offline.sources import resolve_files
from skewless.types import Array, Float32, Float64, Int32, Int64, String

US_UTC = pa.timestamp("us", tz="UTC")
USER = {"user_id": pa.int64()}
TYPES = source_types(USER, {"score": Int64, "label": String})
ENTITY = {"user_id": pa.int64(), "event_timestamp": US_UTC}


def scores_at(engine: OfflineEngine, view, users, minute=100) -> list:
    frame = entity_frame([{"user_id": u, "event_timestamp": at(minute)} for u in users], ENTITY)
    return engine.historical(frame, [request(view)]).to_arrow().column("score").to_pylist()


def test_directory_reads_every_file_under_it_skipping_hidden_ones(
    engine: OfflineEngine, tmp_path: Path
) -> None:
    write_parquet(tmp_path / "d" / "a.parquet", [{"user_id": 1, "ts": at(0), "score": 1}], TYPES)
    write_parquet(
        tmp_path / "d" / "x" / "b.parquet", [{"user_id": 2, "ts": at(0), "score": 2}], TYPES
    )
    write_parquet(tmp_path / "d" / ".c.parquet", [{"user_id": 3, "ts": at(0), "score": 3}], TYPES)
    write_parquet(tmp_path / "d" / "_tmp.parquet", [{"user_id": 4, "ts": at(0), "score": 4}], TYPES)
    (tmp_path / "d" / "notes.txt").write_text("not data")
    view = make_view("v", "d")
    assert scores_at(engine, view, [1, 2, 3, 4]) == [1, 2, None, None]


def test_glob_reads_matching_files_only(engine: OfflineEngine, tmp_path: Path) -> None:
    write_parquet(tmp_path / "d" / "p1.parquet", [{"user_id": 1, "ts": at(0), "score": 1}], TYPES)
    write_parquet(tmp_path / "d" / "p2.parquet", [{"user_id": 2, "ts": at(0), "score": 2}], TYPES)
    write_parquet(tmp_path / "d" / "q.parquet", [{"user_id": 3, "ts": at(0), "score": 3}], TYPES)
    view = make_view("v", "d/p*.parquet")
    assert scores_at(engine, view, [1, 2, 3]) == [1, 2, None]


def test_files_are_in_lexicographic_path_order(tmp_path: Path) -> None:
    for name in ("b.parquet", "a/z.parquet", "a.parquet", "B.parquet"):
        write_parquet(tmp_path / "d" / name, [], TYPES)
    view = make_view("v", "d")
    files = resolve_files(view.source, tmp_path)
    assert [Path(f).relative_to(tmp_path / "d").as_posix() for f in files] == [
        "B.parquet", "a.parquet", "a/z.parquet", "b.parquet"
    ]  # fmt: skip


def test_absolute_paths_are_used_as_they_are(engine: OfflineEngine, tmp_path: Path) -> None:
    path = write_parquet(tmp_path / "abs.parquet", [{"user_id": 1, "ts": at(0), "score": 5}], TYPES)
    assert scores_at(engine, make_view("v", str(path)), [1]) == [5]


@pytest.mark.parametrize("path", ["missing.parquet", "empty_dir", "nothing*.parquet"])
def test_a_source_matching_no_file_names_the_path_and_location(
    engine: OfflineEngine, tmp_path: Path, path: str
) -> None:
    (tmp_path / "empty_dir").mkdir()
    view = make_view("v", path)
    with pytest.raises(SourceNotFoundError) as info:
        engine.source_schema(view)
    assert repr(path) in str(info.value)
    assert str(tmp_path) in str(info.value)
    with pytest.raises(SourceNotFoundError):
        engine.historical(entity_frame([], ENTITY), [request(view)])


def test_source_schema_reads_no_rows_and_applies_field_mapping(
    engine: OfflineEngine, tmp_path: Path
) -> None:
    write_parquet(
        tmp_path / "s.parquet",
        [{"user_id": 1, "ts": at(0), "score": 1}],
        {"user_id": pa.int64(), "ts": pa.timestamp("ns"), "score": pa.int32()},
    )
    view = make_view("v", "s.parquet", features={"points": Int64}, created=False,
                     field_mapping={"score": "points"})  # fmt: skip
    schema = engine.source_schema(view)
    assert schema.names == ["user_id", "ts", "points"]
    assert schema.field("points").type == pa.int32()
    assert pa.types.is_timestamp(schema.field("ts").type)


def test_a_missing_column_is_a_schema_mismatch(engine: OfflineEngine, tmp_path: Path) -> None:
    write_parquet(tmp_path / "s.parquet", [{"user_id": 1, "ts": at(0), "score": 1}], TYPES)
    view = make_view("v", "s.parquet", features={"score": Int64, "absent": Int64})
    with pytest.raises(SchemaMismatchError, match="absent"):
        engine.historical(entity_frame([], ENTITY), [request(view)])


CSV_FEATURES = {"score": Int32, "ratio": Float32, "label": String, "total": Float64}


def test_csv_source_with_declared_types(engine: OfflineEngine, tmp_path: Path) -> None:
    types = {
        "user_id": pa.int64(),
        "ts": pa.string(),
        "created": pa.string(),
        "score": pa.int64(),
        "ratio": pa.float64(),
        "label": pa.string(),
        "total": pa.int64(),
    }
    write_csv(
        tmp_path / "s.csv",
        [
            {"user_id": 1, "ts": "2024-03-01T00:00:00", "created": "2024-03-01 00:05:00",
             "score": 1, "ratio": 0.5, "label": "007", "total": 3},
            {"user_id": 1, "ts": "2024-03-01T00:00:00Z", "created": "2024-03-01T01:05:00+01:00",
             "score": 2, "ratio": None, "label": "x", "total": None},
            {"user_id": 2, "ts": "2024-03-01T00:00:00", "created": None,
             "score": 3, "ratio": 1.0, "label": "y", "total": 4},
            {"user_id": 2, "ts": "2024-03-01T00:00:00", "created": None,
             "score": 4, "ratio": 2.0, "label": "0", "total": 5},
        ],
        types,
    )  # fmt: skip
    view = make_view("v", "s.csv", features=CSV_FEATURES)
    assert view.source.file_format == "csv"
    schema = engine.source_schema(view)
    assert [schema.field(f).type for f in CSV_FEATURES] == [
        pa.int32(), pa.float32(), pa.string(), pa.float64()
    ]  # fmt: skip
    frame = entity_frame(
        [{"user_id": u, "event_timestamp": at(m)} for u, m in ((1, 0), (2, 0), (1, -1))], ENTITY
    )
    out = engine.historical(frame, [request(view)]).to_arrow()
    # user 1: equal ts, created 00:05 vs 00:05 (+01:00 offset): full tie, the later row wins.
    assert out.select(list(CSV_FEATURES)).to_pylist() == [
        {"score": 2, "ratio": None, "label": "x", "total": None},
        {"score": 4, "ratio": 2.0, "label": "0", "total": 5.0},
        {"score": None, "ratio": None, "label": None, "total": None},
    ]


def test_csv_directory_ties_follow_file_then_row_order(
    engine: OfflineEngine, tmp_path: Path
) -> None:
    types = {"user_id": pa.int64(), "ts": pa.string(), "score": pa.int64(), "label": pa.string()}
    tie = {"user_id": 1, "ts": "2024-03-01T00:00:00"}
    write_csv(tmp_path / "d" / "b.csv", [{**tie, "score": 3}, {**tie, "score": 4}], types)
    write_csv(tmp_path / "d" / "a.csv", [{**tie, "score": 1}, {**tie, "score": 2}], types)
    view = make_view("v", "d", created=False, file_format="csv")
    assert scores_at(engine, view, [1]) == [4]


def test_array_features_from_parquet(engine: OfflineEngine, tmp_path: Path) -> None:
    types = source_types(USER, {"vec": Array(Float32)})
    write_parquet(tmp_path / "s.parquet", [{"user_id": 1, "ts": at(0), "vec": [1.0, 2.0]}], types)
    view = make_view("v", "s.parquet", features={"vec": Array(Float32)})
    frame = entity_frame([{"user_id": 1, "event_timestamp": at(1)}], ENTITY)
    out = engine.historical(frame, [request(view)]).to_arrow()
    assert out.column("vec").to_pylist() == [[1.0, 2.0]]
