"""Versions of ``churn`` for the experiment tests: a second model, one with another lineage
(fewer features), one that sleeps before answering and one that raises once it is served.

The wrappers are pickled by value (``cloudpickle.register_pickle_by_value``), so a server
process that cannot import this test module still loads them.
"""

from __future__ import annotations

import sys
import time
import warnings
from dataclasses import dataclass
from typing import Any

import cloudpickle

from serving.predict_repo import train_and_log
from skewless import FeatureStore

__all__ = ["ArmVersions", "RaisingModel", "SlowModel", "log_arm_versions"]

cloudpickle.register_pickle_by_value(sys.modules[__name__])


class SlowModel:
    """``inner``, answering ``delay_s`` seconds late."""

    def __init__(self, inner: Any, delay_s: float) -> None:
        self.inner = inner
        self.delay_s = delay_s
        self.classes_ = inner.classes_

    def predict(self, frame: Any) -> Any:
        time.sleep(self.delay_s)
        return self.inner.predict(frame)

    def predict_proba(self, frame: Any) -> Any:
        return self.inner.predict_proba(frame)


class RaisingModel:
    """``inner`` for its first ``predict`` (the one ``log_model`` makes to infer the
    signature), then an error on every call: a version that breaks once it is served."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.classes_ = inner.classes_
        self.calls = 0

    def predict(self, frame: Any) -> Any:
        self.calls += 1
        if self.calls > 1:
            raise RuntimeError("the challenger's own bug")
        return self.inner.predict(frame)

    def predict_proba(self, frame: Any) -> Any:
        raise RuntimeError("the challenger's own bug")


@dataclass(frozen=True)
class ArmVersions:
    """The version numbers of ``churn`` the experiment tests route between."""

    champion: int
    other: int
    small: int
    slow: int
    raising: int


def _fitted(store: FeatureStore, dataset: str, max_iter: int, seed: int) -> Any:
    from sklearn.ensemble import HistGradientBoostingClassifier

    from skewless.models import training_data

    x, y = training_data(dataset, store)
    return HistGradientBoostingClassifier(max_iter=max_iter, random_state=seed).fit(x, y)


def _log(store: FeatureStore, model: Any, dataset: str = "churn_train") -> int:
    from skewless.models import log_model

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        info = log_model(model, "churn", dataset=dataset, store=store, task="classifier")
    return info.version


def log_arm_versions(store: FeatureStore, champion: int, slow_s: float = 0.3) -> ArmVersions:
    """Log the other versions next to ``champion`` (production)."""
    other = train_and_log(store, max_iter=3, seed=1)
    labels = store.get_dataset("churn_train").to_df()[["user_id", "event_timestamp", "churned"]]
    store.get_historical_features(labels, ["user_stats:x1", "user_stats:x2"]).save_dataset(
        "churn_small"
    )
    small = _log(store, _fitted(store, "churn_small", 5, 2), "churn_small")
    base = _fitted(store, "churn_train", 5, 3)
    slow = _log(store, SlowModel(base, slow_s))
    raising = _log(store, RaisingModel(base))
    return ArmVersions(champion, other, small, slow, raising)
