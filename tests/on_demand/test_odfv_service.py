"""A feature service may list on-demand feature views next to plain views."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pandas as pd
import pytest
from odfv_repo import SAMPLE, T0, make_store, spend_py, stats, user, write_stats

from skewless import FeatureService
from skewless.errors import DefinitionError

SERVICE = FeatureService(name="pricing", features=[stats[["spend"]], spend_py[["share"]]])


def test_service_with_an_on_demand_view_serves_offline_and_online_alike(tmp_path: Path) -> None:
    write_stats(tmp_path, SAMPLE)
    store = make_store(tmp_path)
    store.apply([user, stats, spend_py, SERVICE])
    store.materialize(T0 - timedelta(days=3), T0)
    entities = pd.DataFrame({"user_id": [1, 2], "event_timestamp": [T0, T0], "amount": [5.0, 1.0]})

    offline = store.get_historical_features(entities, SERVICE).to_df()
    assert list(offline.columns) == ["user_id", "event_timestamp", "amount", "spend", "share"]
    by_ref = store.get_historical_features(entities, ["stats:spend", "spend_py:share"]).to_df()
    pd.testing.assert_frame_equal(offline, by_ref)

    online = store.get_online_features(
        "pricing", [{"user_id": 1, "amount": 5.0}, {"user_id": 2, "amount": 1.0}]
    ).to_dict()
    table = store.get_historical_features(entities, SERVICE).to_arrow()
    assert online["spend"] == table.column("spend").to_pylist()
    assert online["share"] == table.column("share").to_pylist()
    assert online["share"] == [pytest.approx(5.0 / 20.0), None]  # user 2 spent nothing


def test_service_naming_an_unregistered_on_demand_view_fails_at_plan(tmp_path: Path) -> None:
    write_stats(tmp_path, SAMPLE)
    store = make_store(tmp_path)
    with pytest.raises(DefinitionError, match="unknown feature view 'spend_py'"):
        store.apply([user, stats, SERVICE])
