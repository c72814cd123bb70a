"""Entity keys of the wrong type, and entity rows of the wrong shape, are errors that say what
to send (docs/semantics.md "Time, keys, TTL", "Online reads", "Point-in-time retrieval").

Real DuckDB over Parquet, SQLite registry and online store in ``tmp_path``.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from embedded_store import embedded_store

from skewless import Entity, FeatureStore, FeatureView, Field, FileSource
from skewless.errors import EntityFrameError
from skewless.types import Int64, String

T0 = datetime(2024, 3, 1, tzinfo=UTC)
USER = Entity(name="user", join_keys=["user_id"], value_type=Int64)
SHOP = Entity(name="shop", join_keys=["shop"])


@pytest.fixture
def store(tmp_path: Path) -> Iterator[FeatureStore]:
    (tmp_path / "data").mkdir()
    table = pa.table(
        {
            "user_id": pa.array([1001, 1002], pa.int64()),
            "shop": pa.array(["eu", "us"]),
            "event_timestamp": pa.array([T0, T0], pa.timestamp("us", "UTC")),
            "score": pa.array([7, 8], pa.int64()),
        }
    )
    pq.write_table(table, tmp_path / "data" / "stats.parquet")
    source = FileSource(path="data/stats.parquet", timestamp_field="event_timestamp")
    users = FeatureView(
        name="stats", entities=[USER], schema=[Field(name="score", dtype=Int64)], source=source
    )
    shops = FeatureView(
        name="shops",
        entities=[SHOP],
        schema=[Field(name="shop", dtype=String), Field(name="score", dtype=Int64)],
        source=source,
    )
    store = embedded_store(tmp_path, T0)
    store.apply([USER, SHOP, users, shops])
    store.materialize(T0, T0)
    yield store
    store.close()


def scores(store: FeatureStore, rows: Any, ref: str = "stats:score") -> list[Any]:
    return store.get_online_features([ref], rows).to_dict()["score"]


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        (
            [{"user_id": "1001"}],
            r"'user_id' takes Int64 values \(entity 'user'\) but row 0 gives "
            r"a string, '1001'",
        ),
        ({"user_id": [1001, "1002"]}, r"row 1 gives a string, '1002'"),
        ([{"user_id": 1001.5}], r"gives a float, 1001.5"),
        ([{"user_id": True}], r"gives a boolean, True"),
        ([{"user_id": b"1001"}], r"gives bytes"),
    ],
)
def test_a_key_of_the_wrong_type_is_an_error_not_a_miss(
    store: FeatureStore, rows: Any, message: str
) -> None:
    with pytest.raises(EntityFrameError, match=message):
        scores(store, rows)


def test_a_string_key_declared_in_the_schema_refuses_numbers(store: FeatureStore) -> None:
    with pytest.raises(EntityFrameError, match=r"'shop' takes String .*'shops'.*an integer, 7"):
        scores(store, [{"shop": 7}], "shops:score")
    assert scores(store, [{"shop": "eu"}, {"shop": np.str_("us")}], "shops:score") == [7, 8]


def test_lossless_forms_and_nulls_are_accepted(store: FeatureStore) -> None:
    assert scores(store, [{"user_id": 1001.0}, {"user_id": np.int64(1002)}]) == [7, 8]
    assert scores(store, {"user_id": np.array([1002.0, 1001.0])}) == [8, 7]
    assert scores(store, {"user_id": [None, float("nan"), 1001]}) == [None, None, 7]
    assert scores(store, pd.DataFrame({"user_id": [1001, None]})) == [7, None]


@pytest.mark.parametrize("rows", [[{}], [{}, {}]])
def test_entity_rows_without_columns_name_the_missing_key(store: FeatureStore, rows: Any) -> None:
    with pytest.raises(EntityFrameError, match=r"lack the join key 'user_id'"):
        scores(store, rows)


def test_an_entity_frame_with_a_column_twice_is_named(store: FeatureStore) -> None:
    frame = pd.DataFrame([[1001, T0, 1002]], columns=["user_id", "event_timestamp", "user_id"])
    with pytest.raises(EntityFrameError, match=r"duplicate column\(s\) \['user_id'\]"):
        store.get_historical_features(frame, ["stats:score"])
