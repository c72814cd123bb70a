"""An immutable view of the registry's current objects at one registry version."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TypeVar

from skewless.definitions import (
    Entity,
    FeatureService,
    FeatureView,
    OnDemandFeatureView,
    Pipeline,
    definition_hash,
)
from skewless.errors import UnknownObjectError

__all__ = ["RegistrySnapshot", "data_version"]

T = TypeVar("T")


def data_version(view: FeatureView) -> str:
    """Short hash of the parts of a view that change its values; names its online table."""
    return definition_hash(view.data_spec())[:12]


@dataclass(frozen=True)
class RegistrySnapshot:
    """Definitions as of registry ``version`` (a counter that grows with every apply)."""

    project: str
    version: int = 0
    entities: Mapping[str, Entity] = field(default_factory=dict)
    feature_views: Mapping[str, FeatureView] = field(default_factory=dict)
    feature_services: Mapping[str, FeatureService] = field(default_factory=dict)
    on_demand_feature_views: Mapping[str, OnDemandFeatureView] = field(default_factory=dict)
    pipelines: Mapping[str, Pipeline] = field(default_factory=dict)

    def get_entity(self, name: str) -> Entity:
        return _get(self.entities, name, "entity")

    def get_feature_view(self, name: str) -> FeatureView:
        return _get(self.feature_views, name, "feature view")

    def get_feature_service(self, name: str) -> FeatureService:
        return _get(self.feature_services, name, "feature service")

    def get_on_demand_feature_view(self, name: str) -> OnDemandFeatureView:
        return _get(self.on_demand_feature_views, name, "on-demand feature view")

    def get_pipeline(self, name: str) -> Pipeline:
        return _get(self.pipelines, name, "pipeline")

    def online_table(self, view: FeatureView) -> str:
        """The online store table holding ``view`` at its current data version."""
        return f"{self.project}__{view.name}__{data_version(view)}"


def _get(objects: Mapping[str, T], name: str, what: str) -> T:
    try:
        return objects[name]
    except KeyError:
        known = ", ".join(sorted(objects)) or "none yet; run `skewless apply`"
        raise UnknownObjectError(
            f"no {what} named {name!r} in the registry (known: {known})"
        ) from None
