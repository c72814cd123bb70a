"""Definitions as code: plain, validated, immutable data. No I/O here."""

from __future__ import annotations

import hashlib
from typing import Any, Literal

import orjson

from skewless.definitions.entity import Entity
from skewless.definitions.feature_service import FeatureService
from skewless.definitions.feature_view import FeatureView, FeatureViewProjection
from skewless.definitions.field import Field
from skewless.definitions.push_source import PushSource
from skewless.definitions.sources import FileSource

__all__ = [
    "Definition",
    "Entity",
    "FeatureService",
    "FeatureView",
    "FeatureViewProjection",
    "Field",
    "FileSource",
    "Kind",
    "PushSource",
    "definition_hash",
    "from_spec",
    "kind_of",
]

Definition = Entity | FeatureView | FeatureService
Kind = Literal["entity", "feature_view", "feature_service"]

_KINDS: dict[type, Kind] = {
    Entity: "entity",
    FeatureView: "feature_view",
    FeatureService: "feature_service",
}
_CLASSES: dict[str, type[Any]] = {kind: cls for cls, kind in _KINDS.items()}


def kind_of(obj: object) -> Kind:
    """The registry kind of a definition object."""
    try:
        return _KINDS[type(obj)]
    except KeyError:
        raise TypeError(
            f"{obj!r} is not a skewless definition (Entity, FeatureView, FeatureService)"
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
