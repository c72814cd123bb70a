"""The prediction path: a registered model served with the features it was trained on.

A served model is one MLflow version with its lineage; its features are read online by the
refs the lineage records, requests that arrive together are scored in one batch, answers can
be cached by exact feature vector and are logged for monitoring. ``skewless models serve``
puts this behind HTTP (:mod:`skewless.server.predict_app`). See docs/serving.md.

Batch inference (:func:`predict_batch`) scores a file of entities offline, on point-in-time
features; see docs/batch-inference.md.
"""

from skewless.serving.batch import (
    BatchContext,
    BatchPredictionReport,
    batch_context,
    predict_batch,
)
from skewless.serving.batching import PredictionBatcher
from skewless.serving.cache import MemoryCache, PredictionCache, RedisCache, cache_from_spec
from skewless.serving.features import MISSING_POLICIES, FeatureFetcher, FetchedFeatures
from skewless.serving.feedback import (
    FeedbackWriter,
    labelled_predictions,
    read_feedback,
    record_feedback,
)
from skewless.serving.logs import PredictionLogWriter
from skewless.serving.logs_compact import compact_prediction_logs
from skewless.serving.logs_read import log_summary, prediction_log_source, read_prediction_logs
from skewless.serving.model import ServedModel, check_lineage, load_served_model
from skewless.serving.recent import RecentAnswers
from skewless.serving.records import Prediction, PredictionRequest
from skewless.serving.reference import DEFAULT_ALIAS, ModelRef, parse_model_ref
from skewless.serving.routing import Router
from skewless.serving.service import PredictionService, PredictionSink

__all__ = [
    "DEFAULT_ALIAS",
    "MISSING_POLICIES",
    "BatchContext",
    "BatchPredictionReport",
    "FeatureFetcher",
    "FeedbackWriter",
    "FetchedFeatures",
    "MemoryCache",
    "ModelRef",
    "Prediction",
    "PredictionBatcher",
    "PredictionCache",
    "PredictionLogWriter",
    "PredictionRequest",
    "PredictionService",
    "PredictionSink",
    "RecentAnswers",
    "RedisCache",
    "Router",
    "ServedModel",
    "batch_context",
    "cache_from_spec",
    "check_lineage",
    "compact_prediction_logs",
    "labelled_predictions",
    "load_served_model",
    "log_summary",
    "parse_model_ref",
    "predict_batch",
    "prediction_log_source",
    "read_feedback",
    "read_prediction_logs",
    "record_feedback",
]
