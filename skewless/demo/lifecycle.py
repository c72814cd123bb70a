"""The quickstart's model lifecycle: save the training set, split it by time, log the model
with lineage to MLflow, gate it on the held-out side and promote it to production.

Needs the ``mlflow`` and ``sklearn`` extras; every import of them happens inside the function.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from skewless.demo.data import CATEGORIES

if TYPE_CHECKING:
    from skewless.retrieval import RetrievalJob
    from skewless.store import FeatureStore

__all__ = ["MODEL_NAME", "LifecycleReport", "mlflow_available", "run_lifecycle"]

MODEL_NAME = "churn"
DATASET = "churn_training"


@dataclass(frozen=True)
class LifecycleReport:
    """What the lifecycle did."""

    dataset: str
    train: str
    holdout: str
    version: int
    gate_passed: bool
    auc: float | None
    f1: float | None
    p99_ms: float | None
    promoted: bool
    tracking_uri: str


@contextlib.contextmanager
def _quiet_mlflow() -> Iterator[None]:
    """MLflow's own progress lines (database set-up, "Successfully registered ...") are left
    out of the quickstart's output; its warnings and errors still show."""
    logger = logging.getLogger("mlflow")
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        with contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(io.StringIO()):
            yield
    finally:
        logger.setLevel(level)


def mlflow_available() -> bool:
    """Whether MLflow can be imported."""
    try:
        return importlib.util.find_spec("mlflow") is not None
    except (ImportError, ValueError):
        return False


def _pipeline(seed: int) -> Any:
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OrdinalEncoder

    encode = ColumnTransformer(
        [
            (
                "category",
                OrdinalEncoder(
                    categories=[list(CATEGORIES)],
                    handle_unknown="use_encoded_value",
                    unknown_value=-1,
                    encoded_missing_value=-1,
                ),
                ["preferred_category"],
            )
        ],
        remainder="passthrough",
    )
    model = HistGradientBoostingClassifier(
        max_iter=60, learning_rate=0.1, categorical_features=[0], random_state=seed
    )
    return Pipeline([("encode", encode), ("model", model)])


def run_lifecycle(
    store: FeatureStore,
    job: RetrievalJob,
    cutoff: datetime,
    say: Callable[[str], None],
    seed: int = 0,
) -> LifecycleReport:
    """Save ``job`` as a dataset, split it at ``cutoff``, train on the earlier side, log the
    model with lineage, gate it on the later side and promote it when the gate passes."""
    from skewless.models import Thresholds, log_model, promote, run_gate, training_data
    from skewless.models.tracking import tracking_for

    saved = job.save_dataset(DATASET, overwrite=True)
    train, holdout = store.split_dataset(DATASET, cutoff)
    say(
        f"saved dataset {saved.name} ({saved.rows:,} rows) and split it at "
        f"{cutoff:%Y-%m-%d %H:%M}: {train.name} ({train.rows:,}), {holdout.name} "
        f"({holdout.rows:,})"
    )
    x, y = training_data(train.name, store)
    model = _pipeline(seed).fit(x, y)
    with _quiet_mlflow():
        version = log_model(model, MODEL_NAME, dataset=train.name, store=store)
    say(
        f"logged {MODEL_NAME} version {version.version} to MLflow with lineage: dataset "
        f"{train.name}, {len(x.columns)} features of service {saved.feature_service}"
    )
    limits = Thresholds(min_auc=0.7, max_p99_ms=250, max_size_mb=500, baseline="production")
    report = run_gate(
        MODEL_NAME,
        holdout.name,
        version=version.version,
        thresholds=limits,
        store=store,
        latency_rows=100,
    )
    verdict = "passed" if report.passed else "FAILED"
    auc, f1, p99 = (report.metrics.get(k) for k in ("auc", "f1", "p99_ms"))
    say(
        f"gate on {holdout.name} {verdict}: AUC {auc or 0:.3f}, F1 {f1 or 0:.3f}, "
        f"p99 {p99 or 0:.2f} ms per prediction"
    )
    promoted = False
    if report.passed:
        promote(
            MODEL_NAME, version.version, "production", store=store, gate_report=report.to_dict()
        )
        promoted = True
        say(
            f"promoted {MODEL_NAME} version {version.version} -> production "
            f"(models:/{MODEL_NAME}@production)"
        )
    return LifecycleReport(
        dataset=saved.name,
        train=train.name,
        holdout=holdout.name,
        version=version.version,
        gate_passed=report.passed,
        auc=auc,
        f1=f1,
        p99_ms=p99,
        promoted=promoted,
        tracking_uri=tracking_for(store.config).tracking_uri,
    )
