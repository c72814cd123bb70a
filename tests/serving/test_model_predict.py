"""One ``predict_proba`` call answers both predictions and probabilities for the classifiers
that allow it, and the predictions equal the estimator's own ``predict`` on random data,
exact ties included."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

pytest.importorskip("sklearn")
from sklearn.ensemble import (
    ExtraTreesClassifier,
    GradientBoostingClassifier,
    HistGradientBoostingClassifier,
    RandomForestClassifier,
)
from sklearn.linear_model import LogisticRegression
from sklearn.svm import SVC
from sklearn.tree import DecisionTreeClassifier

from skewless.serving.model import _from_probabilities, _predicts_argmax

MODELS = {
    "hgb": lambda seed: HistGradientBoostingClassifier(max_iter=8, random_state=seed),
    "forest": lambda seed: RandomForestClassifier(n_estimators=5, random_state=seed),
    "extra": lambda seed: ExtraTreesClassifier(n_estimators=5, random_state=seed),
    "gbm": lambda seed: GradientBoostingClassifier(n_estimators=5, random_state=seed),
    "tree": lambda seed: DecisionTreeClassifier(max_depth=2, random_state=seed),
    "logistic": lambda seed: LogisticRegression(max_iter=200),
}


@settings(max_examples=30, deadline=None)
@given(
    kind=st.sampled_from(sorted(MODELS)),
    seed=st.integers(0, 10_000),
    classes=st.integers(2, 4),
    coarse=st.booleans(),
)
def test_predictions_from_probabilities_equal_predict(
    kind: str, seed: int, classes: int, coarse: bool
) -> None:
    rng = np.random.default_rng(seed)
    n = 80
    x = rng.normal(size=(n, 3))
    if coarse:  # few distinct values: leaves and scores tie exactly
        x = np.round(x)
    y = rng.integers(0, classes, size=n)
    y[:classes] = np.arange(classes)
    frame = pd.DataFrame(x, columns=["a", "b", "c"])
    model = MODELS[kind](seed).fit(frame, y)
    assert _predicts_argmax(model)
    test = pd.DataFrame(np.round(rng.normal(size=(60, 3))) if coarse else rng.normal(size=(60, 3)))
    test.columns = ["a", "b", "c"]
    predictions, probabilities = _from_probabilities(model, test)
    assert predictions == model.predict(test).tolist()
    np.testing.assert_array_equal(probabilities, model.predict_proba(test))


def test_exact_ties_are_decided_by_predict() -> None:
    frame = pd.DataFrame({"a": [0.0, 0.0, 1.0, 1.0]})
    tree = DecisionTreeClassifier(max_depth=1).fit(frame, [0, 1, 1, 1])
    test = pd.DataFrame({"a": [0.0]})
    assert tree.predict_proba(test).tolist() == [[0.5, 0.5]]
    assert _from_probabilities(tree, test)[0] == tree.predict(test).tolist()


def test_other_classifiers_are_not_assumed_to_predict_the_argmax() -> None:
    assert not _predicts_argmax(SVC(probability=True))
    assert not _predicts_argmax(object())
