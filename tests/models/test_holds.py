"""Retention never deletes a held version (served, experiment arm, ...) or the rollback
target, and a hold lapses on its own when its holder stops renewing it."""

from __future__ import annotations

from datetime import timedelta

import pytest

pytest.importorskip("mlflow")
from sklearn.linear_model import LogisticRegression

from skewless import FeatureStore
from skewless.models import list_model_versions, log_model, promote, training_data
from skewless.models.holds import hold_tag, put_hold, release_hold
from skewless.models.tracking import tracking_for


def _log(store: FeatureStore, name: str, seed: int) -> int:
    x, y = training_data("churn_train", store)
    model = LogisticRegression(random_state=seed, C=1.0 + seed).fit(x, y)
    return log_model(model, name, dataset="churn_train", store=store).version


def _left(store: FeatureStore, name: str) -> list[int]:
    return [v.version for v in list_model_versions(name, store)]


def test_held_versions_and_the_rollback_target_survive_retention(store: FeatureStore) -> None:
    tracking = tracking_for(store.config)
    v = [_log(store, "held", seed) for seed in range(6)]
    promote("held", v[0], "production", store=store, keep=10)
    promote("held", v[1], "production", store=store, keep=10)  # v0 archived: rollback target
    put_hold(tracking, "held", v[2], "served", "web-1:1", timedelta(minutes=5))
    put_hold(tracking, "held", v[3], "experiment", "exp-7", None)
    put_hold(tracking, "held", v[4], "served", "crashed:2", timedelta(seconds=-1))  # lapsed
    result = promote("held", v[5], "production", store=store, keep=1)
    # v1 left production now, so it is the rollback target; v0 is an older archive.
    assert result.archived == v[1]
    assert set(result.deleted) == {v[0], v[4]}
    assert _left(store, "held") == [v[1], v[2], v[3], v[5]]
    release_hold(tracking, "held", v[2], "served", "web-1:1")
    release_hold(tracking, "held", v[2], "served", "web-1:1")  # twice: nothing happens
    tags = next(x for x in list_model_versions("held", store) if x.version == v[2]).tags
    assert hold_tag("served", "web-1:1") not in tags
    promote("held", v[5], "production", store=store, keep=1)
    assert _left(store, "held") == [v[1], v[3], v[5]]
