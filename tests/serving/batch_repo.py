"""A tiny repository with a classifier and a regressor logged on MLflow, for batch scoring."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
from models.tiny_repo import T0, USERS, build_repo

from skewless import FeatureStore

__all__ = ["T0", "USERS", "LoggedRepo", "entity_rows", "logged_repo"]


@dataclass(frozen=True)
class LoggedRepo:
    store: FeatureStore
    classifier: str  # "churn/1"
    regressor: str  # "spend/1"


def logged_repo(root: Path, template_db: Path) -> LoggedRepo:
    """``build_repo`` plus ``churn`` (a HistGradientBoostingClassifier, alias production)
    and ``spend`` (a HistGradientBoostingRegressor), each logged with lineage."""
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

    from skewless.models import log_model, promote, training_data

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        store = build_repo(root, template_db)
        x, y = training_data("churn_train", store)
        churn = HistGradientBoostingClassifier(max_iter=20, random_state=0).fit(x, y)
        c = log_model(churn, "churn", dataset="churn_train", store=store)
        promote("churn", c.version, "production", store=store)
        x, y = training_data("spend_train", store)
        spend = HistGradientBoostingRegressor(max_iter=20, random_state=0).fit(x, y)
        s = log_model(spend, "spend", dataset="spend_train", store=store)
    return LoggedRepo(store, f"churn/{c.version}", f"spend/{s.version}")


def entity_rows(n: int = 50, seed: int = 1, timed: bool = True) -> pd.DataFrame:
    """``n`` rows of users (some unknown), with times inside and after the history."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"user_id": rng.integers(0, USERS + 5, n).astype("int64")})
    if timed:
        hours = rng.integers(0, 24 * 33, n)
        frame["event_timestamp"] = [T0 + timedelta(hours=int(h)) for h in hours]
    frame["note"] = [f"row{i}" for i in range(n)]
    return frame
