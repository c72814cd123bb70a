"""A repository on disk with fresh features, a trained classifier logged as ``churn`` and
promoted to production, for the prediction server's tests (in-process and as a process).

The feature rows end an hour before the real clock, so a server started as a process (on the
real clock) finds every user within the view's TTL.
"""

from __future__ import annotations

import shutil
import warnings
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from skewless import FeatureStore

__all__ = ["FEATURES_PY", "N_USERS", "ServingRepo", "build_serving_repo", "train_and_log"]

N_USERS = 200
DAYS = 6

FEATURES_PY = """\
from datetime import timedelta

from skewless import Entity, FeatureService, FeatureView, Field, FileSource
from skewless.types import Float64, Int64

user = Entity(name="user", join_keys=["user_id"], value_type=Int64)

user_stats = FeatureView(
    name="user_stats",
    entities=[user],
    ttl=timedelta(days=30),
    schema=[
        Field(name="x1", dtype=Float64),
        Field(name="x2", dtype=Float64),
        Field(name="x3", dtype=Float64),
        Field(name="visits", dtype=Int64),
    ],
    source=FileSource(path="data/user_stats.parquet", timestamp_field="event_timestamp"),
)

scoring = FeatureService(name="scoring", features=[user_stats])
"""


@dataclass
class ServingRepo:
    root: Path
    store: FeatureStore
    end: datetime
    versions: list[int]


def _features(end: datetime, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for day in range(DAYS):
        ts = end - timedelta(days=DAYS - 1 - day)
        for user in range(N_USERS):
            rows.append(
                {
                    "user_id": user,
                    "event_timestamp": ts,
                    "x1": float(rng.random()),
                    "x2": float(rng.normal()),
                    "x3": float(rng.random() * 10),
                    "visits": int(rng.integers(0, 50)),
                }
            )
    return pd.DataFrame(rows)


def train_and_log(
    store: FeatureStore, dataset: str = "churn_train", max_iter: int = 15, seed: int = 0
) -> int:
    """Fit a small gradient-boosted classifier on ``dataset``, log it as ``churn``; the
    version number."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    from skewless.models import log_model, training_data

    x, y = training_data(dataset, store)
    model = HistGradientBoostingClassifier(max_iter=max_iter, random_state=seed).fit(x, y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return log_model(model, "churn", dataset=dataset, store=store).version


def build_serving_repo(
    root: Path, mlflow_template: Path | None = None, seed: int = 0, promote: bool = True
) -> ServingRepo:
    """Write, apply and materialize the repository, save ``churn_train``, log ``churn``
    version 1 and (``promote``) move ``production`` to it."""
    from skewless.models import promote as promote_version
    from skewless.repo import load_repo_objects

    root.mkdir(parents=True, exist_ok=True)
    (root / "data").mkdir(exist_ok=True)
    (root / "feature_store.yaml").write_text("project: serving\n")
    (root / "features.py").write_text(FEATURES_PY)
    if mlflow_template is not None:
        shutil.copy(mlflow_template, root / "data" / "mlflow.db")
    end = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)
    features = _features(end, seed)
    features.to_parquet(root / "data" / "user_stats.parquet")
    store = FeatureStore(repo_path=root)
    store.apply(load_repo_objects(root))
    store.materialize(end - timedelta(days=DAYS + 1), end)
    labels = features[["user_id", "event_timestamp"]].copy()
    labels["event_timestamp"] = labels["event_timestamp"] + timedelta(minutes=30)
    noise = np.random.default_rng(seed + 1).normal(scale=0.15, size=len(features))
    labels["churned"] = ((features["x1"].to_numpy() + noise) > 0.5).astype("int64")
    store.get_historical_features(labels, store.get_feature_service("scoring")).save_dataset(
        "churn_train"
    )
    version = train_and_log(store)
    if promote:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            promote_version("churn", version, "production", store=store)
    return ServingRepo(root, store, end, [version])


def expected(store: FeatureStore, entities: dict[str, list[Any]], version: str | int) -> Any:
    """What ``load_model(...).predict`` gives on ``get_features_for``'s values, in order."""
    from skewless.models import get_features_for, load_model, model_lineage

    lineage = model_lineage("churn", version, store)
    frame = get_features_for("churn", entities, version, store).to_df()[
        list(lineage.feature_columns)
    ]
    return load_model("churn", version, store).predict(frame).tolist(), frame
