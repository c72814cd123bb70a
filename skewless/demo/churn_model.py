"""The quickstart's model: a churn classifier trained on a point-in-time training set.

scikit-learn is an optional extra (``pip install 'skewless[sklearn]'``); it is imported only
when a model is trained.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

import numpy as np

from skewless.demo.data import CATEGORIES

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "FEATURES",
    "SKLEARN_HINT",
    "ChurnModelReport",
    "sklearn_available",
    "train_churn_model",
]

FEATURES = (
    "total_purchases",
    "avg_purchase_amount",
    "days_since_last_login",
    "preferred_category",
)
SKLEARN_HINT = "install it with: pip install 'skewless[sklearn]' (or pip install scikit-learn)"


@dataclass(frozen=True)
class ChurnModelReport:
    """Held-out quality of the churn model, on labels later than every training label."""

    model_name: str
    n_train: int
    n_test: int
    cutoff: datetime
    roc_auc: float
    f1: float
    test_churn_rate: float


def sklearn_available() -> bool:
    """Whether scikit-learn can be imported."""
    try:
        return importlib.util.find_spec("sklearn") is not None
    except (ImportError, ValueError):  # a module set to None in sys.modules
        return False


def _feature_matrix(frame: pd.DataFrame) -> pd.DataFrame:
    import pandas as pd

    matrix = pd.DataFrame(index=frame.index)
    for name in FEATURES[:3]:
        matrix[name] = pd.to_numeric(frame[name], errors="coerce").astype("float64")
    matrix["preferred_category"] = pd.Categorical(
        frame["preferred_category"], categories=list(CATEGORIES)
    )
    return matrix


def train_churn_model(
    training: pd.DataFrame,
    *,
    label: str = "churned",
    time_column: str = "event_timestamp",
    test_fraction: float = 0.25,
    max_iter: int = 200,
    seed: int = 0,
) -> ChurnModelReport:
    """Train a gradient-boosted classifier on the earlier labels, score the later ones.

    The split is by time, as a model would meet the future: the latest ``test_fraction`` of
    the labels (by time, ties kept together) form the held-out set.

    Args:
        training: the training set (labels joined with the features in :data:`FEATURES`).
        label: the 0/1 target column.
        time_column: the label time column.
        test_fraction: share of the (latest) labels held out.
        max_iter: boosting iterations.
        seed: random seed of the classifier.

    Raises:
        ImportError: scikit-learn is not installed.
        ValueError: either side of the split is empty or holds one class only.
    """
    if not sklearn_available():
        raise ImportError(f"the churn model needs scikit-learn: {SKLEARN_HINT}")
    import pandas as pd
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.metrics import f1_score, roc_auc_score

    if len(training) < 2:
        raise ValueError("the training set needs at least two labels")
    times = pd.to_datetime(training[time_column], utc=True)
    ordered = times.sort_values(ignore_index=True)
    cutoff = pd.Timestamp(
        ordered.iloc[min(int(len(ordered) * (1.0 - test_fraction)), len(ordered) - 1)]
    )
    is_test = (times >= cutoff).to_numpy()
    y = training[label].to_numpy().astype(np.int64)
    if is_test.all() or not is_test.any():
        raise ValueError("the time split left no training or no test labels: add more labels")
    if len(np.unique(y[~is_test])) < 2 or len(np.unique(y[is_test])) < 2:
        raise ValueError("both sides of the time split need churned and retained users")
    x = _feature_matrix(training)
    model = HistGradientBoostingClassifier(
        max_iter=max_iter, learning_rate=0.08, categorical_features="from_dtype", random_state=seed
    )
    model.fit(x[~is_test], y[~is_test])
    scores = model.predict_proba(x[is_test])[:, 1]
    return ChurnModelReport(
        model_name=type(model).__name__,
        n_train=int((~is_test).sum()),
        n_test=int(is_test.sum()),
        cutoff=cutoff.to_pydatetime(),
        roc_auc=float(roc_auc_score(y[is_test], scores)),
        f1=float(f1_score(y[is_test], scores >= 0.5)),
        test_churn_rate=float(y[is_test].mean()),
    )
