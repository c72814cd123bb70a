"""What is particular to the DuckDB engine: settings, threads, quoting, its SQL."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pyarrow as pa
from offline_data import at, entity_frame, make_view, request, source_types, write_parquet

from skewless.config import DuckDBOfflineConfig
from skewless.offline.duckdb.engine import DuckDBEngine
from skewless.types import Int64, String

US_UTC = pa.timestamp("us", tz="UTC")
TYPES = source_types({"user_id": pa.int64()}, {"score": Int64, "label": String})
ENTITY = {"user_id": pa.int64(), "event_timestamp": US_UTC}


def test_settings_come_from_the_config(tmp_path: Path) -> None:
    engine = DuckDBEngine(DuckDBOfflineConfig(threads=1, memory_limit="512MB"), tmp_path)
    with engine.cursor() as cur:
        threads, memory, zone = cur.execute(
            "SELECT current_setting('threads'), current_setting('memory_limit'), "
            "current_setting('TimeZone')"
        ).fetchone()  # type: ignore[misc]
    engine.close()
    assert (threads, zone) == (1, "UTC")
    assert memory.replace(" ", "").upper() in ("488.2MIB", "512.0MB", "512MB")


def test_threads_share_one_engine(tmp_path: Path) -> None:
    rows = [{"user_id": u % 50, "ts": at(u % 9), "score": u} for u in range(500)]
    write_parquet(tmp_path / "s.parquet", rows, TYPES)
    view = make_view("v", "s.parquet")
    engine = DuckDBEngine(DuckDBOfflineConfig(), tmp_path)
    frame = entity_frame([{"user_id": u, "event_timestamp": at(u % 11)} for u in range(60)], ENTITY)
    expected = engine.historical(frame, [request(view)]).to_arrow()
    shared = engine.historical(frame, [request(view)])

    def work(i: int) -> bool:
        own = engine.historical(frame, [request(view)]).to_arrow()
        latest = list(engine.latest_per_key(view, None, at(100), batch_rows=7))
        return (
            own.equals(expected)
            and shared.to_arrow().equals(expected)
            and sum(b.num_rows for b in latest) == 50
        )

    with ThreadPoolExecutor(max_workers=4) as pool:
        assert all(pool.map(work, range(16)))
    engine.close()


def test_odd_paths_and_source_column_names_are_quoted(tmp_path: Path) -> None:
    folder = tmp_path / 'it\'s a "dir"'
    write_parquet(
        folder / "s.parquet",
        [{"user id": 1, "ts": at(0), "score; drop": 3}],
        {"user id": pa.int64(), "ts": US_UTC, "score; drop": pa.int64()},
    )
    view = make_view(
        "v",
        'it\'s a "dir"/s.parquet',
        features={"score": Int64},
        created=False,
        field_mapping={"user id": "user_id", "score; drop": "score"},
    )
    engine = DuckDBEngine(DuckDBOfflineConfig(), tmp_path)
    frame = entity_frame([{"user_id": 1, "event_timestamp": at(1)}], ENTITY)
    assert engine.historical(frame, [request(view)]).to_arrow().column("score").to_pylist() == [3]
    engine.close()


def test_the_asof_join_reads_the_source_once_without_deduplicating(tmp_path: Path) -> None:
    write_parquet(tmp_path / "s.parquet", [], TYPES)
    view = make_view("v", "s.parquet")
    engine = DuckDBEngine(DuckDBOfflineConfig(), tmp_path)
    sql = engine.historical(entity_frame([], ENTITY), [request(view)]).sql()
    engine.close()
    assert sql.count("ASOF LEFT JOIN") == 1
    assert sql.count("read_parquet") == 1
    assert " OVER " not in sql.upper()  # no window: nothing is ranked or deduplicated
