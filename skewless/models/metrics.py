"""Quality metrics of the gate, in numpy (scikit-learn is not needed to gate a model).

Classifiers: precision, recall and f1 of the positive class for two classes (the larger
label is positive), macro-averaged over classes otherwise; ROC AUC from the ranks of the
positive-class scores (ties averaged), one-vs-rest macro for more classes. Regressors: RMSE
and MAE.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["classification_metrics", "regression_metrics", "roc_auc"]


def _prf(y: np.ndarray, pred: np.ndarray, positive: Any) -> tuple[float, float, float]:
    tp = float(np.sum((pred == positive) & (y == positive)))
    fp = float(np.sum((pred == positive) & (y != positive)))
    fn = float(np.sum((pred != positive) & (y == positive)))
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0
    return precision, recall, f1


def _ranks(values: np.ndarray) -> np.ndarray:
    """1-based ranks, ties given their average rank."""
    order = np.argsort(values, kind="mergesort")
    ranks = np.empty(len(values), dtype=np.float64)
    sorted_values = values[order]
    i = 0
    while i < len(values):
        j = i
        while j + 1 < len(values) and sorted_values[j + 1] == sorted_values[i]:
            j += 1
        ranks[order[i : j + 1]] = (i + j) / 2.0 + 1.0
        i = j + 1
    return ranks


def roc_auc(positive: np.ndarray, scores: np.ndarray) -> float | None:
    """Area under the ROC curve (Mann-Whitney U); None when only one class is present."""
    positive = np.asarray(positive, dtype=bool)
    n_pos = int(positive.sum())
    n_neg = len(positive) - n_pos
    if n_pos == 0 or n_neg == 0:
        return None
    ranks = _ranks(np.asarray(scores, dtype=np.float64))
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def classification_metrics(
    y: Any, pred: Any, proba: Any = None, classes: Any = None
) -> dict[str, float | None]:
    """``precision``, ``recall``, ``f1`` and ``auc`` (None without scores or with one class).

    Args:
        y: the true labels.
        pred: the predicted labels.
        proba: class probabilities, one column per class of ``classes`` (optional).
        classes: the classes of ``proba``'s columns (default: sorted labels of ``y``).
    """
    y = np.asarray(y)
    pred = np.asarray(pred)
    labels = np.unique(np.concatenate([y, pred]))
    if len(labels) <= 2:
        positive = labels.max() if len(labels) else 1
        precision, recall, f1 = _prf(y, pred, positive)
    else:
        per = [_prf(y, pred, c) for c in labels]
        precision, recall, f1 = (float(np.mean([p[i] for p in per])) for i in range(3))
    out: dict[str, float | None] = {"precision": precision, "recall": recall, "f1": f1}
    out["auc"] = None
    if proba is not None:
        p = np.asarray(proba, dtype=np.float64)
        cls = np.asarray(classes) if classes is not None else np.unique(y)
        if p.ndim == 1:
            out["auc"] = roc_auc(y == cls.max(), p)
        elif p.shape[1] == 2:
            out["auc"] = roc_auc(y == cls[1], p[:, 1])
        else:
            aucs = [roc_auc(y == c, p[:, i]) for i, c in enumerate(cls)]
            valid = [a for a in aucs if a is not None]
            out["auc"] = float(np.mean(valid)) if valid else None
    return out


def regression_metrics(y: Any, pred: Any) -> dict[str, float | None]:
    """``rmse`` and ``mae``."""
    err = np.asarray(pred, dtype=np.float64).ravel() - np.asarray(y, dtype=np.float64)
    if len(err) == 0:
        return {"rmse": None, "mae": None}
    return {"rmse": float(np.sqrt(np.mean(err**2))), "mae": float(np.mean(np.abs(err)))}
