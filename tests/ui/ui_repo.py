"""A repository for the UI's tests: the prediction tests' repository (a view, a service, a
dataset and an MLflow model ``churn`` with production at version 1) plus a second version of
the view, a push-fed view, an on-demand view, a service that takes only some features, an
experiment on ``churn``, a skew audit and hostile text in descriptions and tags."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pandas as pd
from serving.predict_repo import ServingRepo, build_serving_repo

from skewless import (
    Entity,
    FeatureService,
    FeatureView,
    Field,
    FileSource,
    PushSource,
    on_demand_feature_view,
)
from skewless.datasets import DatasetCatalog
from skewless.experiments.records import ExperimentStore
from skewless.experiments.spec import ExperimentSpec
from skewless.models.tracking import tracking_for
from skewless.types import Float64, Int64
from skewless.ui import UiSources

__all__ = ["HOSTILE", "UiRepo", "build_ui_repo", "ui_sources"]

HOSTILE = '<script>window.__pwned="yes"</script>'


@dataclass
class UiRepo:
    serving: ServingRepo

    @property
    def root(self) -> Path:
        return self.serving.root


def build_ui_repo(root: Path, mlflow_template: Path | None = None) -> UiRepo:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        serving = build_serving_repo(root, mlflow_template)
    store = serving.store
    pd.DataFrame(
        {"user_id": [1, 2], "event_timestamp": [serving.end, serving.end], "clicks_1h": [3, 4]}
    ).to_parquet(root / "data" / "clicks.parquet")
    user = Entity(name="user", join_keys=["user_id"], value_type=Int64)
    stats_v2 = FeatureView(
        name="user_stats",
        entities=[user],
        ttl=timedelta(days=31),
        schema=[
            Field(name="x1", dtype=Float64),
            Field(name="x2", dtype=Float64),
            Field(name="x3", dtype=Float64),
            Field(name="visits", dtype=Int64),
        ],
        source=FileSource(path="data/user_stats.parquet", timestamp_field="event_timestamp"),
        description=f"user statistics {HOSTILE}",
        owner="growth@example.com",
        tags={"team": "growth", "note": HOSTILE},
    )
    clicks_push = PushSource(
        name="clicks_push",
        batch_source=FileSource(path="data/clicks.parquet", timestamp_field="event_timestamp"),
    )
    clicks = FeatureView(
        name="clicks",
        entities=[user],
        ttl=timedelta(days=1),
        schema=[Field(name="clicks_1h", dtype=Int64)],
        source=clicks_push,
        owner="ads@example.com",
        tags={"team": "ads"},
    )

    @on_demand_feature_view(
        sources=[stats_v2[["x1", "x2"]]], schema=[Field(name="x_sum", dtype=Float64)]
    )
    def x_total(inputs):  # type: ignore[no-untyped-def]
        import pandas as pd

        return pd.DataFrame({"x_sum": inputs["x1"] + inputs["x2"]})

    visits_only = FeatureService(name="visits_only", features=[stats_v2[["visits"]]])
    derived = FeatureService(name="derived", features=[x_total])
    store.apply([user, stats_v2, clicks, x_total, visits_only, derived])
    ExperimentStore(store.registry).start(
        ExperimentSpec.model_validate(
            {
                "name": "churn-ab",
                "model": "churn",
                "arms": [
                    {"name": "control", "model": "churn@production", "weight": 0.5},
                    {"name": "challenger", "model": "churn/1", "weight": 0.5},
                ],
            }
        )
    )
    store.materialize(serving.end - timedelta(days=7), serving.end)
    store.audit(["user_stats:x1", "user_stats:visits"], sample=20)
    return UiRepo(serving)


def ui_sources(root: Path) -> UiSources:
    """What ``skewless ui`` reads, for the repository at ``root``."""
    from datetime import UTC, datetime

    from skewless.config import load_config
    from skewless.registry import Registry

    config = load_config(root)
    registry = Registry(config)
    clock = lambda: datetime.now(UTC)  # noqa: E731
    return UiSources(
        registry=registry,
        datasets=DatasetCatalog(registry, root, clock),
        tracking=tracking_for(config),
        root=root,
        clock=clock,
    )
