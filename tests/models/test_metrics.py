"""The gate's numpy metrics against scikit-learn's, on random data."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from skewless.models.metrics import classification_metrics, regression_metrics, roc_auc

sk = pytest.importorskip("sklearn.metrics")

labels = st.lists(st.integers(0, 1), min_size=2, max_size=60)


@settings(max_examples=80, deadline=None)
@given(y=labels, data=st.data())
def test_binary_metrics_match_sklearn(y: list[int], data: st.DataObject) -> None:
    pred = data.draw(st.lists(st.integers(0, 1), min_size=len(y), max_size=len(y)))
    scores = data.draw(
        st.lists(st.sampled_from([0.0, 0.25, 0.5, 0.75, 1.0]), min_size=len(y), max_size=len(y))
    )
    got = classification_metrics(y, pred, np.column_stack([1 - np.array(scores), scores]), [0, 1])
    positive = max(set(y) | set(pred))
    kw = {"pos_label": positive, "zero_division": 0}
    assert got["f1"] == pytest.approx(sk.f1_score(y, pred, **kw))
    assert got["precision"] == pytest.approx(sk.precision_score(y, pred, **kw))
    assert got["recall"] == pytest.approx(sk.recall_score(y, pred, **kw))
    if len(set(y)) == 2:
        assert got["auc"] == pytest.approx(sk.roc_auc_score(y, scores))
    else:
        assert got["auc"] is None


@settings(max_examples=50, deadline=None)
@given(y=st.lists(st.integers(0, 3), min_size=4, max_size=50), data=st.data())
def test_multiclass_macro_metrics_match_sklearn(y: list[int], data: st.DataObject) -> None:
    pred = data.draw(st.lists(st.integers(0, 3), min_size=len(y), max_size=len(y)))
    got = classification_metrics(y, pred)
    if len(set(y) | set(pred)) <= 2:
        return
    kw = {"average": "macro", "zero_division": 0}
    assert got["f1"] == pytest.approx(sk.f1_score(y, pred, **kw))
    assert got["precision"] == pytest.approx(sk.precision_score(y, pred, **kw))
    assert got["recall"] == pytest.approx(sk.recall_score(y, pred, **kw))


@settings(max_examples=50, deadline=None)
@given(
    y=st.lists(st.floats(-1e3, 1e3), min_size=1, max_size=40),
    noise=st.floats(-10, 10),
)
def test_regression_metrics_match_sklearn(y: list[float], noise: float) -> None:
    pred = [v + noise * (i % 3 - 1) for i, v in enumerate(y)]
    got = regression_metrics(y, pred)
    assert got["rmse"] == pytest.approx(np.sqrt(sk.mean_squared_error(y, pred)), abs=1e-9)
    assert got["mae"] == pytest.approx(sk.mean_absolute_error(y, pred), abs=1e-9)


def test_auc_of_one_class_is_none() -> None:
    assert roc_auc(np.array([True, True]), np.array([0.1, 0.9])) is None
