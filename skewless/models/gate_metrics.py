"""The metrics a model version scored at its latest gate, kept where monitoring reads them.

``run_gate`` records each metric it measured as a tag of the model version,
``skewless.gate.metric.<name>`` (the value as text), and the dataset it judged on as
``skewless.gate.dataset``; a later gate run replaces them all, removing metrics it did not
measure. Performance monitoring compares live metrics with these
(:func:`skewless.monitoring.performance.performance_report`'s ``baseline``).

Example:
    >>> tags = gate_metric_tags({"f1": 0.8, "auc": None}, "churn_holdout")
    >>> tags
    {'skewless.gate.metric.f1': '0.8', 'skewless.gate.dataset': 'churn_holdout'}
    >>> metrics_from_tags(tags)
    {'f1': 0.8}
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from skewless.models.registry import resolve_store
from skewless.models.tracking import tracking_for
from skewless.models.versions import _version

if TYPE_CHECKING:
    from skewless.store import FeatureStore

__all__ = [
    "GATE_DATASET_TAG",
    "GATE_METRIC_PREFIX",
    "gate_metric_tags",
    "gate_metrics",
    "metrics_from_tags",
    "record_gate_metrics",
]

GATE_METRIC_PREFIX = "skewless.gate.metric."
"""The prefix of the model version tags holding the latest gate's metrics."""
GATE_DATASET_TAG = "skewless.gate.dataset"
"""The model version tag naming the dataset of the latest gate."""


def gate_metric_tags(metrics: Mapping[str, float | None], dataset: str) -> dict[str, str]:
    """The tags recording ``metrics`` (those measured, i.e. not None) and ``dataset``."""
    tags = {f"{GATE_METRIC_PREFIX}{k}": repr(float(v)) for k, v in metrics.items() if v is not None}
    tags[GATE_DATASET_TAG] = dataset
    return tags


def metrics_from_tags(tags: Mapping[str, Any]) -> dict[str, float] | None:
    """The gate metrics a version's tags hold; None when they hold none."""
    found = {}
    for key, value in tags.items():
        if str(key).startswith(GATE_METRIC_PREFIX):
            try:
                found[str(key).removeprefix(GATE_METRIC_PREFIX)] = float(value)
            except (TypeError, ValueError):
                continue  # a tag edited by hand into something else is not a metric
    return found or None


def record_gate_metrics(
    client: Any, name: str, version: str, metrics: Mapping[str, float | None], dataset: str
) -> None:
    """Set the gate tags of ``version`` of ``name``, and remove metric tags of an earlier gate
    run that this one did not measure."""
    tags = gate_metric_tags(metrics, dataset)
    current = client.get_model_version(name, version).tags or {}
    for key in current:
        if str(key).startswith(GATE_METRIC_PREFIX) and key not in tags:
            client.delete_model_version_tag(name, version, key)
    for key, value in tags.items():
        client.set_model_version_tag(name, version, key, value)


def gate_metrics(
    name: str, version: str | int = "production", *, store: FeatureStore | None = None
) -> dict[str, float] | None:
    """The metrics version ``version`` (a number or an alias) of model ``name`` scored at its
    latest gate run, e.g. ``{"f1": 0.83, "auc": 0.91, "p99_ms": 1.2, "size_mb": 0.01}``.

    Returns:
        metric -> value, or None when the version carries no gate metrics (it was never
        gated, or was gated by a skewless that did not record them).

    Raises:
        UnknownModelError: no such model, version or alias.
        ModelRegistryError: MLflow is missing or the tracking server cannot be reached.
    """
    tracking = tracking_for(resolve_store(store).config)
    mv = _version(tracking.client(), name, version)
    return metrics_from_tags(mv.tags or {})
