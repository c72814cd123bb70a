"""join_labels against a slow, obviously-correct point-in-time join, on random data."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import polars as pl
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from skewless.errors import MonitorInputError
from skewless.monitoring.labels import as_duration, join_labels, label_counts

T0 = datetime(2024, 3, 1, tzinfo=UTC)
UTC_US = pa.timestamp("us", tz="UTC")


def reference_join(
    log: list[dict[str, Any]],
    labels: list[dict[str, Any]],
    keys: list[str],
    max_delay: timedelta | None,
) -> tuple[list[tuple[int, Any, datetime]], dict[str, int]]:
    """(log row index, label, label time) per labelled log row in log order, and the counts,
    by the rule as written: each label goes to the latest prediction of its key at or before
    it (the later log row at equal times), within max_delay; the latest label (the later
    label row at equal times) wins."""
    best: dict[int, tuple[datetime, int, Any]] = {}
    counts = {"labels": len(labels), "joined": 0, "unmatched": 0, "superseded": 0, "null": 0}
    matched = 0
    for j, lab in enumerate(labels):
        if lab["label"] is None:
            counts["null"] += 1
            continue
        candidates = [
            i
            for i, p in enumerate(log)
            if lab["when"] is not None
            and all(lab[k] is not None and p[k] == lab[k] for k in keys)
            and p["timestamp"] <= lab["when"]
            and (max_delay is None or lab["when"] - p["timestamp"] <= max_delay)
        ]
        if not candidates:
            counts["unmatched"] += 1
            continue
        matched += 1
        chosen = max(candidates, key=lambda i: (log[i]["timestamp"], i))
        if chosen not in best or (lab["when"], j) > best[chosen][:2]:
            best[chosen] = (lab["when"], j, lab["label"])
    counts["joined"] = len(best)
    counts["superseded"] = matched - len(best)
    return [(i, best[i][2], best[i][0]) for i in sorted(best)], counts


def _log_table(rows: list[dict[str, Any]], keys: list[str]) -> pa.Table:
    return pa.table(
        {
            "request_id": pa.array([f"r{i}" for i in range(len(rows))], pa.string()),
            "row": pa.array([0] * len(rows), pa.int32()),
            "timestamp": pa.array([r["timestamp"] for r in rows], UTC_US),
            **{k: [r[k] for r in rows] for k in keys},
            "prediction": pa.array([i % 2 for i in range(len(rows))], pa.int64()),
        },
        schema=pa.schema(
            [
                ("request_id", pa.string()),
                ("row", pa.int32()),
                ("timestamp", UTC_US),
                *[(k, pa.int64() if k == "user_id" else pa.string()) for k in keys],
                ("prediction", pa.int64()),
            ]
        ),
    )


def _label_table(rows: list[dict[str, Any]], keys: list[str]) -> pa.Table:
    return pa.table(
        {
            **{
                k: pa.array([r[k] for r in rows], pa.int64() if k == "user_id" else pa.string())
                for k in keys
            },
            "event_timestamp": pa.array([r["when"] for r in rows], UTC_US),
            "label": pa.array([r["label"] for r in rows], pa.int64()),
        }
    )


minutes = st.integers(0, 12).map(lambda m: T0 + timedelta(minutes=m))
user_ids = st.sampled_from([1, 2, 3])
cities = st.sampled_from(["a", "b"])
log_rows = st.lists(
    st.fixed_dictionaries(
        {"timestamp": minutes, "user_id": st.one_of(user_ids, st.none()), "city": cities}
    ),
    max_size=25,
)
label_rows = st.lists(
    st.fixed_dictionaries(
        {
            "when": st.one_of(minutes, st.none()),
            "user_id": st.one_of(user_ids, st.none()),
            "city": cities,
            "label": st.one_of(st.integers(0, 9), st.none()),
        }
    ),
    max_size=25,
)


@settings(max_examples=300, deadline=None)
@given(
    log_rows,
    label_rows,
    st.sampled_from([["user_id"], ["user_id", "city"], ["city"]]),
    st.one_of(st.none(), st.integers(0, 6).map(lambda m: timedelta(minutes=m))),
)
def test_join_labels_equals_the_reference(
    log: list[dict[str, Any]],
    labels: list[dict[str, Any]],
    keys: list[str],
    max_delay: timedelta | None,
) -> None:
    joined = join_labels(
        _log_table(log, keys), _label_table(labels, keys), keys, max_delay=max_delay
    )
    expected, counts = reference_join(log, labels, keys, max_delay)
    assert joined.column("request_id").to_pylist() == [f"r{i}" for i, _, _ in expected]
    assert joined.column("label").to_pylist() == [v for _, v, _ in expected]
    assert joined.column("label_timestamp").to_pylist() == [t for _, _, t in expected]
    assert label_counts(joined) == counts
    assert joined.column_names == [*_log_table(log, keys).column_names, "label", "label_timestamp"]
    assert joined.schema.field("label_timestamp").type == UTC_US


def _hand_log() -> pa.Table:
    return _log_table(
        [
            {"timestamp": T0, "user_id": 1},  # r0
            {"timestamp": T0 + timedelta(hours=2), "user_id": 1},  # r1
            {"timestamp": T0 + timedelta(hours=2), "user_id": 1},  # r2: ties r1, later row
            {"timestamp": T0 + timedelta(hours=1), "user_id": 2},  # r3
        ],
        ["user_id"],
    )


def test_a_hand_checked_join() -> None:
    labels = _label_table(
        [
            {"when": T0 - timedelta(hours=1), "user_id": 1, "label": 5},  # before any prediction
            {"when": T0 + timedelta(hours=1), "user_id": 1, "label": 6},  # -> r0
            {"when": T0 + timedelta(hours=3), "user_id": 1, "label": 7},  # -> r2 (the tie)
            {"when": T0 + timedelta(hours=4), "user_id": 1, "label": 8},  # -> r2, later: wins
            {"when": T0 + timedelta(hours=9), "user_id": 2, "label": 9},  # -> r3
            {"when": T0 + timedelta(hours=9), "user_id": 3, "label": 1},  # no such user
        ],
        ["user_id"],
    )
    joined = join_labels(_hand_log(), labels, "user_id")
    assert joined.column("request_id").to_pylist() == ["r0", "r2", "r3"]
    assert joined.column("label").to_pylist() == [6, 8, 9]
    assert label_counts(joined) == {
        "labels": 6,
        "joined": 3,
        "unmatched": 2,
        "superseded": 1,
        "null": 0,
    }
    within = join_labels(_hand_log(), labels, "user_id", max_delay="1h")
    assert within.column("request_id").to_pylist() == ["r0", "r2"]
    assert within.column("label").to_pylist() == [6, 7]  # 8 came 2 h after r2
    delayed = join_labels(_hand_log(), labels, "user_id", max_delay=timedelta(hours=2))
    assert delayed.column("request_id").to_pylist() == ["r0", "r2"]
    assert delayed.column("label").to_pylist() == [6, 8]


def test_labels_as_frames_and_parquet_with_naive_times_and_narrower_types(
    tmp_path: Path,
) -> None:
    frame = pd.DataFrame(
        {
            "user_id": pd.array([1, 2], dtype="int32"),
            "at": [datetime(2024, 3, 1, 1), datetime(2024, 3, 1, 5)],  # naive: UTC
            "churned": [True, False],
        }
    )
    path = tmp_path / "labels.parquet"
    frame.to_parquet(path)
    for given_labels in (frame, pl.from_pandas(frame), path, str(path)):
        joined = join_labels(
            _hand_log(), given_labels, ["user_id"], label="churned", timestamp="at"
        )
        assert joined.column("request_id").to_pylist() == ["r0", "r3"]
        assert joined.column("label").to_pylist() == [True, False]
        assert joined.column("label_timestamp").to_pylist() == [
            T0 + timedelta(hours=1),
            T0 + timedelta(hours=5),
        ]
        assert joined.schema.field("user_id").type == pa.int64()  # the log's own type


def test_string_keys_of_other_string_types_and_categories_join() -> None:
    log = _log_table([{"timestamp": T0, "city": "a"}, {"timestamp": T0, "city": "b"}], ["city"])
    labels = pd.DataFrame({"city": pd.Categorical(["b"]), "event_timestamp": [T0], "label": [1]})
    assert join_labels(log, labels, "city").column("request_id").to_pylist() == ["r1"]
    large = pa.table(
        {
            "city": pa.array(["a"], pa.large_string()),
            "event_timestamp": pa.array([T0], UTC_US),
            "label": [0],
        }
    )
    assert join_labels(log, large, "city").column("request_id").to_pylist() == ["r0"]


def test_nothing_to_join_gives_an_empty_table_of_the_shape() -> None:
    labels = _label_table([], ["user_id"])
    joined = join_labels(_hand_log(), labels, "user_id")
    assert joined.num_rows == 0
    assert joined.column_names[-2:] == ["label", "label_timestamp"]
    assert label_counts(joined) == {
        "labels": 0,
        "joined": 0,
        "unmatched": 0,
        "superseded": 0,
        "null": 0,
    }
    assert label_counts(_hand_log()) is None


def _labels(**columns: Any) -> pa.Table:
    base: dict[str, Any] = {
        "user_id": pa.array([1], pa.int64()),
        "event_timestamp": pa.array([T0], UTC_US),
        "label": [1],
    }
    base.update(columns)
    return pa.table({k: v for k, v in base.items() if v is not None})


@pytest.mark.parametrize(
    ("labels", "kwargs", "message"),
    [
        (_labels(user_id=None), {}, "the labels have no column 'user_id'"),
        (_labels(label=None), {}, "the labels have no column 'label'"),
        (_labels(), {"label": "churned"}, "no column 'churned'"),
        (_labels(), {"timestamp": "at"}, "no column 'at' (they have: user_id, event_timestamp"),
        (_labels(user_id=["1"]), {}, "key column 'user_id' is int64 in the prediction log but "),
        (_labels(user_id=[1.0]), {}, "cast the labels' 'user_id' to int64"),
        (_labels(event_timestamp=["2024-03-01"]), {}, "'event_timestamp' is string, not a time"),
        (_labels(), {"max_delay": -timedelta(hours=1)}, "max_delay -1 day, 23:00:00 is not a "),
        (_labels(), {"max_delay": "soon"}, "max_delay 'soon' is not a duration of 0 or more"),
        (_labels(), {"keys": []}, "keys is empty"),
        (_labels(), {"keys": ["city"]}, "prediction log rows have no column 'city'"),
    ],
)
def test_bad_input_is_one_clear_error(labels: pa.Table, kwargs: Any, message: str) -> None:
    keys = kwargs.pop("keys", "user_id")
    with pytest.raises(MonitorInputError) as caught:
        join_labels(_hand_log(), labels, keys, **kwargs)
    text = str(caught.value)
    assert message in text and "\n" not in text
    assert isinstance(caught.value, ValueError)


def test_the_log_and_labels_must_be_tables() -> None:
    with pytest.raises(MonitorInputError, match="not a Parquet file or directory"):
        join_labels(_hand_log(), "no/such/labels.parquet", "user_id")
    with pytest.raises(MonitorInputError, match="cannot read the labels from a dict"):
        join_labels(_hand_log(), {"user_id": [1]}, "user_id")
    taken = _hand_log().append_column("label", pa.array([0, 0, 0, 0]))
    with pytest.raises(MonitorInputError, match="already has a column 'label'"):
        join_labels(taken, _labels(), "user_id")


def test_durations() -> None:
    assert as_duration("90m", "w") == timedelta(minutes=90)
    assert as_duration("2w", "w") == timedelta(days=14)
    assert as_duration(timedelta(hours=6), "w") == timedelta(hours=6)
    assert as_duration(timedelta(0), "w", zero=True) == timedelta(0)
    with pytest.raises(MonitorInputError, match="window '1 day' is not a positive duration"):
        as_duration("1 day", "window")
    with pytest.raises(MonitorInputError, match="window 0:00:00 is not a positive duration"):
        as_duration("0h", "window")
