"""Map, Json and Struct features: stored from struct or JSON-text columns, returned as dicts
offline (``to_df``) and online (``to_dict``), pushed as dicts or JSON text."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest

from skewless import Entity, FeatureStore, FeatureView, Field, FileSource, PushSource
from skewless._types import dtype_from_name
from skewless.push import PushValidationError
from skewless.types import Array, Float32, Int64, Json, Map, String, Struct

NOW = datetime(2024, 5, 1, 12, tzinfo=UTC)
PROFILE = Struct({"name": String, "age": String})
DRIVER = Entity(name="driver", join_keys=["driver_id"])
FEATURES = ["stats:conv_rate", "stats:meta", "stats:config", "stats:profile"]


def _repo(tmp_path: Path) -> FeatureStore:
    (tmp_path / "data").mkdir()
    (tmp_path / "feature_store.yaml").write_text("project: docs\n")
    pd.DataFrame(
        {
            "driver_id": [1, 1, 2],
            "event_timestamp": [NOW - timedelta(hours=h) for h in (3, 1, 2)],
            "conv_rate": [0.25, 0.5, 0.75],
            "meta": [{"vehicle": "van", "rating": "1"}, {"vehicle": "car", "rating": "2"}, None],
            "config": [json.dumps({"zones": [i, "n"]}) for i in range(3)],
            "profile": [{"name": f"d{i}", "age": str(30 + i)} for i in range(3)],
        }
    ).to_parquet(tmp_path / "data" / "stats.parquet")
    source = FileSource(path="data/stats.parquet")
    schema = [
        Field(name="conv_rate", dtype=Float32),
        Field(name="meta", dtype=Map),
        Field(name="config", dtype=Json),
        Field(name="profile", dtype=PROFILE),
    ]
    stats = FeatureView(
        name="stats", entities=[DRIVER], ttl=timedelta(days=1), schema=schema, source=source
    )
    fresh = FeatureView(
        name="fresh",
        entities=[DRIVER],
        ttl=timedelta(days=1),
        schema=schema,
        source=PushSource(name="push", batch_source=source),
    )
    store = FeatureStore(tmp_path, clock=lambda: NOW)
    store.apply([DRIVER, stats, fresh])
    return store


def test_type_names_round_trip() -> None:
    for dtype in (Map, Json, PROFILE, Struct({"tags": Array(String), "n": Int64})):
        assert dtype_from_name(str(dtype)) == dtype
    assert PROFILE.to_arrow() == pa.struct([("name", pa.string()), ("age", pa.string())])
    with pytest.raises(TypeError, match="Struct field 'x'"):
        Struct({"x": Map})


def test_historical_and_online_values_are_dicts(tmp_path: Path) -> None:
    store = _repo(tmp_path)
    entity = pd.DataFrame({"driver_id": [1, 2, 3], "event_timestamp": [NOW] * 3})
    frame = store.get_historical_features(entity, FEATURES).to_df()
    assert frame["meta"].tolist() == [{"vehicle": "car", "rating": "2"}, None, None]
    assert frame["config"].tolist() == [{"zones": [1, "n"]}, {"zones": [2, "n"]}, None]
    assert frame["profile"].tolist() == [
        {"name": "d1", "age": "31"},
        {"name": "d2", "age": "32"},
        None,
    ]
    # Arrow keeps the JSON text of Map/Json and the struct of a Struct.
    table = store.get_historical_features(entity, FEATURES).to_arrow()
    assert table.schema.field("meta").type == pa.string()
    assert json.loads(table.column("meta")[0].as_py()) == {"vehicle": "car", "rating": "2"}

    store.materialize(NOW - timedelta(days=1), NOW)
    online = store.get_online_features(FEATURES, [{"driver_id": 1}, {"driver_id": 2}])
    values = online.to_dict()
    assert values["meta"] == [{"vehicle": "car", "rating": "2"}, None]
    assert values["config"] == [{"zones": [1, "n"]}, {"zones": [2, "n"]}]
    assert values["profile"] == [{"name": "d1", "age": "31"}, {"name": "d2", "age": "32"}]
    assert online.to_df()["config"].tolist() == values["config"]
    store.close()


def test_push_takes_dicts_or_json_text_and_refuses_bad_json(tmp_path: Path) -> None:
    store = _repo(tmp_path)
    row = {
        "driver_id": 1,
        "event_timestamp": NOW,
        "conv_rate": 1.0,
        "meta": {"vehicle": "truck", "rating": "5.0"},
        "config": json.dumps({"max_distance_km": 500}),
        "profile": {"name": "updated", "age": "30"},
    }
    with pytest.raises(PushValidationError, match=r"'config'.*not JSON text"):
        store.push("push", [{**row, "config": "{not json"}], to="online_and_offline")
    with pytest.raises(PushValidationError, match=r"'meta'.*not a mapping"):
        store.push("push", [{**row, "meta": json.dumps([1, 2])}], to="online")
    assert len(pd.read_parquet(tmp_path / "data" / "stats.parquet")) == 3  # nothing written
    store.push("push", [row], to="online_and_offline")
    values = store.get_online_features(
        ["fresh:meta", "fresh:config", "fresh:profile"], [{"driver_id": 1}]
    ).to_dict()
    assert values["meta"] == [{"vehicle": "truck", "rating": "5.0"}]
    assert values["config"] == [{"max_distance_km": 500}]
    assert values["profile"] == [{"name": "updated", "age": "30"}]
    # Offline the row was appended to the single-file source in the file's own types.
    history = pd.read_parquet(tmp_path / "data" / "stats.parquet")
    assert history["meta"].tolist()[-1] == {"vehicle": "truck", "rating": "5.0"}
    entity = pd.DataFrame({"driver_id": [1], "event_timestamp": [NOW]})
    frame = store.get_historical_features(entity, ["fresh:meta", "fresh:config"]).to_df()
    assert frame["config"].tolist() == [{"max_distance_km": 500}]
    store.close()
