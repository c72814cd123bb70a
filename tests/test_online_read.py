"""Online reads (docs/semantics.md "Online reads") over a real SQLite online store."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from skewless import Entity, FeatureService, FeatureView, Field, FileSource
from skewless._contracts import StoredRow
from skewless.config import SqliteOnlineConfig
from skewless.errors import EntityFrameError, FeatureNotFoundError
from skewless.online.codec import ViewCodec
from skewless.online.sqlite.store import SqliteOnlineStore
from skewless.online_read import OnlineReader
from skewless.registry.snapshot import RegistrySnapshot
from skewless.types import Bytes, Float32, Float64, Int64, String, UnixTimestamp

NOW = datetime(2024, 3, 1, 12, tzinfo=UTC)
USER = Entity(name="user", join_keys=["user_id"])
REGION = Entity(name="region", join_keys=["region"])
STATS = FeatureView(
    name="stats",
    entities=[USER],
    ttl=timedelta(hours=1),
    schema=[
        Field(name="score", dtype=Int64),
        Field(name="label", dtype=String),
        Field(name="amount", dtype=Float32),
        Field(name="raw", dtype=Bytes),
        Field(name="seen", dtype=UnixTimestamp),
    ],
    source=FileSource(path="stats.parquet"),
)
GEO = FeatureView(
    name="geo",
    entities=[USER, REGION],
    schema=[Field(name="visits", dtype=Int64), Field(name="score", dtype=Float64)],
    source=FileSource(path="geo.parquet"),
)


class CountingStore(SqliteOnlineStore):
    """The real SQLite store, counting its read calls."""

    reads = 0

    def read(self, lookups: Sequence[tuple[str, Sequence[bytes]]]) -> list[list[StoredRow | None]]:
        self.reads += 1
        return super().read(lookups)


def _snapshot(*views: FeatureView, version: int = 1) -> RegistrySnapshot:
    return RegistrySnapshot(
        project="shop",
        version=version,
        entities={"user": USER, "region": REGION},
        feature_views={v.name: v for v in views},
    )


@pytest.fixture
def online(tmp_path: Path) -> Iterator[CountingStore]:
    store = CountingStore(SqliteOnlineConfig(path="online.db"), tmp_path)
    yield store
    store.close()


def put(
    store: SqliteOnlineStore, snapshot: RegistrySnapshot, view: FeatureView, rows: list[dict]
) -> None:
    """Write rows (join keys, ts, optional created, features) as materialization would."""
    columns: dict[str, pa.Array] = {}
    for key in view.join_keys:
        columns[key] = pa.array([r[key] for r in rows])
    stamp = pa.timestamp("us", "UTC")
    columns["__event_ts"] = pa.array([r["ts"] for r in rows], stamp)
    columns["__created_ts"] = pa.array([r.get("created") for r in rows], stamp)
    for f in view.features:
        columns[f.name] = pa.array([r.get(f.name) for r in rows], f.dtype.to_arrow())
    store.write(snapshot.online_table(view), ViewCodec(view).encode_rows(pa.table(columns)))


def _reader(store: SqliteOnlineStore, snapshot: RegistrySnapshot) -> OnlineReader:
    return OnlineReader(store, lambda: snapshot)


STATS_REFS = ["stats:score", "stats:label", "stats:amount", "stats:raw", "stats:seen"]


def test_values_and_each_status(online: CountingStore) -> None:
    snap = _snapshot(STATS)
    put(
        online,
        snap,
        STATS,
        [
            {"user_id": 1, "ts": NOW - timedelta(minutes=5), "score": 7, "label": "a",
             "amount": 0.1, "raw": b"\x00\x01", "seen": NOW},
            {"user_id": 2, "ts": NOW - timedelta(minutes=5), "score": None, "label": "b"},
            {"user_id": 3, "ts": NOW - timedelta(hours=2), "score": 9, "label": "old"},
        ],
    )  # fmt: skip
    response = _reader(online, snap).read(
        STATS_REFS, [{"user_id": u} for u in (1, 2, 3, 4)], now=NOW
    )
    values = response.to_dict()
    assert list(values) == ["user_id", "score", "label", "amount", "raw", "seen"]
    assert values["user_id"] == [1, 2, 3, 4]
    assert values["score"] == [7, None, None, None]
    assert values["label"] == ["a", "b", None, None]
    assert values["amount"] == [pytest.approx(0.1, rel=1e-7), None, None, None]
    assert values["raw"] == [b"\x00\x01", None, None, None]
    assert values["seen"] == [NOW, None, None, None]
    statuses = response.statuses
    assert statuses["user_id"] == ["PRESENT"] * 4
    assert statuses["score"] == ["PRESENT", "NULL_VALUE", "OUTSIDE_MAX_AGE", "NOT_FOUND"]
    assert statuses["label"] == ["PRESENT", "PRESENT", "OUTSIDE_MAX_AGE", "NOT_FOUND"]
    times = response.event_timestamps
    assert times["user_id"] == [None] * 4
    assert times["score"] == [
        NOW - timedelta(minutes=5),
        NOW - timedelta(minutes=5),
        NOW - timedelta(hours=2),
        None,
    ]
    assert times["score"][0].tzinfo is not None
    assert online.reads == 1


def test_ttl_boundary_is_inclusive(online: CountingStore) -> None:
    snap = _snapshot(STATS)
    put(
        online,
        snap,
        STATS,
        [
            {"user_id": 1, "ts": NOW - timedelta(hours=1), "score": 1},
            {"user_id": 2, "ts": NOW - timedelta(hours=1, microseconds=1), "score": 2},
            {"user_id": 3, "ts": NOW + timedelta(hours=1), "score": 3},  # in the future
        ],
    )
    response = _reader(online, snap).read(["stats:score"], {"user_id": [1, 2, 3]}, now=NOW)
    assert response.to_dict()["score"] == [1, None, 3]
    assert response.statuses["score"] == ["PRESENT", "OUTSIDE_MAX_AGE", "PRESENT"]


def test_unbounded_ttl_never_expires(online: CountingStore) -> None:
    snap = _snapshot(GEO)
    put(
        online, snap, GEO, [{"user_id": 1, "region": "eu", "ts": datetime(1990, 1, 1), "visits": 4}]
    )
    got = _reader(online, snap).read(["geo:visits"], [{"user_id": 1, "region": "eu"}], now=NOW)
    assert got.statuses["visits"] == ["PRESENT"] and got.to_dict()["visits"] == [4]


def test_compound_keys_and_every_entity_row_shape(online: CountingStore) -> None:
    snap = _snapshot(GEO)
    put(
        online,
        snap,
        GEO,
        [
            {"user_id": 1, "region": "eu", "ts": NOW, "visits": 10, "score": 0.5},
            {"user_id": 1, "region": "EU", "ts": NOW, "visits": 11, "score": 1.5},
            {"user_id": 2, "region": "eu", "ts": NOW, "visits": 20, "score": None},
        ],
    )
    reader = _reader(online, snap)
    refs = ["geo:visits", "geo:score"]
    rows = [
        {"region": r, "user_id": u}
        for u, r in [(1, "eu"), (1, "EU"), (2, "eu"), (2, "us"), (1, "eu")]
    ]
    expected = {
        "region": ["eu", "EU", "eu", "us", "eu"],
        "user_id": [1, 1, 2, 2, 1],
        "visits": [10, 11, 20, None, 10],
        "score": [0.5, 1.5, None, None, 0.5],
    }
    assert reader.read(refs, rows, now=NOW).to_dict() == expected
    as_columns = {"region": expected["region"], "user_id": expected["user_id"]}
    assert reader.read(refs, as_columns, now=NOW).to_dict() == expected
    numpy_columns = {"region": np.array(expected["region"]), "user_id": np.array([1, 1, 2, 2, 1])}
    assert reader.read(refs, numpy_columns, now=NOW).to_dict() == expected
    frame = pd.DataFrame(as_columns)
    assert reader.read(refs, frame, now=NOW).to_dict() == expected
    assert reader.read(refs, pa.table(as_columns), now=NOW).to_dict() == expected
    floats = {"region": ["eu"], "user_id": [1.0]}  # pandas makes int keys float when one is null
    assert reader.read(refs, floats, now=NOW).to_dict()["visits"] == [10]


def test_null_keys_are_not_found(online: CountingStore) -> None:
    snap = _snapshot(STATS)
    put(online, snap, STATS, [{"user_id": 1, "ts": NOW, "score": 1}])
    got = _reader(online, snap).read(["stats:score"], {"user_id": [None, 1, float("nan")]}, now=NOW)
    assert got.to_dict()["score"] == [None, 1, None]
    assert got.statuses["score"] == ["NOT_FOUND", "PRESENT", "NOT_FOUND"]
    assert got.statuses["user_id"] == ["NULL_VALUE", "PRESENT", "PRESENT"]


def test_views_share_one_store_call_in_request_order(online: CountingStore) -> None:
    snap = _snapshot(STATS, GEO)
    put(online, snap, STATS, [{"user_id": 1, "ts": NOW, "score": 3, "label": "x"}])
    put(online, snap, GEO, [{"user_id": 1, "region": "eu", "ts": NOW, "visits": 5, "score": 2.5}])
    reader = _reader(online, snap)
    refs = ["geo:visits", "stats:label", "geo:score", "stats:score"]
    got = reader.read(refs, [{"user_id": 1, "region": "eu"}], full_feature_names=True, now=NOW)
    assert got.to_dict() == {
        "user_id": [1],
        "region": ["eu"],
        "geo__visits": [5],
        "geo__score": [2.5],
        "stats__label": ["x"],
        "stats__score": [3],
    }
    assert online.reads == 1
    with pytest.raises(FeatureNotFoundError, match="full_feature_names=True"):
        reader.read(refs, [{"user_id": 1, "region": "eu"}], now=NOW)


def test_feature_services_and_their_names(online: CountingStore) -> None:
    service = FeatureService(name="model_v1", features=[STATS[["label"]], GEO[["visits"]]])
    snap = replace(_snapshot(STATS, GEO), feature_services={"model_v1": service})
    put(online, snap, STATS, [{"user_id": 1, "ts": NOW, "label": "x"}])
    reader = _reader(online, snap)
    rows = [{"user_id": 1, "region": "eu"}]
    by_object = reader.read(service, rows, now=NOW).to_dict()
    assert by_object == reader.read("model_v1", rows, now=NOW).to_dict()
    assert by_object == {"user_id": [1], "region": ["eu"], "label": ["x"], "visits": [None]}


def test_entity_rows_errors_name_the_column(online: CountingStore) -> None:
    reader = _reader(online, _snapshot(STATS, GEO))
    with pytest.raises(EntityFrameError, match="'driver_id' is not a join key"):
        reader.read(["stats:score"], [{"user_id": 1, "driver_id": 2}], now=NOW)
    with pytest.raises(EntityFrameError, match="'region' is not a join key"):
        reader.read(["stats:score"], {"user_id": [1], "region": ["eu"]}, now=NOW)
    with pytest.raises(EntityFrameError, match="join key 'region' of feature view 'geo'"):
        reader.read(["stats:score", "geo:visits"], [{"user_id": 1}], now=NOW)
    with pytest.raises(EntityFrameError, match="join key 'user_id'"):
        reader.read(["stats:score"], [{"userid": 1}] * 2, now=NOW)
    with pytest.raises(EntityFrameError, match="entity row 1 has columns"):
        reader.read(["stats:score"], [{"user_id": 1}, {"user": 2}], now=NOW)
    with pytest.raises(EntityFrameError, match="entity row 2 has columns"):
        reader.read(
            ["stats:score"], [{"user_id": 1}, {"user_id": 1}, {"user_id": 2, "x": 1}], now=NOW
        )
    with pytest.raises(EntityFrameError, match="different lengths"):
        reader.read(["geo:visits"], {"user_id": [1, 2], "region": ["eu"]}, now=NOW)
    with pytest.raises(EntityFrameError, match="list of dicts"):
        reader.read(["stats:score"], [1, 2], now=NOW)
    with pytest.raises(FeatureNotFoundError, match="no feature 'nope'"):
        reader.read(["stats:nope"], [{"user_id": 1}], now=NOW)


def test_no_entities_gives_empty_columns(online: CountingStore) -> None:
    got = _reader(online, _snapshot(STATS)).read(["stats:score"], [], now=NOW)
    assert got.to_dict() == {"user_id": [], "score": []}
    assert online.reads == 0


def test_offline_only_views_are_refused(online: CountingStore) -> None:
    offline = replace(STATS, online=False)
    with pytest.raises(FeatureNotFoundError, match="online=False"):
        _reader(online, _snapshot(offline)).read(["stats:score"], [{"user_id": 1}], now=NOW)


def test_all_outside_max_age_logs_one_hint(
    online: CountingStore, caplog: pytest.LogCaptureFixture
) -> None:
    snap = _snapshot(STATS)
    old = NOW - timedelta(days=3)
    put(online, snap, STATS, [{"user_id": u, "ts": old, "score": u} for u in (1, 2)])
    put(online, snap, STATS, [{"user_id": 3, "ts": NOW, "score": 3}])
    reader = _reader(online, snap)
    with caplog.at_level(logging.WARNING, logger="skewless"):
        reader.read(["stats:score"], {"user_id": [1, 3]}, now=NOW)  # one PRESENT: no hint
        assert caplog.records == []
        reader.read(["stats:score"], {"user_id": [1, 2]}, now=NOW)
        reader.read(["stats:score"], {"user_id": [1, 2]}, now=NOW)  # not repeated at once
    (record,) = caplog.records
    message = record.getMessage()
    assert record.name == "skewless" and "\n" not in message
    assert "OUTSIDE_MAX_AGE" in message and "materialize" in message and "ttl" in message
    assert "docs/feast-differences.md" in message


def test_plan_is_cached_until_the_snapshot_changes(online: CountingStore) -> None:
    snap = _snapshot(STATS)
    put(online, snap, STATS, [{"user_id": 1, "ts": NOW, "score": 1}])
    current = [snap]
    reader = OnlineReader(online, lambda: current[0])
    assert reader.read(["stats:score"], [{"user_id": 1}], now=NOW).to_dict()["score"] == [1]
    plans = dict(reader._plans)
    reader.read(["stats:score"], [{"user_id": 2}], now=NOW)
    assert reader._plans == plans and len(plans) == 1

    # A new definition (longer ttl) is a new data version with its own online table.
    changed = replace(STATS, ttl=timedelta(hours=5))
    current[0] = _snapshot(changed, version=2)
    assert current[0].online_table(changed) != snap.online_table(STATS)
    put(online, current[0], changed, [{"user_id": 1, "ts": NOW - timedelta(hours=3), "score": 9}])
    got = reader.read(["stats:score"], [{"user_id": 1}], now=NOW)
    assert got.to_dict()["score"] == [9] and got.statuses["score"] == ["PRESENT"]
    assert set(map(id, reader._plans.values())).isdisjoint(map(id, plans.values()))


def test_to_arrow_keeps_declared_types_and_to_df_uses_feasts(online: CountingStore) -> None:
    snap = _snapshot(STATS)
    put(online, snap, STATS, [{"user_id": 1, "ts": NOW, "score": 1, "amount": 0.5, "seen": NOW}])
    got = _reader(online, snap).read(STATS_REFS, {"user_id": [1, 2]}, now=NOW)
    table = got.to_arrow()
    assert table.schema.field("score").type == pa.int64()
    assert table.schema.field("amount").type == pa.float32()
    assert table.schema.field("seen").type == pa.timestamp("us", "UTC")
    assert table.column("score").to_pylist() == [1, None]
    frame = got.to_df()
    assert list(frame.columns) == ["user_id", *[r.split(":")[1] for r in STATS_REFS]]
    assert frame["score"].dtype == np.float64  # an int column with nulls, as Feast gives it
    assert len(got) == 2


def _values(response: Any) -> list:
    return [response.to_dict()[k] for k in response.feature_names]


def test_reads_follow_new_writes(online: CountingStore) -> None:
    snap = _snapshot(STATS)
    reader = _reader(online, snap)
    assert _values(reader.read(["stats:score"], [{"user_id": 1}], now=NOW)) == [[1], [None]]
    put(online, snap, STATS, [{"user_id": 1, "ts": NOW, "score": 5}])
    assert _values(reader.read(["stats:score"], [{"user_id": 1}], now=NOW)) == [[1], [5]]
