"""Definitions as code: plain, validated, immutable data. No I/O here."""

from __future__ import annotations

import hashlib
from typing import Any, Literal

import orjson

from skewless.definitions.aggregation import Aggregation, BatchFeatureView
from skewless.definitions.entity import Entity
from skewless.definitions.feature_service import FeatureService
from skewless.definitions.feature_view import FeatureView, FeatureViewProjection
from skewless.definitions.field import Field
from skewless.definitions.label_view import ConflictPolicy, LabelView
from skewless.definitions.on_demand import (
    OnDemandFeatureView,
    RequestSource,
    on_demand_feature_view,
)
from skewless.definitions.pipeline import Pipeline, Step
from skewless.definitions.project import FileLoggingDestination, LoggingConfig, Project
from skewless.definitions.push_source import PushMode, PushSource
from skewless.definitions.sources import FileSource
from skewless.definitions.stream import KafkaSource, StreamFeatureView

__all__ = [
    "Aggregation",
    "BatchFeatureView",
    "ConflictPolicy",
    "Definition",
    "Entity",
    "FeatureService",
    "FeatureView",
    "FeatureViewProjection",
    "Field",
    "FileLoggingDestination",
    "FileSource",
    "KafkaSource",
    "Kind",
    "LabelView",
    "LoggingConfig",
    "OnDemandFeatureView",
    "Pipeline",
    "Project",
    "PushMode",
    "PushSource",
    "RequestSource",
    "Step",
    "StreamFeatureView",
    "definition_hash",
    "from_spec",
    "kind_of",
    "on_demand_feature_view",
]

Definition = Entity | FeatureView | FeatureService | OnDemandFeatureView | Pipeline
Kind = Literal["entity", "feature_view", "feature_service", "on_demand_feature_view", "pipeline"]

_KINDS: dict[type, Kind] = {
    Entity: "entity",
    FeatureView: "feature_view",
    FeatureService: "feature_service",
    OnDemandFeatureView: "on_demand_feature_view",
    Pipeline: "pipeline",
}
_CLASSES: dict[str, type[Any]] = {kind: cls for cls, kind in _KINDS.items()}
# Stored as a feature view; FeatureView.from_spec rebuilds it from its "aggregations".
_KINDS[BatchFeatureView] = "feature_view"
# Feast's feature view flavours, stored (and read back) as plain feature views.
_KINDS[LabelView] = "feature_view"
_KINDS[StreamFeatureView] = "feature_view"


def kind_of(obj: object) -> Kind:
    """The registry kind of a definition object."""
    try:
        return _KINDS[type(obj)]
    except KeyError:
        raise TypeError(
            f"{obj!r} is not a skewless definition (Entity, FeatureView, FeatureService, Pipeline)"
        ) from None


def canonical_json(spec: Any) -> bytes:
    return orjson.dumps(spec, option=orjson.OPT_SORT_KEYS)


def definition_hash(spec: Any) -> str:
    """A stable hash of a definition's spec (sha256 of its canonical JSON)."""
    return hashlib.sha256(canonical_json(spec)).hexdigest()


def from_spec(kind: str, spec: dict[str, Any]) -> Definition:
    """Rebuild a definition from what the registry stored."""
    obj: Definition = _CLASSES[kind].from_spec(spec)
    return obj
