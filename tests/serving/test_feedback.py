"""Feedback: validation, storage, and the join of logged predictions with their labels."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from skewless.errors import EntityFrameError, FeedbackError, PredictionLogError
from skewless.serving.feedback import (
    FeedbackWriter,
    labelled_predictions,
    read_feedback,
    record_feedback,
)
from skewless.serving.log_files import feedback_dir
from skewless.serving.logs import PredictionLogWriter
from skewless.serving.logs_compact import compact_prediction_logs
from skewless.serving.logs_read import read_prediction_logs

from .log_rows import prediction, visible_parquet

T0 = datetime(2024, 3, 5, 12, 0, tzinfo=UTC)


def _log(root: Path, *predictions: Any) -> None:
    with PredictionLogWriter(root, "churn", flush_ms=20) as writer:
        writer.submit(list(predictions))


@pytest.mark.parametrize(
    ("items", "message"),
    [
        ({"request_id": "r", "label": 1}, "must be a list"),
        (["r1"], "not an object"),
        ([{"request_id": "", "label": 1}], "request_id '' is not a non-empty string"),
        ([{"request_id": 7, "label": 1}], "request_id 7"),
        ([{"request_id": "r"}], "has no label"),
        ([{"request_id": "r", "label": None}], "has no label"),
        ([{"request_id": "r", "label": [1, 2]}], "not a JSON scalar"),
        ([{"request_id": "r", "label": {"a": 1}}], "not a JSON scalar"),
        ([{"request_id": "r", "label": float("nan")}], "not a JSON scalar"),
        ([{"request_id": "r", "label": 2**70}], "beyond int64"),
        ([{"request_id": "r", "label": 1, "row": -1}], "row -1 is not an entity index"),
        ([{"request_id": "r", "label": 1, "row": True}], "row True"),
        ([{"request_id": "r", "label": 1, "row": "0"}], "row '0'"),
        ([{"request_id": "r", "label": 1, "rows": 0}], "unknown field(s) rows"),
        ([{"request_id": "a", "label": 1}, {"request_id": "b", "label": "x"}], "mix number"),
    ],
)
def test_bad_items_are_refused_and_nothing_is_written(
    tmp_path: Path, items: Any, message: str
) -> None:
    with pytest.raises(FeedbackError) as caught:
        record_feedback(tmp_path, "churn", items)
    assert message in str(caught.value)
    assert isinstance(caught.value, EntityFrameError)
    assert not feedback_dir(tmp_path, "churn").exists()


def test_the_item_is_named_in_the_error(tmp_path: Path) -> None:
    items = [{"request_id": "ok", "label": 1}, {"request_id": "r2", "label": [1]}]
    with pytest.raises(FeedbackError, match=r"feedback item 1 \(request r2\)"):
        record_feedback(tmp_path, "churn", items)


def test_feedback_round_trip(tmp_path: Path) -> None:
    assert record_feedback(tmp_path, "churn", [], now=T0) == 0
    count = record_feedback(
        tmp_path,
        "churn",
        [{"request_id": "a", "label": 1, "row": 0}, {"request_id": "b", "label": 2.5}],
        now=T0,
    )
    assert count == 2
    table = read_feedback(tmp_path, "churn")
    assert table.schema.field("row").type == pa.int32()
    assert table.schema.field("timestamp").type == pa.timestamp("us", tz="UTC")
    assert table.to_pylist() == [
        {"request_id": "a", "row": 0, "label": 1.0, "timestamp": T0},
        {"request_id": "b", "row": None, "label": 2.5, "timestamp": T0},
    ]
    files = visible_parquet(feedback_dir(tmp_path, "churn"))
    assert [f.parent.name for f in files] == ["date=2024-03-05"]
    assert read_feedback(tmp_path, "churn", since=T0 + timedelta(seconds=1)).num_rows == 0


def test_feedback_of_an_empty_log_directory_reads_empty(tmp_path: Path) -> None:
    table = read_feedback(tmp_path, "churn")
    assert table.num_rows == 0 and table.column_names == ["request_id", "row", "label", "timestamp"]


def test_writer_counts_and_checks_its_name(tmp_path: Path) -> None:
    writer = FeedbackWriter(tmp_path, "churn")
    writer.record([{"request_id": "a", "label": "yes"}], now=T0)
    writer.record([{"request_id": "b", "label": "no"}], now=T0)
    assert writer.recorded == 2
    with pytest.raises(PredictionLogError, match="not a valid name"):
        FeedbackWriter(tmp_path, "a/b")


def test_labels_join_by_row_then_by_request_latest_first(tmp_path: Path) -> None:
    _log(
        tmp_path,
        prediction("a", T0, entities={"user_id": [1, 2]}, predictions=[1, 0]),
        prediction("b", T0 + timedelta(minutes=1), entities={"user_id": [3]}, predictions=[1]),
        prediction("c", T0 + timedelta(minutes=2), entities={"user_id": [4]}, predictions=[0]),
    )
    later = T0 + timedelta(days=2)
    record_feedback(tmp_path, "churn", [{"request_id": "a", "label": 0}], now=later)
    record_feedback(tmp_path, "churn", [{"request_id": "a", "label": 1, "row": 1}], now=later)
    record_feedback(tmp_path, "churn", [{"request_id": "b", "label": 0}], now=later)
    record_feedback(
        tmp_path, "churn", [{"request_id": "b", "label": 1}], now=later + timedelta(hours=1)
    )
    record_feedback(tmp_path, "churn", [{"request_id": "zzz", "label": 1}], now=later)
    joined = labelled_predictions(tmp_path, "churn")
    got = [
        (r["request_id"], r["row"], r["user_id"], r["prediction"], r["label"])
        for r in joined.to_pylist()
    ]
    assert got == [("a", 0, 1, 1, 0), ("a", 1, 2, 0, 1), ("b", 0, 3, 1, 1)]
    assert joined.column("label_timestamp").to_pylist()[2] == later + timedelta(hours=1)
    since = labelled_predictions(tmp_path, "churn", since=T0 + timedelta(seconds=30))
    assert since.column("request_id").to_pylist() == ["b"]


def test_the_later_item_of_one_call_wins(tmp_path: Path) -> None:
    _log(tmp_path, prediction("a", T0, entities={"user_id": [1]}))
    items = [
        {"request_id": "a", "label": "x", "row": 0},
        {"request_id": "a", "label": "y", "row": 0},
    ]
    record_feedback(tmp_path, "churn", items, now=T0)
    assert labelled_predictions(tmp_path, "churn").column("label").to_pylist() == ["y"]


def test_join_without_feedback_or_logs(tmp_path: Path) -> None:
    with pytest.raises(PredictionLogError, match="no prediction log"):
        labelled_predictions(tmp_path, "churn")
    _log(tmp_path, prediction("a", T0))
    assert labelled_predictions(tmp_path, "churn").num_rows == 0
    assert labelled_predictions(tmp_path, "churn", since=T0 + timedelta(days=9)).num_rows == 0


def test_compaction_keeps_feedback_and_the_join(tmp_path: Path) -> None:
    _log(tmp_path, prediction("a", T0), prediction("b", T0))
    for request_id in ("a", "b"):
        record_feedback(tmp_path, "churn", [{"request_id": request_id, "label": 1}], now=T0)
    before = labelled_predictions(tmp_path, "churn")
    report = compact_prediction_logs(tmp_path, "churn", now=T0 + timedelta(days=1))
    assert report.merged_days == ["feedback/2024-03-05"]  # the log's day had one file
    assert len(visible_parquet(feedback_dir(tmp_path, "churn"))) == 1
    assert labelled_predictions(tmp_path, "churn").equals(before)
    assert read_prediction_logs(tmp_path, "churn").num_rows == 4
