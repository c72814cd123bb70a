"""Prediction-log windows as drift inputs, per-day slicing and the timeline (docs/monitoring.md,
"Prediction-log windows" and "Drift per day")."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from serving.log_rows import prediction

from skewless.errors import DriftInputError, PredictionLogError
from skewless.monitoring import drift_report
from skewless.monitoring.log_window import LogWindow, probability_columns
from skewless.monitoring.timeline import day_slices, with_timeline
from skewless.serving.logs import PredictionLogWriter

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)


def write_log(root: Path, days: int = 3, per_day: int = 40, shift_last: float = 0.0) -> None:
    """``per_day`` requests of two users a day over ``days`` days ending at NOW; version 2
    answers the last day, with ``age`` moved by ``shift_last``; one request a day missing."""
    rng = np.random.default_rng(7)
    with PredictionLogWriter(root, "churn") as log:
        for day in range(days):
            last = day == days - 1
            for i in range(per_day):
                when = NOW - timedelta(days=days - 1 - day, hours=1, minutes=i)
                age = rng.normal(40 + (shift_last if last else 0.0), 5, size=2)
                p = float(rng.random())
                log.submit(
                    [
                        prediction(
                            f"r{day}-{i}",
                            when,
                            version=2 if last else 1,
                            entities={"user_id": [2 * i, 2 * i + 1]},
                            features={"age": age.tolist(), "city": ["oslo", "rome"]},
                            predictions=[int(p > 0.5), 0],
                            probabilities=[[1 - p, p], [0.9, 0.1]],
                            missing=[1] if i == 0 else [],
                        )
                    ]
                )


def test_a_window_reads_its_rows_and_one_version(tmp_path: Path) -> None:
    write_log(tmp_path)
    whole = LogWindow(tmp_path, "churn", since=timedelta(days=3), now=NOW)
    assert whole.read().num_rows == 3 * 40 * 2
    assert whole.missing == 3
    last_day = LogWindow(tmp_path, "churn", since=timedelta(days=1), now=NOW)
    assert set(last_day.read().column("model_version").to_pylist()) == {2}
    v1 = LogWindow(tmp_path, "churn", since=timedelta(days=3), version=1, now=NOW)
    assert v1.read().num_rows == 2 * 40 * 2
    assert v1.name == "churn v1 2026-12-01 12:00..now"
    bounded = LogWindow(
        tmp_path, "churn", since=timedelta(days=3), until=timedelta(days=1), now=NOW
    )
    assert bounded.name == "churn 2026-12-01 12:00..2026-12-03 12:00"
    assert bounded.read().num_rows == 2 * 40 * 2


def test_features_leave_out_missing_rows_and_keep_the_timestamp(tmp_path: Path) -> None:
    write_log(tmp_path)
    window = LogWindow(tmp_path, "churn", since=timedelta(days=3), now=NOW)
    features = window.features(["age", "city"])
    assert features.column_names == ["age", "city", "timestamp"]
    assert features.num_rows == 3 * 40 * 2 - 3
    assert features.column("age").null_count == 0
    every = window.features()
    assert "user_id" in every.column_names and "prediction" not in every.column_names
    with pytest.raises(DriftInputError, match=r"no column\(s\) \['height'\]"):
        window.features(["height"])


def test_predictions_split_probabilities_per_class(tmp_path: Path) -> None:
    write_log(tmp_path)
    window = LogWindow(tmp_path, "churn", since=timedelta(days=3), now=NOW)
    table = window.predictions(["stay", "churn"])
    assert table.column_names == [
        "prediction",
        "probability_stay",
        "probability_churn",
        "timestamp",
    ]
    rows = window.read().filter(pa.compute.invert(window.read().column("missing")))
    expected = np.array(rows.column("probabilities").to_pylist())
    np.testing.assert_array_equal(table.column("probability_churn").to_numpy(), expected[:, 1])
    numbered = window.predictions()
    assert numbered.column_names[1:3] == ["probability_0", "probability_1"]
    with pytest.raises(DriftInputError, match="3 classes were named for probabilities of 2"):
        window.predictions(["a", "b", "c"])


def test_probability_columns_on_random_rows() -> None:
    rng = np.random.default_rng(3)
    for _ in range(50):
        rows, width = int(rng.integers(1, 40)), int(rng.integers(2, 6))
        matrix = rng.dirichlet(np.ones(width), size=rows)
        nulls = rng.random(rows) < 0.2
        values = [None if n else list(r) for n, r in zip(nulls, matrix, strict=True)]
        columns = probability_columns(pa.array(values, pa.list_(pa.float64())))
        if nulls.all():
            assert columns == {}
            continue
        assert list(columns) == [f"probability_{i}" for i in range(width)]
        for i, name in enumerate(columns):
            got = columns[name].to_numpy(zero_copy_only=False)
            np.testing.assert_array_equal(np.isnan(got), nulls)
            np.testing.assert_array_equal(got[~nulls], matrix[~nulls, i])
    with pytest.raises(DriftInputError, match=r"rows of \[2, 3\] classes"):
        probability_columns(pa.array([[0.5, 0.5], [0.2, 0.3, 0.5]]))


def test_a_window_without_answers_or_log_is_refused(tmp_path: Path) -> None:
    write_log(tmp_path, days=1)
    empty = LogWindow(tmp_path, "churn", since=timedelta(days=1), now=NOW + timedelta(days=5))
    with pytest.raises(DriftInputError, match="holds no answered rows"):
        empty.features(["age"])
    with pytest.raises(PredictionLogError):
        LogWindow(tmp_path, "fraud", now=NOW).read()


def test_day_slices_split_by_utc_day() -> None:
    rng = np.random.default_rng(11)
    base = datetime(2026, 11, 1, tzinfo=UTC)
    offsets = rng.integers(0, 5 * 24 * 3600, size=500)
    times = [base + timedelta(seconds=int(s)) for s in offsets]
    table = pa.table({"i": np.arange(500), "timestamp": pa.array(times, pa.timestamp("us", "UTC"))})
    slices = day_slices(table)
    assert [d for d, _ in slices] == sorted({t.date() for t in times})
    for day, part in slices:
        expected = [i for i, t in enumerate(times) if t.date() == day]
        assert sorted(part.column("i").to_pylist()) == expected
    with pytest.raises(DriftInputError, match="no 'timestamp' column"):
        day_slices(table.drop_columns(["timestamp"]))
    with pytest.raises(DriftInputError, match="not a timestamp"):
        day_slices(pa.table({"timestamp": [1, 2]}))


def test_the_timeline_shows_the_day_drift_began(tmp_path: Path) -> None:
    write_log(tmp_path, days=4, per_day=300, shift_last=8.0)
    window = LogWindow(tmp_path, "churn", since=timedelta(days=4), now=NOW)
    current = window.features(["age", "city"])
    rng = np.random.default_rng(5)
    reference = pa.table(
        {"age": rng.normal(40, 5, size=5000), "city": rng.choice(["oslo", "rome"], size=5000)}
    )

    def compare(rows: pa.Table) -> object:
        return drift_report(reference, rows.drop_columns(["timestamp"]), threshold={"age": 0.3})

    whole = compare(current)
    steps: list[int] = []
    report = with_timeline(whole, current, compare, on_day=lambda: steps.append(1))  # type: ignore[arg-type]
    days = report.timeline
    assert days is not None and len(days) == 4 and len(steps) == 4
    assert [d["columns"]["age"]["drifted"] for d in days] == [False, False, False, True]
    assert all(d["rows"] == 2 * 300 - 1 for d in days)
    last = compare(current.slice(current.num_rows - (2 * 300 - 1)))
    assert days[-1]["columns"]["age"]["statistic"] == pytest.approx(last.columns["age"].statistic)  # type: ignore[attr-defined]
    assert report.to_dict()["timeline"][0]["day"] == "2026-12-01"
    few = with_timeline(whole, current, compare, min_rows=1000)  # type: ignore[arg-type]
    assert all(
        d["share_drifted"] is None and "fewer than 1000" in d["skipped"] for d in few.timeline or ()
    )


def test_a_window_is_a_side_of_drift_report(tmp_path: Path) -> None:
    write_log(tmp_path, days=4, per_day=300, shift_last=8.0)
    earlier = LogWindow(tmp_path, "churn", since=timedelta(days=4), until=timedelta(days=1),
                        now=NOW, columns=("age", "city"))  # fmt: skip
    last = LogWindow(tmp_path, "churn", since=timedelta(days=1), now=NOW, columns=("age", "city"))
    report = drift_report(earlier, last)
    assert list(report.columns) == ["age", "city"]
    assert report.drifted_columns == ["age"]
    assert report.reference_name == earlier.name and report.current_name == last.name
    expected = drift_report(
        earlier.features().drop_columns(["timestamp"]), last.features().drop_columns(["timestamp"])
    )
    assert report.columns["age"].statistic == expected.columns["age"].statistic
    assert report.current_rows == 2 * 300 - 1
    keys = drift_report(earlier.features(["user_id", "age"]).drop_columns(["timestamp"]),
                        LogWindow(tmp_path, "churn", since=timedelta(days=1), now=NOW))  # fmt: skip
    assert "user_id" in keys.columns and "city" not in keys.columns
