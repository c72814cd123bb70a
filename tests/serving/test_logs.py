"""The prediction log writer and reader: rows, types, partitions, failures and sources."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from skewless.errors import ConfigError, PredictionLogError
from skewless.offline.sources import resolve_files
from skewless.serving.log_files import log_dir
from skewless.serving.logs import PredictionLogWriter
from skewless.serving.logs_read import log_summary, prediction_log_source, read_prediction_logs

from .log_rows import prediction, visible_parquet

T0 = datetime(2024, 3, 5, 12, 0, tzinfo=UTC)


def _write(root: Path, *predictions, name: str = "churn") -> PredictionLogWriter:
    with PredictionLogWriter(root, name, flush_ms=20) as writer:
        writer.submit(list(predictions))
    return writer


def _wait_for(condition, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_round_trip_keeps_native_types(tmp_path: Path) -> None:
    p = prediction(
        "r1",
        T0,
        version=7,
        entities={"user_id": [10, 11, 12], "country": ["fr", "de", "it"]},
        features={
            "age": [31, None, 40],
            "score": [0.5, None, 2.25],
            "active": [True, None, False],
            "tags": [["a"], None, []],
        },
        predictions=["yes", None, "no"],
        probabilities=[[0.2, 0.8], None, [0.9, 0.1]],
        missing=[1],
        latency_ms=4.25,
        cached=3,
        arm="b",
    )
    writer = _write(tmp_path, p)
    assert (writer.written_rows, writer.files, writer.dropped) == (3, 1, 0)
    table = read_prediction_logs(tmp_path, "churn")
    types = {f.name: f.type for f in table.schema}
    assert types["request_id"] == pa.string()
    assert types["row"] == pa.int32()
    assert types["timestamp"] == pa.timestamp("us", tz="UTC")
    assert types["model_version"] == pa.int64()
    assert types["user_id"] == pa.int64()
    assert types["age"] == pa.int64() and types["score"] == pa.float64()
    assert types["active"] == pa.bool_() and pa.types.is_list(types["tags"])
    assert types["prediction"] == pa.string()
    assert pa.types.is_list(types["probabilities"]) and types["latency_ms"] == pa.float64()
    assert "date" not in types
    rows = table.to_pylist()
    assert [r["row"] for r in rows] == [0, 1, 2]
    assert [r["country"] for r in rows] == ["fr", "de", "it"]
    assert [r["missing"] for r in rows] == [False, True, False]
    assert [r["prediction"] for r in rows] == ["yes", None, "no"]
    assert rows[1]["probabilities"] is None and rows[0]["probabilities"] == [0.2, 0.8]
    assert rows[2]["tags"] == [] and rows[1]["age"] is None
    assert {(r["cached"], r["arm"], r["latency_ms"], r["model_version"]) for r in rows} == {
        (True, "b", 4.25, 7)
    }
    assert rows[0]["timestamp"] == T0


def test_numpy_and_pandas_values(tmp_path: Path) -> None:
    import numpy as np
    import pandas as pd

    p = prediction(
        "r1",
        T0,
        entities={"user_id": [np.int64(1), np.int64(2)]},
        features={
            "score": [np.float32(1.5), float("nan")],
            "embedding": [np.array([0.5, 1.0]), None],
            "seen": [pd.Timestamp("2024-01-01", tz="UTC"), None],
        },
        predictions=[np.int64(1), np.int64(0)],
    )
    _write(tmp_path, p)
    rows = read_prediction_logs(tmp_path, "churn").to_pylist()
    assert [r["user_id"] for r in rows] == [1, 2] and rows[0]["embedding"] == [0.5, 1.0]
    assert rows[0]["seen"] == datetime(2024, 1, 1, tzinfo=UTC) and rows[0]["prediction"] == 1


def test_bad_settings_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="must be positive"):
        PredictionLogWriter(tmp_path, "churn", flush_ms=0)


def test_file_layout_and_names(tmp_path: Path) -> None:
    _write(tmp_path, prediction("r1", T0))
    files = visible_parquet(log_dir(tmp_path, "churn"))
    assert len(files) == 1
    assert files[0].parent.name == "date=2024-03-05"
    assert files[0].name.startswith("part-") and f"-{__import__('os').getpid()}-" in files[0].name
    assert not [p for p in files[0].parent.iterdir() if p.name.endswith(".tmp")]


def test_partial_cache_hits_are_unknown_per_row(tmp_path: Path) -> None:
    _write(tmp_path, prediction("r1", T0, cached=1), prediction("r2", T0, cached=0))
    rows = read_prediction_logs(tmp_path, "churn").to_pylist()
    assert [r["cached"] for r in rows] == [None, None, False, False]


def test_versions_with_different_features_union(tmp_path: Path) -> None:
    _write(tmp_path, prediction("r1", T0, version=1, features={"age": [1, 2], "score": [0.1, 0.2]}))
    later = T0 + timedelta(seconds=1)
    _write(tmp_path, prediction("r2", later, version=2, features={"age": [3, 4], "n": [5, 6]}))
    table = read_prediction_logs(tmp_path, "churn")
    assert {"age", "score", "n"} <= set(table.column_names)
    rows = table.to_pylist()
    assert [(r["model_version"], r["age"], r["score"], r["n"]) for r in rows] == [
        (1, 1, 0.1, None),
        (1, 2, 0.2, None),
        (2, 3, None, 5),
        (2, 4, None, 6),
    ]


def test_reserved_names_are_prefixed(tmp_path: Path) -> None:
    _write(tmp_path, prediction("r1", T0, entities={"row": [1]}, features={"prediction": [2.0]}))
    row = read_prediction_logs(tmp_path, "churn").to_pylist()[0]
    assert (row["key_row"], row["feature_prediction"], row["row"]) == (1, 2.0, 0)


def test_values_of_mixed_types_are_kept_as_json_text(tmp_path: Path) -> None:
    _write(tmp_path, prediction("r1", T0, features={"x": [1, "a"]}))
    assert read_prediction_logs(tmp_path, "churn").column("x").to_pylist() == ["1", '"a"']


def test_days_go_to_their_partitions_and_bounds_filter(tmp_path: Path) -> None:
    late, early = datetime(2024, 3, 5, 23, 59, 59, tzinfo=UTC), datetime(2024, 3, 6, tzinfo=UTC)
    _write(tmp_path, prediction("a", late), prediction("b", early))
    days = sorted(p.parent.name for p in visible_parquet(log_dir(tmp_path, "churn")))
    assert days == ["date=2024-03-05", "date=2024-03-06"]
    ids = read_prediction_logs(tmp_path, "churn", since=early).column("request_id").to_pylist()
    assert set(ids) == {"b"}
    ids = read_prediction_logs(tmp_path, "churn", until=early).column("request_id").to_pylist()
    assert set(ids) == {"a"}
    relative = read_prediction_logs(tmp_path, "churn", since=timedelta(hours=1), now=early)
    assert set(relative.column("request_id").to_pylist()) == {"a", "b"}


def test_an_empty_range_reads_an_empty_table(tmp_path: Path) -> None:
    _write(tmp_path, prediction("a", T0))
    table = read_prediction_logs(tmp_path, "churn", since=T0 + timedelta(days=3))
    assert table.num_rows == 0 and "request_id" in table.column_names


def test_unknown_log_names_known_ones(tmp_path: Path) -> None:
    _write(tmp_path, prediction("a", T0), name="fraud")
    with pytest.raises(PredictionLogError, match=r"no prediction log .churn.*known logs: fraud"):
        read_prediction_logs(tmp_path, "churn")
    with pytest.raises(PredictionLogError, match="not a valid name"):
        read_prediction_logs(tmp_path, "../etc")


def test_max_rows_writes_before_flush_ms(tmp_path: Path) -> None:
    writer = PredictionLogWriter(tmp_path, "churn", flush_ms=60_000, max_rows=4)
    try:
        writer.submit([prediction("a", T0), prediction("b", T0)])
        _wait_for(lambda: writer.written_rows == 4)
    finally:
        writer.close()


def test_flush_ms_writes_in_the_background(tmp_path: Path) -> None:
    writer = PredictionLogWriter(tmp_path, "churn", flush_ms=20)
    try:
        writer.submit([prediction("a", T0)])
        _wait_for(lambda: writer.files == 1)
        writer.submit([prediction("b", T0)])
        _wait_for(lambda: writer.files == 2)
    finally:
        writer.close()
    assert read_prediction_logs(tmp_path, "churn").num_rows == 4


def test_failed_writes_are_logged_once_and_retried(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "data"
    blocker.write_text("not a directory")
    writer = PredictionLogWriter(tmp_path, "churn", flush_ms=10)
    with caplog.at_level(logging.WARNING, logger="skewless.serving.logs"):
        writer.submit([prediction("a", T0)])
        time.sleep(0.2)  # several flushes fail
        writer.submit([prediction("b", T0)])
        time.sleep(0.1)
        assert writer.written_rows == 0 and writer.queued_rows == 4
        blocker.unlink()
        _wait_for(lambda: writer.written_rows == 4)
        writer.close()
    failures = [r for r in caplog.records if "cannot write" in r.getMessage()]
    assert len(failures) == 1 and "retrying" in failures[0].getMessage()
    assert any("writing again" in r.getMessage() for r in caplog.records)
    ids = read_prediction_logs(tmp_path, "churn").column("request_id").to_pylist()
    assert ids.count("a") == 2 and ids.count("b") == 2


def test_queue_is_bounded_while_writes_fail(tmp_path: Path) -> None:
    (tmp_path / "data").write_text("blocks the log directory")
    writer = PredictionLogWriter(tmp_path, "churn", flush_ms=60_000, max_queued_rows=4)
    for i in range(5):
        writer.submit([prediction(f"r{i}", T0)])
    assert writer.dropped == 6 and writer.queued_rows == 4
    (tmp_path / "data").unlink()
    writer.close()
    ids = read_prediction_logs(tmp_path, "churn").column("request_id").to_pylist()
    assert sorted(set(ids)) == ["r3", "r4"]


def test_submit_after_close_counts_as_dropped(tmp_path: Path) -> None:
    writer = _write(tmp_path, prediction("a", T0))
    writer.submit([prediction("b", T0)])
    writer.close()
    assert (writer.dropped, writer.written_rows) == (2, 2)


def test_two_writers_in_one_process_never_collide(tmp_path: Path) -> None:
    writers = [PredictionLogWriter(tmp_path, "churn", flush_ms=5) for _ in range(3)]
    for n in range(30):
        for i, w in enumerate(writers):
            w.submit([prediction(f"w{i}-{n}", T0)])
        time.sleep(0.002)
    for w in writers:
        w.close()
    assert sum(w.files for w in writers) == len(visible_parquet(log_dir(tmp_path, "churn")))
    assert read_prediction_logs(tmp_path, "churn").num_rows == 180


def test_summary(tmp_path: Path) -> None:
    _write(
        tmp_path,
        prediction("a", T0, version=1, predictions=[1, 0], latency_ms=2.0, cached=2),
        prediction("b", T0 + timedelta(minutes=1), version=2, predictions=[1, None], missing=[1]),
        prediction("c", T0 + timedelta(minutes=2), version=2, predictions=[1, 1], latency_ms=10),
    )
    summary = log_summary(tmp_path, "churn", since=timedelta(days=1), now=T0 + timedelta(hours=1))
    assert (summary.requests, summary.entities, summary.missing, summary.cached) == (3, 6, 1, 2)
    assert summary.versions == [
        {"model_version": 1, "requests": 1, "entities": 2, "missing": 0},
        {"model_version": 2, "requests": 2, "entities": 4, "missing": 1},
    ]
    assert summary.latency_p50_ms == 3.0 and summary.latency_p99_ms == pytest.approx(9.86)
    assert summary.prediction_counts == {"1": 4, "0": 1}
    assert summary.prediction_mean == pytest.approx(0.8)
    assert (summary.first, summary.last) == (T0, T0 + timedelta(minutes=2))
    assert summary.to_dict()["first"] == "2024-03-05T12:00:00+00:00"


def test_summary_of_a_regressor_is_a_mean(tmp_path: Path) -> None:
    _write(tmp_path, prediction("a", T0, predictions=[1.5, 2.5]))
    summary = log_summary(tmp_path, "churn")
    assert summary.prediction_mean == 2.0 and summary.prediction_counts == {}
    empty = log_summary(tmp_path, "churn", since=T0 + timedelta(days=1))
    assert empty.requests == 0 and empty.first is None


def test_log_as_a_file_source_joins_with_labels_in_duckdb(tmp_path: Path) -> None:
    _write(
        tmp_path,
        prediction("a", T0, entities={"user_id": [1, 2]}, predictions=[1, 0]),
        prediction("b", T0 + timedelta(hours=1), entities={"user_id": [1, 3]}, predictions=[0, 1]),
    )
    (tmp_path / "data" / "prediction_logs" / "churn" / "_feedback").mkdir()
    source = prediction_log_source("churn")
    assert source.timestamp_field == "timestamp"
    files = resolve_files(source, tmp_path)
    assert all("_feedback" not in f for f in files) and len(files) == 1
    labels = pa.table(  # noqa: F841 - read by DuckDB below
        {
            "user_id": [1, 2, 3],
            "label_time": [T0 + timedelta(hours=2)] * 3,
            "churned": [0, 0, 1],
        }
    )
    listed = ", ".join(f"'{f}'" for f in files)
    joined = duckdb.sql(
        "SELECT l.user_id, p.prediction, l.churned FROM labels l ASOF JOIN "
        f"read_parquet([{listed}], union_by_name = true) p "
        'ON p.user_id = l.user_id AND p."timestamp" <= l.label_time ORDER BY 1'
    ).fetchall()
    assert joined == [(1, 0, 0), (2, 0, 0), (3, 1, 1)]
    absolute = prediction_log_source("churn", tmp_path)
    assert resolve_files(absolute, Path("/")) == files


def test_every_file_reads_with_pyarrow(tmp_path: Path) -> None:
    _write(tmp_path, prediction("a", T0), prediction("b", T0, features={"other": ["x", "y"]}))
    for path in visible_parquet(log_dir(tmp_path, "churn")):
        assert pq.read_table(path).num_rows == 2
