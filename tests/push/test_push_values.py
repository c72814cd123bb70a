"""Pushed values reach their declared types exactly or not at all (docs/semantics.md "Values and
their types", "Push"): real DuckDB over Parquet, SQLite registry and online store."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from push_repo import STAMP, USER, h, open_store, push_source

from skewless import FeatureStore, FeatureView, Field
from skewless.push import PushValidationError
from skewless.types import Array, Float32, Int32, Int64, String

REFS = ["narrow:score", "narrow:small", "narrow:ratio", "narrow:vector"]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[FeatureStore]:
    folder = tmp_path / "data" / "events"
    folder.mkdir(parents=True)
    history = {
        "user_id": pa.array([2], pa.int64()),
        "event_timestamp": pa.array([h(1)], STAMP),
        "created": pa.array([h(1)], STAMP),
        "score": pa.array([1], pa.int64()),
        "small": pa.array([1], pa.int32()),
        "ratio": pa.array([1.0], pa.float32()),
        "vector": pa.array([[1.0]], pa.list_(pa.float32())),
        "label": pa.array(["a"]),
    }
    pq.write_table(pa.table(history), folder / "part-000.parquet")
    store = open_store(tmp_path)
    view = FeatureView(
        name="narrow",
        entities=[USER],
        schema=[
            Field(name="score", dtype=Int64),
            Field(name="small", dtype=Int32),
            Field(name="ratio", dtype=Float32),
            Field(name="vector", dtype=Array(Float32)),
            Field(name="label", dtype=String),
        ],
        source=push_source(),
    )
    store.apply([USER, view])
    yield store
    store.close()


def row(**values: Any) -> dict[str, Any]:
    base = {"user_id": 1, "event_timestamp": h(3), "score": 1, "small": 2, "ratio": 0.5}
    return {**base, "vector": [1.0], "label": "x", **values}


def files(store: FeatureStore) -> list[str]:
    return sorted(p.name for p in (store.repo_path / "data" / "events").iterdir())


def online(store: FeatureStore) -> dict[str, list[Any]]:
    return store.get_online_features(REFS, [{"user_id": 1}]).to_dict()


REFUSED = [
    ({"ratio": 1e300}, r"'ratio' holds 1e\+300, which is out of range for Float32 .*'narrow'"),
    ({"ratio": -1e300}, r"'ratio' holds -1e\+300, which is out of range for Float32"),
    ({"vector": [1.0, 1e300]}, r"'vector' holds 1e\+300, which is out of range for Array"),
    ({"score": 2**63}, r"'score' \(feeding 'narrow'\) holds 9223372036854775808, .*Int64"),
    ({"score": -(2**63) - 1}, r"holds -9223372036854775809, which is out of range for Int64"),
    ({"small": 2**31}, r"'small' holds 2147483648, which is out of range for Int32"),
    ({"score": 2.5}, r"'score' holds 2.5, which is not an integer"),
    ({"score": 1e300}, r"'score' holds 1e\+300, which is out of range for Int64"),
]


@pytest.mark.parametrize("to", ["online", "online_and_offline"])
@pytest.mark.parametrize(("values", "message"), REFUSED)
def test_a_value_its_type_cannot_hold_is_refused(
    store: FeatureStore, values: dict[str, Any], message: str, to: str
) -> None:
    with pytest.raises(PushValidationError, match=message):
        store.push("events_push", [row(**values)], to=to)
    assert files(store) == ["part-000.parquet"]
    assert online(store)["score"] == [None]


def test_an_unsigned_column_past_int64_is_out_of_range(store: FeatureStore) -> None:
    frame = pd.DataFrame([row()]).assign(score=np.array([2**63], dtype=np.uint64))
    with pytest.raises(PushValidationError, match=r"9223372036854775808, .* range for Int64"):
        store.push("events_push", frame, to="online_and_offline")
    assert files(store) == ["part-000.parquet"]
    frame = frame.assign(score=np.array([7], dtype=np.uint64))
    store.push("events_push", frame, to="online_and_offline")
    assert online(store)["score"] == [7]


def test_values_within_range_and_infinities_given_as_such_are_kept(
    store: FeatureStore,
) -> None:
    big = float(np.finfo(np.float32).max)
    store.push(
        "events_push",
        [row(ratio=math.inf, vector=[-math.inf, big], score=2**63 - 1, small=-(2**31))],
        to="online_and_offline",
    )
    got = online(store)
    assert got["ratio"] == [math.inf] and got["vector"] == [[-math.inf, big]]
    assert got["score"] == [2**63 - 1] and got["small"] == [-(2**31)]
    entity = pd.DataFrame({"user_id": [1], "event_timestamp": [h(4)]})
    offline = store.get_historical_features(entity, REFS).to_arrow().to_pydict()
    assert offline["ratio"] == [math.inf] and offline["score"] == [2**63 - 1]
