"""Raw events pushed offline to a window-aggregation view are aggregated by later retrievals."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pyarrow as pa
import pytest
from push_repo import HISTORY, STAMP, USER, h, open_store, push_source, write_history

from skewless import Aggregation, BatchFeatureView, Field
from skewless.errors import PushValidationError
from skewless.types import Float64, Int64


def amounts_view() -> BatchFeatureView:
    return BatchFeatureView(
        name="amounts",
        entities=[USER],
        source=push_source(),
        schema=[Field(name="amount", dtype=Float64), Field(name="score", dtype=Int64)],
        aggregations=[
            Aggregation(column="amount", function="sum", time_window=timedelta(hours=3)),
            Aggregation(column="amount", function="count", time_window=None),
        ],
        online=False,
    )


def test_pushed_raw_events_count_in_window_aggregates(tmp_path: Path) -> None:
    write_history(tmp_path, HISTORY)
    store = open_store(tmp_path)
    store.apply([USER, amounts_view()])
    pushed = [
        {"user_id": 1, "event_timestamp": h(3), "amount": 5.0, "score": 1},
        {"user_id": 1, "event_timestamp": h(4), "amount": 7.0, "score": 2},
    ]
    report = store.push("events_push", pushed, to="offline")
    assert report.rows == 2

    entity = pa.table(
        {"user_id": [1, 1, 2], "event_timestamp": pa.array([h(4), h(3), h(4)], STAMP)}
    )
    got = (
        store.get_historical_features(
            entity, ["amounts:sum_amount_3h", "amounts:count_amount_lifetime"]
        )
        .to_arrow()
        .to_pydict()
    )
    # user 1 at h4: (h1, h4] holds 5.0 and 7.0 (h1 is the open edge); at h3: (h0, h3] 1.0 + 5.0.
    assert got["sum_amount_3h"] == [12.0, 6.0, 2.0]
    assert got["count_amount_lifetime"] == [3, 2, 1]


def test_a_push_without_the_raw_column_is_refused(tmp_path: Path) -> None:
    write_history(tmp_path, HISTORY)
    store = open_store(tmp_path)
    store.apply([USER, amounts_view()])
    with pytest.raises(PushValidationError, match="amount"):
        store.push("events_push", [{"user_id": 1, "event_timestamp": h(3), "score": 1}], "offline")
