"""On-demand feature views: features computed by a function of other features and request data.

The function is stored in the registry by value (cloudpickle), next to its source text, so a
process that only reads the registry (the HTTP feature server) runs exactly the applied code.
The source text is part of the definition's hash: editing the function changes the hash.
"""

from __future__ import annotations

import base64
import inspect
import textwrap
import types
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import cloudpickle

from skewless.definitions._names import check_identifier, check_tags
from skewless.definitions.feature_view import FeatureView, FeatureViewProjection
from skewless.definitions.field import Field, check_fields
from skewless.errors import DefinitionError

__all__ = ["OnDemandFeatureView", "RequestSource", "on_demand_feature_view"]

Mode = Literal["pandas", "python"]
UDF_PAYLOAD = "udf_pickle"
"""The spec key holding the pickled function; it is left out when comparing definitions."""


@dataclass(frozen=True, init=False)
class RequestSource:
    """Data that arrives with the request (entity frame columns offline, entity rows online).

    Example:
        >>> from skewless.types import Float64
        >>> RequestSource(name="txn", schema=[Field(name="amount", dtype=Float64)]).column_names
        ('amount',)
    """

    name: str
    schema: tuple[Field, ...]
    description: str = ""

    def __init__(self, *, name: str, schema: Sequence[Field], description: str = "") -> None:
        check_identifier(name, "request source name")
        fields = tuple(schema or ())
        if not fields:
            raise DefinitionError(f"request source {name!r} has no schema: add Field(...)s")
        for f in fields:
            if not isinstance(f, Field):
                raise DefinitionError(f"request source {name!r}: {f!r} is not a Field(...)")
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "schema", fields)
        object.__setattr__(self, "description", description or "")

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.schema)

    def to_spec(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "schema": [f.to_spec() for f in self.schema],
            "description": self.description,
        }

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any]) -> RequestSource:
        return cls(
            name=spec["name"],
            schema=[Field.from_spec(f) for f in spec["schema"]],
            description=spec.get("description", ""),
        )


@dataclass(frozen=True, init=False)
class OnDemandFeatureView:
    """Features computed from other views' features and request data by one function.

    ``mode="pandas"``: the function takes a DataFrame (one column per input feature, named by
    the feature, and per request column) and returns a DataFrame with the schema's columns.
    ``mode="python"``: it takes and returns a dict of column name to list of values.
    Build it with :func:`on_demand_feature_view`.
    """

    name: str
    sources: tuple[FeatureViewProjection, ...]
    request_sources: tuple[RequestSource, ...]
    schema: tuple[Field, ...]
    mode: Mode
    udf: Callable[[Any], Any] = field(compare=False, repr=False)
    udf_source: str = field(default="", repr=False)
    description: str = ""
    tags: Mapping[str, str] = field(default_factory=dict)
    owner: str = ""
    _payload: str = field(default="", compare=False, repr=False)

    def __init__(
        self,
        *,
        name: str,
        sources: Sequence[FeatureView | FeatureViewProjection | RequestSource],
        schema: Sequence[Field],
        udf: Callable[[Any], Any],
        mode: Mode = "pandas",
        udf_source: str | None = None,
        description: str = "",
        tags: Mapping[str, str] | None = None,
        owner: str = "",
        _payload: str = "",
    ) -> None:
        check_identifier(name, "on-demand feature view name")
        what = f"on-demand feature view {name!r}"
        if mode not in ("pandas", "python"):
            raise DefinitionError(f"{what}: mode {mode!r} is unknown; use 'pandas' or 'python'")
        if not callable(udf):
            raise DefinitionError(f"{what}: the transformation {udf!r} is not a function")
        projections: list[FeatureViewProjection] = []
        requests: list[RequestSource] = []
        for item in sources or ():
            if isinstance(item, FeatureView):
                projections.append(FeatureViewProjection(item.name, item.feature_names, item))
            elif isinstance(item, FeatureViewProjection):
                projections.append(item)
            elif isinstance(item, RequestSource):
                requests.append(item)
            else:
                raise DefinitionError(
                    f"{what}: source {item!r} is not a FeatureView, view[[...]] or RequestSource"
                )
        if not projections and not requests:
            raise DefinitionError(f"{what} has no sources: pass sources=[view, RequestSource]")
        inputs = [f for p in projections for f in p.features]
        inputs += [c for r in requests for c in r.column_names]
        dupes = sorted({n for n in inputs if inputs.count(n) > 1})
        if dupes:
            raise DefinitionError(
                f"{what}: input column(s) {dupes} come from more than one source; the function "
                "receives inputs by name, so project them apart (view[['a']])"
            )
        if not schema:
            raise DefinitionError(f"{what} has no schema: list its outputs as Field(...)s")
        fields = check_fields(schema, what, "output(s)")
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "sources", tuple(projections))
        object.__setattr__(self, "request_sources", tuple(requests))
        object.__setattr__(self, "schema", fields)
        object.__setattr__(self, "mode", mode)
        object.__setattr__(self, "udf", udf)
        object.__setattr__(self, "udf_source", udf_source or _source_text(udf))
        object.__setattr__(self, "description", description or "")
        object.__setattr__(self, "tags", check_tags(tags, what))
        object.__setattr__(self, "owner", owner or "")
        object.__setattr__(self, "_payload", _payload)

    # -- derived facts -------------------------------------------------------------------
    @property
    def feature_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.schema)

    @property
    def features(self) -> tuple[Field, ...]:
        return self.schema

    @property
    def request_columns(self) -> tuple[Field, ...]:
        """The request data fields the function needs, in source order."""
        return tuple(f for r in self.request_sources for f in r.schema)

    def dtype_of(self, feature: str) -> Any:
        for f in self.schema:
            if f.name == feature:
                return f.dtype
        raise KeyError(feature)

    def __call__(self, inputs: Any) -> Any:
        return self.udf(inputs)

    def __getitem__(self, features: Sequence[str]) -> FeatureViewProjection:
        if isinstance(features, str):
            features = [features]
        unknown = [f for f in features if f not in self.feature_names]
        if unknown:
            raise DefinitionError(
                f"on-demand feature view {self.name!r} has no feature(s) {unknown}; it has "
                f"{list(self.feature_names)}"
            )
        return FeatureViewProjection(self.name, tuple(features))

    # -- serialization -------------------------------------------------------------------
    def to_spec(self) -> dict[str, Any]:
        payload = self._payload or _pickle(self.udf)
        if not self._payload:
            object.__setattr__(self, "_payload", payload)
        return {
            "name": self.name,
            "sources": [{"view": p.view_name, "features": list(p.features)} for p in self.sources],
            "request_sources": [r.to_spec() for r in self.request_sources],
            "schema": [f.to_spec() for f in self.schema],
            "mode": self.mode,
            "udf_source": self.udf_source,
            UDF_PAYLOAD: payload,
            "description": self.description,
            "tags": dict(sorted(self.tags.items())),
            "owner": self.owner,
        }

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any]) -> OnDemandFeatureView:
        payload = spec[UDF_PAYLOAD]
        try:
            udf = cloudpickle.loads(base64.b64decode(payload))
        except Exception as exc:
            raise DefinitionError(
                f"on-demand feature view {spec['name']!r}: its stored function cannot be "
                f"loaded in this process ({type(exc).__name__}: {exc}); install the packages "
                "it uses, or re-apply it with this Python version"
            ) from exc
        sources: list[FeatureViewProjection | RequestSource] = [
            FeatureViewProjection(s["view"], tuple(s["features"])) for s in spec["sources"]
        ]
        sources += [RequestSource.from_spec(r) for r in spec.get("request_sources", [])]
        return cls(
            name=spec["name"],
            sources=sources,
            schema=[Field.from_spec(f) for f in spec["schema"]],
            udf=udf,
            mode=spec["mode"],
            udf_source=spec.get("udf_source", ""),
            description=spec.get("description", ""),
            tags=spec.get("tags") or {},
            owner=spec.get("owner", ""),
            _payload=payload,
        )


def comparable_spec(spec: Mapping[str, Any]) -> dict[str, Any]:
    """The spec without the pickled function: two specs equal here define the same view.

    Pickles of one function differ between Python versions and processes; the source text
    (kept in the spec) is what says whether the code changed.
    """
    return {k: v for k, v in spec.items() if k != UDF_PAYLOAD}


def on_demand_feature_view(
    *,
    sources: Sequence[FeatureView | FeatureViewProjection | RequestSource],
    schema: Sequence[Field],
    mode: Mode = "pandas",
    name: str | None = None,
    description: str = "",
    tags: Mapping[str, str] | None = None,
    owner: str = "",
    write_to_online_store: bool = False,
) -> Callable[[Callable[[Any], Any]], OnDemandFeatureView]:
    """Decorate a transformation to define an :class:`OnDemandFeatureView` (Feast's shape).

    Example:
        >>> from skewless import Entity, FileSource
        >>> from skewless.types import Float64
        >>> user = Entity(name="user", join_keys=["user_id"])
        >>> stats = FeatureView(name="stats", entities=[user],
        ...     schema=[Field(name="spend", dtype=Float64)], source=FileSource(path="s.parquet"))
        >>> txn = RequestSource(name="txn", schema=[Field(name="amount", dtype=Float64)])
        >>> @on_demand_feature_view(sources=[stats, txn],
        ...     schema=[Field(name="share", dtype=Float64)], mode="python")
        ... def spend_share(inputs):
        ...     return {"share": [a / s if s else None
        ...                       for a, s in zip(inputs["amount"], inputs["spend"])]}
        >>> spend_share({"amount": [5.0], "spend": [10.0]})
        {'share': [0.5]}

    ``write_to_online_store=True`` (Feast's option to store the outputs when rows are written)
    is accepted: skewless computes on-demand features on every read, from the stored inputs,
    which gives the same values.
    """

    def decorate(udf: Callable[[Any], Any]) -> OnDemandFeatureView:
        return OnDemandFeatureView(
            name=name or str(getattr(udf, "__name__", "")),
            sources=sources,
            schema=schema,
            udf=udf,
            mode=mode,
            description=description or inspect.getdoc(udf) or "",
            tags=tags,
            owner=owner,
        )

    return decorate


def _source_text(udf: Callable[[Any], Any]) -> str:
    try:
        return textwrap.dedent(inspect.getsource(udf))
    except (OSError, TypeError):
        # No file to read (defined interactively): the bytecode stands in for the text.
        code = getattr(udf, "__code__", None)
        return repr(code.co_code) if code is not None else repr(udf)


def _pickle(udf: Callable[[Any], Any]) -> str:
    """The function pickled by value, so it loads where its module is not importable."""
    target: Any = udf
    if isinstance(udf, types.FunctionType):
        target = types.FunctionType(
            udf.__code__, udf.__globals__, udf.__name__, udf.__defaults__, udf.__closure__
        )
        target.__kwdefaults__ = udf.__kwdefaults__
        target.__qualname__ = udf.__qualname__
        target.__module__ = "__skewless_on_demand__"  # not importable: pickled by value
    try:
        data = cloudpickle.dumps(target)
    except Exception as exc:
        raise DefinitionError(
            f"the function {getattr(udf, '__name__', udf)!r} cannot be stored "
            f"({type(exc).__name__}: {exc}): it must only use values that can be pickled"
        ) from exc
    return base64.b64encode(data).decode("ascii")
