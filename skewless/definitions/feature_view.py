"""Feature views: a group of features of one entity, read from one source."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, ClassVar, Protocol, TypeVar

from skewless._types import DType
from skewless.definitions._names import check_identifier, check_tags, warn_not_applied
from skewless.definitions.entity import Entity
from skewless.definitions.field import Field, check_fields
from skewless.definitions.push_source import PushSource, source_from_spec
from skewless.definitions.sources import FileSource
from skewless.errors import DefinitionError

__all__ = ["FeatureView", "FeatureViewProjection", "resolve_projection"]


@dataclass(frozen=True, init=False)
class FeatureView:
    """Features of one or more entities, read from one source with a time-to-live.

    ``schema`` lists the features; a field named like a join key gives that key's type and is
    not a feature. ``ttl=None`` (or zero) means values never expire.

    Example:
        >>> from datetime import timedelta
        >>> from skewless.types import Int64
        >>> user = Entity(name="user", join_keys=["user_id"])
        >>> fv = FeatureView(
        ...     name="user_stats",
        ...     entities=[user],
        ...     ttl=timedelta(days=1),
        ...     schema=[Field(name="total_purchases", dtype=Int64)],
        ...     source=FileSource(path="data/user_stats.parquet"),
        ... )
        >>> fv.feature_names
        ('total_purchases',)
        >>> fv[["total_purchases"]].features
        ('total_purchases',)
    """

    name: str
    entities: tuple[Entity, ...]
    ttl: timedelta | None
    schema: tuple[Field, ...]
    source: FileSource | PushSource
    online: bool = True
    tags: Mapping[str, str] = field(default_factory=dict)
    owner: str = ""
    description: str = ""

    def __init__(
        self,
        *,
        name: str,
        source: FileSource | PushSource,
        schema: Sequence[Field],
        entities: Sequence[Entity] | None = None,
        ttl: timedelta | None = None,
        online: bool = True,
        tags: Mapping[str, str] | None = None,
        owner: str = "",
        description: str = "",
        enable_validation: bool = False,
        version: str = "latest",
    ) -> None:
        check_identifier(name, "feature view name")
        what = f"feature view {name!r}"
        # Feast's flags: skewless always checks a view's source schema at plan/apply time,
        # and the registry keeps every version, so both are accepted (docs/feast-differences.md).
        if version != "latest":
            warn_not_applied(f"{what}: version={version!r}", "every apply adds a version")
        if not isinstance(source, FileSource | PushSource):
            raise DefinitionError(
                f"{what}: source must be a FileSource or a PushSource, got {source!r}"
            )
        ents = tuple(entities or ())
        if not ents:
            raise DefinitionError(f"{what} has no entities: pass entities=[my_entity]")
        for ent in ents:
            if not isinstance(ent, Entity):
                raise DefinitionError(
                    f"{what}: entity {ent!r} is not an Entity; pass the Entity object itself, "
                    "e.g. entities=[user]"
                )
        keys = [k for ent in ents for k in ent.join_keys]
        if len(set(keys)) != len(keys):
            raise DefinitionError(f"{what}: its entities repeat a join key: {keys}")
        fields = check_fields(schema, what, "field(s)")
        names = [f.name for f in fields]
        reserved = {source.timestamp_field, source.created_timestamp_column} - {""}
        clash = sorted(reserved & set(names))
        if clash:
            raise DefinitionError(
                f"{what}: {clash} is the source's timestamp column, not a feature: "
                "remove it from the schema"
            )
        if not [n for n in names if n not in keys]:
            raise DefinitionError(f"{what} has no features: add Field(...)s to its schema")
        if ttl is not None and not isinstance(ttl, timedelta):
            raise DefinitionError(f"{what}: ttl must be a timedelta or None, got {ttl!r}")
        if ttl is not None and ttl < timedelta(0):
            raise DefinitionError(f"{what}: ttl {ttl} is negative; use a positive timedelta")
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "entities", ents)
        object.__setattr__(self, "ttl", ttl or None)
        object.__setattr__(self, "schema", fields)
        object.__setattr__(self, "source", source)
        object.__setattr__(self, "online", bool(online))
        object.__setattr__(self, "tags", check_tags(tags, what))
        object.__setattr__(self, "owner", owner or "")
        object.__setattr__(self, "description", description or "")

    # -- derived facts -------------------------------------------------------------------
    @property
    def join_keys(self) -> tuple[str, ...]:
        """The entity key columns, in entity order."""
        return tuple(k for ent in self.entities for k in ent.join_keys)

    @property
    def batch_source(self) -> FileSource:
        """Where the view's history is read offline (a push source's ``batch_source``)."""
        source = self.source
        return source.batch_source if isinstance(source, PushSource) else source

    @property
    def push_source(self) -> PushSource | None:
        """The push source feeding the view, if any."""
        return self.source if isinstance(self.source, PushSource) else None

    @property
    def features(self) -> tuple[Field, ...]:
        """The schema's fields that are features (join-key fields excluded)."""
        keys = set(self.join_keys)
        return tuple(f for f in self.schema if f.name not in keys)

    @property
    def feature_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.features)

    @property
    def value_columns(self) -> tuple[Field, ...]:
        """The columns read from the source besides keys and times (here: the features)."""
        return self.features

    def dtype_of(self, feature: str) -> DType:
        for f in self.schema:
            if f.name == feature:
                return f.dtype
        raise KeyError(feature)

    def __getitem__(self, features: Sequence[str]) -> FeatureViewProjection:
        if isinstance(features, str):
            features = [features]
        return FeatureViewProjection(self.name, tuple(features), self)

    # -- serialization -------------------------------------------------------------------
    def to_spec(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "entities": [{"name": e.name, "join_keys": list(e.join_keys)} for e in self.entities],
            "ttl_seconds": self.ttl.total_seconds() if self.ttl else None,
            "schema": [f.to_spec() for f in self.schema],
            "source": self.source.to_spec(),
            "online": self.online,
            "tags": dict(sorted(self.tags.items())),
            "owner": self.owner,
            "description": self.description,
        }

    def data_spec(self) -> dict[str, Any]:
        """The parts of the definition that change stored values (source, schema, TTL, keys).

        Two definitions with equal data specs share online rows and watermarks.
        """
        # Values come from the batch source: pushing does not change what a row means.
        source = self.batch_source.to_spec()
        for key in ("name", "description", "tags", "owner"):
            source.pop(key, None)
        return {
            "join_keys": list(self.join_keys),
            "ttl_seconds": self.ttl.total_seconds() if self.ttl else None,
            "schema": [{"name": f.name, "dtype": str(f.dtype)} for f in self.schema],
            "source": source,
        }

    # Subclasses whose specs carry a key of their own register it (``class
    # BatchFeatureView(FeatureView, spec_key="aggregations")``), so ``FeatureView.from_spec``
    # rebuilds the right class without this module importing its subclasses.
    _subclass_by_spec_key: ClassVar[dict[str, type[FeatureView]]] = {}

    def __init_subclass__(cls, spec_key: str | None = None, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if spec_key is not None:
            FeatureView._subclass_by_spec_key[spec_key] = cls

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any]) -> FeatureView:
        if cls is FeatureView:
            for key, subclass in FeatureView._subclass_by_spec_key.items():
                if key in spec:
                    return subclass.from_spec(spec)
        ttl = spec.get("ttl_seconds")
        return cls(
            name=spec["name"],
            entities=[Entity(e["name"], e["join_keys"]) for e in spec["entities"]],
            ttl=timedelta(seconds=ttl) if ttl else None,
            schema=[Field.from_spec(f) for f in spec["schema"]],
            source=source_from_spec(spec["source"]),
            online=spec.get("online", True),
            tags=spec.get("tags") or {},
            owner=spec.get("owner", ""),
            description=spec.get("description", ""),
        )


@dataclass(frozen=True)
class FeatureViewProjection:
    """A subset of a view's features, as written ``view[["a", "b"]]``."""

    view_name: str
    features: tuple[str, ...]
    view: FeatureView | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.view is not None:
            known = set(self.view.feature_names)
            unknown = [f for f in self.features if f not in known]
            if unknown:
                raise DefinitionError(
                    f"feature view {self.view_name!r} has no feature(s) {unknown}; "
                    f"it has {sorted(known)}"
                )
        if len(set(self.features)) != len(self.features):
            raise DefinitionError(f"projection of {self.view_name!r} repeats a feature")

    @property
    def refs(self) -> list[str]:
        return [f"{self.view_name}:{f}" for f in self.features]


class NamedFeatures(Protocol):
    """Anything a projection can name: a feature view or an on-demand feature view."""

    @property
    def name(self) -> str: ...

    @property
    def feature_names(self) -> tuple[str, ...]: ...


V = TypeVar("V", bound=NamedFeatures)


def resolve_projection(
    projection: FeatureViewProjection, views: Mapping[str, V], what: str, verb: str
) -> V:
    """The view a projection names, checked to exist and to have the projected features.

    ``what`` names the definition holding the projection and ``verb`` what it does with it
    (``"names"``, ``"reads"``), for the error message.

    Raises:
        DefinitionError: the view is unknown or lacks one of the features.
    """
    view = views.get(projection.view_name)
    if view is None:
        names = ", ".join(sorted(views)) or "none"
        raise DefinitionError(
            f"{what} {verb} unknown feature view {projection.view_name!r} (views: {names}): "
            "define and apply the view"
        )
    missing = [f for f in projection.features if f not in view.feature_names]
    if missing:
        raise DefinitionError(
            f"{what} {verb} feature(s) {missing} that feature view {view.name!r} does not have "
            f"(features: {', '.join(view.feature_names)}): fix one or the other"
        )
    return view
