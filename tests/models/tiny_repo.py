"""A tiny repository on disk with saved datasets, and a shared empty MLflow database."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from skewless import Entity, FeatureService, FeatureStore, FeatureView, Field, FileSource
from skewless.types import Float64

__all__ = ["T0", "build_repo", "empty_mlflow_db"]

T0 = datetime(2026, 1, 1, tzinfo=UTC)
USERS = 120


def empty_mlflow_db(cache: Path) -> Path:
    """An MLflow SQLite database with its schema made (once per test session)."""
    db = cache / "mlflow.db"
    if not db.exists():
        from mlflow import MlflowClient

        MlflowClient(tracking_uri=f"sqlite:///{db}").search_experiments()
    return db


def build_repo(
    root: Path, template_db: Path | None = None, seed: int = 0, split: bool = True
) -> FeatureStore:
    """A repository with ``user_stats`` (x1, x2, x3), a service, and datasets ``churn``
    (classification, label ``churned``), ``spend`` (regression, label ``spend``); each split
    at day 20 into ``*_train`` and ``*_holdout``."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "data").mkdir(exist_ok=True)
    (root / "feature_store.yaml").write_text("project: tiny\n")
    if template_db is not None:
        shutil.copy(template_db, root / "data" / "mlflow.db")
    rng = np.random.default_rng(seed)
    rows = []
    for day in range(30):
        for user in range(USERS):
            rows.append(
                {
                    "user_id": user,
                    "event_timestamp": T0 + timedelta(days=day),
                    "x1": float(rng.random()),
                    "x2": float(rng.normal()),
                    "x3": float(rng.random() * 10),
                }
            )
    features = pd.DataFrame(rows)
    features.to_parquet(root / "data" / "user_stats.parquet")
    user = Entity(name="user", join_keys=["user_id"])
    view = FeatureView(
        name="user_stats",
        entities=[user],
        ttl=timedelta(days=2),
        schema=[Field(name=n, dtype=Float64) for n in ("x1", "x2", "x3")],
        source=FileSource(path="data/user_stats.parquet", timestamp_field="event_timestamp"),
    )
    service = FeatureService(name="scoring", features=[view])
    store = FeatureStore(repo_path=root)
    store.apply([user, view, service])
    labels = features.sample(n=1500, random_state=seed)[["user_id", "event_timestamp"]].copy()
    labels["event_timestamp"] = labels["event_timestamp"] + timedelta(hours=1)
    joined = labels.merge(
        features.assign(event_timestamp=features["event_timestamp"] + timedelta(hours=1)),
        on=["user_id", "event_timestamp"],
    )
    noise = rng.normal(scale=0.15, size=len(joined))
    churn = joined[["user_id", "event_timestamp"]].copy()
    churn["churned"] = ((joined["x1"] + noise) > 0.5).astype("int64").to_numpy()
    spend = joined[["user_id", "event_timestamp"]].copy()
    spend["spend"] = (3.0 * joined["x3"] + joined["x2"] + noise).to_numpy()
    refs = ["user_stats:x1", "user_stats:x2", "user_stats:x3"]
    store.get_historical_features(churn, store.get_feature_service("scoring")).save_dataset("churn")
    store.get_historical_features(spend, refs).save_dataset("spend")
    if split:
        at = T0 + timedelta(days=20)
        store.split_dataset("churn", at)
        store.split_dataset("spend", at)
    return store
