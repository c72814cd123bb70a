"""A ``pyfunc`` wrapper for a model that is not a scikit-learn estimator."""

from __future__ import annotations

import warnings
from typing import Any

import mlflow.pyfunc
from mlflow.pyfunc import PythonModel

__all__ = ["PredictorModel", "as_python_model"]


with warnings.catch_warnings():
    # MLflow suggests type hints at class creation; hints would become the input schema.
    warnings.simplefilter("ignore")

    class PredictorModel(PythonModel):
        """Any object with ``predict(DataFrame)``, served as an MLflow ``pyfunc`` model."""

        def __init__(self, model: Any) -> None:
            self.model = model

        # No type hints: MLflow would read them as the input schema.
        def predict(self, context, model_input, params=None):
            return self.model.predict(model_input)


def as_python_model(model: Any) -> Any:
    """``model`` itself when it is a ``PythonModel``, else wrapped in :class:`PredictorModel`."""
    if isinstance(model, mlflow.pyfunc.PythonModel):
        return model
    return PredictorModel(model)
