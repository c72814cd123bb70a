"""Window features through a real ``skewless serve`` process: read, push (re-delivered), read."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "server"))

from feature_server import ServerProcess

from skewless import Client
from skewless.repo import load_repo_objects
from skewless.store import FeatureStore

T0 = datetime(2024, 3, 1, 12, tzinfo=UTC)
FEATURES_PY = """\
from datetime import timedelta

from skewless import Aggregation, BatchFeatureView, Entity, Field, FileSource, PushSource
from skewless.types import Float64, Int64

user = Entity(name="user", join_keys=["user_id"])
txn_push = PushSource(
    name="txn_push",
    batch_source=FileSource(path="data/txns/", timestamp_field="event_timestamp"),
)
txn_stats = BatchFeatureView(
    name="txn_stats",
    entities=[user],
    source=txn_push,
    schema=[Field(name="amount", dtype=Float64), Field(name="txn_id", dtype=Int64)],
    aggregations=[
        Aggregation(column="amount", function="count", time_window=None),
        Aggregation(column="amount", function="sum", time_window=None),
        Aggregation(column="amount", function="max", time_window=timedelta(days=36500)),
    ],
    event_id="txn_id",
)
"""
FEATURES = [
    "txn_stats:count_amount_lifetime",
    "txn_stats:sum_amount_lifetime",
    "txn_stats:max_amount_36500d",
]


def test_served_window_features_follow_pushes_once(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    (root / "data" / "txns").mkdir(parents=True)
    (root / "feature_store.yaml").write_text(
        "project: served\nregistry: data/registry.db\n"
        "online_store:\n  type: sqlite\n  path: data/online.db\n"
    )
    (root / "features.py").write_text(FEATURES_PY)
    pq.write_table(
        pa.table(
            {
                "user_id": pa.array([1, 1, 2], pa.int64()),
                "event_timestamp": pa.array([T0, T0, T0], pa.timestamp("us", tz="UTC")),
                "amount": pa.array([10.0, 5.0, 7.0], pa.float64()),
                "txn_id": pa.array([1, 2, 3], pa.int64()),
            }
        ),
        root / "data" / "txns" / "seed.parquet",
    )
    with FeatureStore(root) as store:
        store.apply(load_repo_objects(root), partial=False)
        store.materialize(datetime(2024, 1, 1, tzinfo=UTC), T0)
    with ServerProcess(root) as server:
        client = Client(server.url)
        before = client.get_online_features(FEATURES, [{"user_id": 1}, {"user_id": 3}]).to_dict()
        assert before["count_amount_lifetime"] == [2, 0]
        assert before["sum_amount_lifetime"] == [15.0, None]
        event = {
            "user_id": 1,
            "event_timestamp": "2024-03-02T00:00:00Z",
            "amount": 40.0,
            "txn_id": 9,
        }
        for _ in range(2):  # a retried push: the same event twice
            client.push("txn_push", [event], to="online_and_offline")
        after = client.get_online_features(FEATURES, [{"user_id": 1}]).to_dict()
    assert after["count_amount_lifetime"] == [3]
    assert after["sum_amount_lifetime"] == [55.0]
    assert after["max_amount_36500d"] == [40.0]
    with FeatureStore(root) as store:
        frame = pa.table(
            {
                "user_id": [1],
                "event_timestamp": pa.array([store.now()], pa.timestamp("us", tz="UTC")),
            }
        )
        offline = store.get_historical_features(frame, FEATURES).to_arrow().to_pydict()
    assert offline["count_amount_lifetime"] == [3]
    assert offline["sum_amount_lifetime"] == [55.0]
