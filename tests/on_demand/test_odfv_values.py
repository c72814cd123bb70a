"""On-demand feature values offline and online, both modes, names, order and errors."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pytest
from odfv_repo import SAMPLE, T0, make_store, spend_pd, spend_py, stats, tier_only, txn, user

from skewless import FeatureStore, Field, on_demand_feature_view
from skewless.errors import EntityFrameError, FeatureNotFoundError, SkewlessError
from skewless.types import Float64


def _inverse(inputs: dict[str, list[Any]]) -> dict[str, list[Any]]:
    return {"inverse": [None if s is None else 1 / s for s in inputs["spend"]]}


inverse = on_demand_feature_view(
    sources=[stats[["spend"]]],
    schema=[Field(name="inverse", dtype=Float64)],
    mode="python",
    name="inverse",
)(_inverse)


@pytest.fixture
def store(tmp_path: Path) -> FeatureStore:
    from odfv_repo import write_stats

    write_stats(tmp_path, SAMPLE)
    store = make_store(tmp_path)
    store.apply([user, stats, spend_py, spend_pd, tier_only, inverse])
    store.materialize(T0 - timedelta(days=3), T0)
    return store


ENTITIES = pd.DataFrame(
    {
        "user_id": [1, 2, 3, 1],
        "event_timestamp": [T0, T0, T0, T0 - timedelta(hours=3)],
        "amount": [5.0, 1.0, 2.0, None],
    }
)
# user 1 at T0: spend 20, orders 3; user 2: spend 0, orders null; user 3: nothing;
# user 1 at T0 - 3h: spend 10, orders 2 (amount null).
EXPECTED_SHARE = [0.25, None, None, None]
EXPECTED_BIG = [0, None, None, None]


@pytest.mark.parametrize("odfv", ["spend_py", "spend_pd"])
def test_offline_values(store: FeatureStore, odfv: str) -> None:
    job = store.get_historical_features(ENTITIES, [f"{odfv}:share", f"{odfv}:big"])
    table = job.to_arrow()
    assert table.column_names == ["user_id", "event_timestamp", "amount", "share", "big"]
    assert table.schema.field("share").type == pa.float64()
    assert table.schema.field("big").type == pa.int64()
    assert table.column("share").to_pylist() == EXPECTED_SHARE
    assert table.column("big").to_pylist() == EXPECTED_BIG
    assert job.features == [f"{odfv}:share", f"{odfv}:big"]


@pytest.mark.parametrize("odfv", ["spend_py", "spend_pd"])
def test_online_values(store: FeatureStore, odfv: str) -> None:
    rows = [{"user_id": u, "amount": a} for u, a in ((1, 5.0), (2, 1.0), (3, 2.0), (1, None))]
    response = store.get_online_features([f"{odfv}:share", f"{odfv}:big"], rows)
    assert response.to_dict() == {
        "user_id": [1, 2, 3, 1],
        "share": [0.25, None, None, None],
        "big": [0, None, None, None],
    }
    assert response.statuses["share"] == ["PRESENT", "NULL_VALUE", "NULL_VALUE", "NULL_VALUE"]
    assert response.event_timestamps["share"] == [None] * 4
    assert response.to_arrow().schema.field("big").type == pa.int64()


def test_mixed_request_order_and_full_names(store: FeatureStore) -> None:
    refs = ["stats:tier", "spend_py:share", "stats:spend", "tier_only:tier_upper"]
    offline = store.get_historical_features(ENTITIES, refs, full_feature_names=True).to_arrow()
    names = ["stats__tier", "stats__spend", "spend_py__share", "tier_only__tier_upper"]
    assert offline.column_names == ["user_id", "event_timestamp", "amount", *names]
    rows = {"user_id": [1, 2, 3], "amount": [5.0, 1.0, 2.0]}
    online = store.get_online_features(refs, rows, full_feature_names=True)
    assert online.feature_names == ["user_id", *names]
    assert online.to_dict()["tier_only__tier_upper"] == ["GOLD", None, None]
    assert list(online.statuses) == ["user_id", *names]
    assert online.statuses["stats__tier"] == ["PRESENT", "NULL_VALUE", "NOT_FOUND"]
    for name in names:
        assert offline.column(name).to_pylist()[:3] == online.to_dict()[name]


def test_same_feature_name_in_two_views_needs_full_names(store: FeatureStore) -> None:
    with pytest.raises(FeatureNotFoundError, match="full_feature_names=True"):
        store.get_online_features(["spend_py:share", "spend_pd:share"], {"user_id": [1]})


def test_unknown_on_demand_feature(store: FeatureStore) -> None:
    with pytest.raises(FeatureNotFoundError, match="has no feature 'nope'"):
        store.get_online_features(["spend_py:nope"], {"user_id": [1]})


def test_missing_request_data_is_an_entity_error(store: FeatureStore) -> None:
    with pytest.raises(EntityFrameError, match="no column 'amount', request data of"):
        store.get_historical_features(ENTITIES.drop(columns=["amount"]), ["spend_py:share"])
    with pytest.raises(EntityFrameError, match="entity_rows has no column 'amount'"):
        store.get_online_features(["spend_py:share"], [{"user_id": 1}])
    # Request data is allowed only when an on-demand feature asks for it.
    with pytest.raises(EntityFrameError, match="'amount' is not a join key"):
        store.get_online_features(["stats:spend"], [{"user_id": 1, "amount": 1.0}])


def test_bad_request_value_is_an_entity_error(store: FeatureStore) -> None:
    with pytest.raises(EntityFrameError, match="cannot be read as Float64"):
        store.get_online_features(["spend_py:share"], [{"user_id": 1, "amount": "x"}])


def test_runtime_fault_names_the_feature(store: FeatureStore) -> None:
    # User 2's spend is 0: the function divides by it.
    with pytest.raises(SkewlessError, match=r"'inverse' \(features inverse\) failed: Zero"):
        store.get_online_features(["inverse:inverse"], {"user_id": [2]})
    with pytest.raises(SkewlessError, match=r"'inverse' \(features inverse\) failed: Zero"):
        store.get_historical_features(ENTITIES, ["inverse:inverse"]).to_arrow()
    assert store.get_online_features(["inverse:inverse"], {"user_id": [1]}).to_dict() == {
        "user_id": [1],
        "inverse": [0.05],
    }


def test_empty_read(store: FeatureStore) -> None:
    response = store.get_online_features(["spend_py:share"], {"user_id": [], "amount": []})
    assert response.to_dict() == {"user_id": [], "share": []}


def test_request_only_view(store: FeatureStore) -> None:
    doubled = on_demand_feature_view(
        sources=[txn], schema=[Field(name="double", dtype=Float64)], mode="pandas", name="doubled"
    )(lambda df: pd.DataFrame({"double": df["amount"] * 2}))
    store.apply([doubled])
    online = store.get_online_features(
        ["doubled:double", "stats:spend"], {"user_id": [1], "amount": [1.5]}
    )
    assert online.to_dict() == {"user_id": [1], "double": [3.0], "spend": [20.0]}
    alone = store.get_online_features(["doubled:double"], {"amount": [1.5, None]})
    assert alone.to_dict() == {"double": [3.0, None]}
    offline = store.get_historical_features(ENTITIES, ["doubled:double"]).to_arrow()
    assert offline.column("double").to_pylist() == [10.0, 2.0, 4.0, None]


def test_plain_reads_keep_the_fast_path(store: FeatureStore) -> None:
    store.get_online_features(["stats:spend"], {"user_id": [1]})
    plans = list(store._reader._plans.values())  # type: ignore[attr-defined]
    assert plans and all(p.on_demand is None for p in plans)
