"""BentoML 1.4 serving the model of ``bench/predict.py`` (run in its own virtualenv).

``POST /predict {"features": {"total_purchases": 12, ...}}`` answers
``{"predictions": [...], "probabilities": [[...]]}``: the registered model's pickled
estimator (the file MLflow stored, ``BENCH_BENTOML_MODEL``) is called on a 1-row frame built
with the dtypes in ``BENCH_BENTOML_SCHEMA`` (``[[column, dtype], ...]``), as the floor does.
One worker, BentoML's defaults otherwise.

Run: ``bentoml serve _predict_bentoml:Churn --port PORT`` from ``bench/``.
"""

from __future__ import annotations

import json
import os
from typing import Any

import bentoml
import cloudpickle
import numpy as np
import pandas as pd


@bentoml.service(workers=1)
class Churn:
    def __init__(self) -> None:
        with open(os.environ["BENCH_BENTOML_MODEL"], "rb") as file:
            self.model = cloudpickle.load(file)
        self.typed = [(c, np.dtype(d)) for c, d in json.loads(os.environ["BENCH_BENTOML_SCHEMA"])]

    @bentoml.api
    def predict(self, features: dict[str, Any]) -> dict[str, Any]:
        frame = pd.DataFrame({c: np.array([features[c]], dtype=d) for c, d in self.typed})
        return {
            "predictions": self.model.predict(frame).tolist(),
            "probabilities": self.model.predict_proba(frame).tolist(),
        }
