"""The model lifecycle on MLflow: log with lineage, promote through stages, gate, compress.

``pip install 'skewless[mlflow]'``. Importing this package does not import MLflow; each
function does, when called.

Example:
    >>> from skewless.models import log_model, promote, run_gate  # doctest: +SKIP
    >>> v = log_model(model, "churn", dataset="churn_train", store=store)  # doctest: +SKIP
    >>> report = run_gate("churn", "churn_holdout", version=v.version,
    ...                   thresholds=Thresholds(min_f1=0.8), store=store)  # doctest: +SKIP
    >>> promote("churn", v.version, "production", gate_report=report.to_dict(),
    ...         store=store)  # doctest: +SKIP
"""

from skewless.errors import (
    GateInputError,
    ModelCompressionError,
    ModelRegistryError,
    TrackingServerError,
    UnknownModelError,
)
from skewless.models.compress import compress_model
from skewless.models.compress_report import CompressionReport
from skewless.models.gate import Check, GateReport, Thresholds, run_gate
from skewless.models.gate_metrics import gate_metrics
from skewless.models.lineage import Lineage, feature_columns
from skewless.models.registry import (
    ModelVersionInfo,
    PromotionResult,
    apply_retention,
    get_features_for,
    get_model_version,
    list_model_versions,
    load_model,
    model_lineage,
    promote,
    required_features,
)
from skewless.models.tracking import Tracking, tracking_for
from skewless.models.training import log_model, training_data

__all__ = [
    "Check",
    "CompressionReport",
    "GateInputError",
    "GateReport",
    "Lineage",
    "ModelCompressionError",
    "ModelRegistryError",
    "ModelVersionInfo",
    "PromotionResult",
    "Thresholds",
    "Tracking",
    "TrackingServerError",
    "UnknownModelError",
    "apply_retention",
    "compress_model",
    "feature_columns",
    "gate_metrics",
    "get_features_for",
    "get_model_version",
    "list_model_versions",
    "load_model",
    "log_model",
    "model_lineage",
    "promote",
    "required_features",
    "run_gate",
    "tracking_for",
    "training_data",
]
