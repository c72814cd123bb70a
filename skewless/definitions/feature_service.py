"""Feature services: the named set of features a model consumes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from skewless.definitions._names import check_identifier, check_tags
from skewless.definitions.feature_view import FeatureView, FeatureViewProjection
from skewless.definitions.on_demand import OnDemandFeatureView
from skewless.errors import DefinitionError

__all__ = ["FeatureService"]


@dataclass(frozen=True, init=False)
class FeatureService:
    """A named list of features, usable wherever a list of feature refs is.

    Example:
        >>> from skewless import Entity, FeatureView, Field, FileSource
        >>> from skewless.types import Int64
        >>> fv = FeatureView(name="stats", entities=[Entity(name="user", join_keys=["user_id"])],
        ...     schema=[Field(name="a", dtype=Int64), Field(name="b", dtype=Int64)],
        ...     source=FileSource(path="s.parquet"))
        >>> FeatureService(name="model_v1", features=[fv[["a"]]]).feature_refs
        ('stats:a',)
    """

    name: str
    projections: tuple[FeatureViewProjection, ...]
    description: str = ""
    tags: Mapping[str, str] = field(default_factory=dict)
    owner: str = ""

    def __init__(
        self,
        *,
        name: str,
        features: Sequence[FeatureView | FeatureViewProjection | OnDemandFeatureView],
        description: str = "",
        tags: Mapping[str, str] | None = None,
        owner: str = "",
        logging_config: object | None = None,
    ) -> None:
        # Feast's logging_config is accepted and not performed (LoggingConfig warns).
        check_identifier(name, "feature service name")
        projections: list[FeatureViewProjection] = []
        for item in features or ():
            if isinstance(item, FeatureView):
                projections.append(FeatureViewProjection(item.name, item.feature_names, item))
            elif isinstance(item, FeatureViewProjection):
                projections.append(item)
            elif isinstance(item, OnDemandFeatureView):
                projections.append(FeatureViewProjection(item.name, item.feature_names))
            else:
                raise DefinitionError(
                    f"feature service {name!r}: {item!r} is neither a FeatureView, an "
                    'OnDemandFeatureView nor view[["feature", ...]]'
                )
        if not projections:
            raise DefinitionError(f"feature service {name!r} lists no features")
        seen = [p.view_name for p in projections]
        if len(set(seen)) != len(seen):
            raise DefinitionError(
                f"feature service {name!r} lists view(s) more than once: list each view once "
                'with all its features, e.g. view[["a", "b"]]'
            )
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "projections", tuple(projections))
        object.__setattr__(self, "description", description or "")
        object.__setattr__(self, "tags", check_tags(tags, f"feature service {name!r}"))
        object.__setattr__(self, "owner", owner or "")

    @property
    def feature_refs(self) -> tuple[str, ...]:
        """``view:feature`` references, in the service's order."""
        return tuple(ref for p in self.projections for ref in p.refs)

    def to_spec(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "features": [
                {"view": p.view_name, "features": list(p.features)} for p in self.projections
            ],
            "description": self.description,
            "tags": dict(sorted(self.tags.items())),
            "owner": self.owner,
        }

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any]) -> FeatureService:
        projections = [
            FeatureViewProjection(p["view"], tuple(p["features"])) for p in spec["features"]
        ]
        return cls(
            name=spec["name"],
            features=projections,
            description=spec.get("description", ""),
            tags=spec.get("tags") or {},
            owner=spec.get("owner", ""),
        )
