"""A served repository with a prediction log for the ``skewless monitor`` tests: the model
``churn`` (trained on ``churn_train``) scores rows drawn from its training set, with
``x1`` optionally shifted, and every answer is logged as the prediction server logs it."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from skewless import FeatureStore
from skewless.serving.logs import PredictionLogWriter
from skewless.serving.records import Prediction

__all__ = ["log_traffic", "served_model"]

REQUEST_ROWS = 8


def served_model(store: FeatureStore, version: int = 1) -> Any:
    from skewless.models.tracking import tracking_for
    from skewless.serving import parse_model_ref
    from skewless.serving.model import load_served_model

    _, records = store.registry.records()
    return load_served_model(
        tracking_for(store.config),
        parse_model_ref(f"churn/{version}"),
        records,
        store.registry.history,
    )


def log_traffic(
    store: FeatureStore,
    *,
    days: int = 3,
    rows_per_day: int = 400,
    shift_x1: float = 0.0,
    shift_from_day: int = 0,
    seed: int = 0,
    version: int = 1,
    now: datetime | None = None,
) -> pd.DataFrame:
    """Log ``rows_per_day`` scored rows a day for the ``days`` UTC days before ``now``'s;
    from day ``shift_from_day`` on, ``x1`` is moved by ``shift_x1``. The rows logged (with
    ``user_id``, ``timestamp``, ``request_id``, ``row``, and the training label)."""
    model = served_model(store, version)
    dataset = store.datasets.get("churn_train")
    training = pq.read_table(dataset.path).to_pandas()
    rng = np.random.default_rng(seed)
    now = now or datetime.now(UTC)
    features = list(model.lineage.feature_columns)
    logged = []
    with PredictionLogWriter(Path(store.repo_path), "churn") as log:
        for day in range(days):
            sample = training.sample(rows_per_day, replace=True, random_state=seed + day)
            sample = sample.reset_index(drop=True)
            if day >= shift_from_day and shift_x1:
                sample["x1"] = sample["x1"] + shift_x1
            midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
            start = midnight - timedelta(days=days - day)
            for first in range(0, rows_per_day, REQUEST_ROWS):
                part = sample.iloc[first : first + REQUEST_ROWS].reset_index(drop=True)
                predictions, probabilities = model.predict(part[features])
                when = start + timedelta(seconds=int(rng.integers(0, 23 * 3600)))
                request_id = uuid.uuid4().hex
                log.submit(
                    [
                        Prediction(
                            request_id,
                            when,
                            "churn",
                            model.version,
                            {"user_id": part["user_id"].tolist()},
                            {c: part[c].tolist() for c in features},
                            predictions,
                            probabilities,
                            [],
                            2.5,
                        )
                    ]
                )
                part = part.assign(timestamp=when, request_id=request_id, row=range(len(part)))
                logged.append(part)
    return pd.concat(logged, ignore_index=True)
