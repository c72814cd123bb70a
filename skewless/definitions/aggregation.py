"""Window aggregations: features computed over a time window of an event source.

A :class:`BatchFeatureView` reads raw events (``schema`` declares the raw columns) and serves
one feature per :class:`Aggregation`, evaluated at a point in time ``t`` over the rows with
``t - window < ts <= t`` (see docs/semantics.md, "Window aggregations").

Example:
    >>> from datetime import timedelta
    >>> from skewless.types import Float64
    >>> user = Entity(name="user", join_keys=["user_id"])
    >>> txns = BatchFeatureView(
    ...     name="txn_stats",
    ...     entities=[user],
    ...     source=FileSource(path="data/transactions.parquet"),
    ...     schema=[Field(name="amount", dtype=Float64)],
    ...     aggregations=[
    ...         Aggregation(column="amount", function="mean", time_window=timedelta(days=7)),
    ...         Aggregation(column="amount", function="count", time_window=None),
    ...     ],
    ... )
    >>> txns.feature_names
    ('mean_amount_7d', 'count_amount_lifetime')
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Literal, get_args

from skewless._types import DType, Float32, Float64, Int32, Int64
from skewless.definitions._names import check_identifier
from skewless.definitions.entity import Entity
from skewless.definitions.feature_view import FeatureView
from skewless.definitions.field import Field
from skewless.definitions.push_source import PushSource, source_from_spec
from skewless.definitions.sources import FileSource
from skewless.errors import DefinitionError

__all__ = ["AGGREGATION_FUNCTIONS", "Aggregation", "BatchFeatureView", "window_label"]

AggregationFunction = Literal[
    "count", "count_distinct", "sum", "mean", "min", "max", "std", "last", "share_above"
]
AGGREGATION_FUNCTIONS: tuple[str, ...] = get_args(AggregationFunction)
# Functions that need a numeric column.
NUMERIC_FUNCTIONS = frozenset({"sum", "mean", "std", "min", "max", "share_above"})
_NUMERIC = (Int32, Int64, Float32, Float64)
_MICROSECOND = timedelta(microseconds=1)


def _threshold_label(threshold: float) -> str:
    """A threshold as written in a name: ``100``, ``0p5``, ``m2`` (for -2)."""
    text = str(int(threshold)) if threshold.is_integer() else repr(threshold)
    return text.replace("-", "m").replace(".", "p").replace("+", "")


def window_label(window: timedelta | None) -> str:
    """The window as written in a default feature name: the largest whole unit.

    Days, then hours, minutes, seconds, milliseconds and microseconds; ``lifetime`` for None.

    Example:
        >>> window_label(timedelta(days=7)), window_label(timedelta(minutes=90))
        ('7d', '90m')
        >>> window_label(timedelta(hours=36)), window_label(None)
        ('36h', 'lifetime')
    """
    if window is None:
        return "lifetime"
    micros = window // _MICROSECOND
    for unit, size in (("d", 86_400_000_000), ("h", 3_600_000_000), ("m", 60_000_000)):
        if micros % size == 0:
            return f"{micros // size}{unit}"
    for unit, size in (("s", 1_000_000), ("ms", 1_000)):
        if micros % size == 0:
            return f"{micros // size}{unit}"
    return f"{micros}us"


@dataclass(frozen=True, init=False)
class Aggregation:
    """One aggregate of a raw column over a trailing time window.

    Args:
        column: the raw column aggregated (declared in the view's ``schema``).
        function: count, count_distinct, sum, mean, min, max, std (sample), last, or
            share_above (the share of non-null values greater than ``threshold``).
        time_window: the window length; None aggregates the key's whole history.
        name: the feature's name; by default ``{function}_{column}_{window}``
            (``share_above_{threshold}_{column}_{window}`` for share_above).
        threshold: the bound of share_above (required there, refused elsewhere).

    Example:
        >>> Aggregation(column="amount", function="share_above", threshold=100,
        ...             time_window=timedelta(days=30)).name
        'share_above_100_amount_30d'
    """

    column: str
    function: AggregationFunction
    time_window: timedelta | None = None
    name: str = field(default="")
    threshold: float | None = None

    def __init__(
        self,
        *,
        column: str,
        function: str,
        time_window: timedelta | None = None,
        name: str | None = None,
        threshold: float | None = None,
    ) -> None:
        check_identifier(column, "aggregation column")
        if function not in AGGREGATION_FUNCTIONS:
            raise DefinitionError(
                f"aggregation of {column!r}: unknown function {function!r}; use one of "
                f"{', '.join(AGGREGATION_FUNCTIONS)}"
            )
        if time_window is not None:
            if not isinstance(time_window, timedelta):
                raise DefinitionError(
                    f"aggregation {function}({column}): time_window must be a timedelta or "
                    f"None (lifetime), got {time_window!r}"
                )
            if time_window <= timedelta(0):
                raise DefinitionError(
                    f"aggregation {function}({column}): time_window {time_window} is not "
                    "positive; use e.g. timedelta(days=7), or None for lifetime"
                )
            if time_window % _MICROSECOND:
                raise DefinitionError(
                    f"aggregation {function}({column}): time_window {time_window} is finer "
                    "than a microsecond; round it"
                )
        if function == "share_above":
            if isinstance(threshold, bool) or not isinstance(threshold, int | float):
                raise DefinitionError(
                    f"aggregation share_above({column}) needs a numeric threshold: pass e.g. "
                    "threshold=100.0"
                )
            if not math.isfinite(threshold):
                raise DefinitionError(
                    f"aggregation share_above({column}): threshold {threshold} is not finite"
                )
            threshold = float(threshold)
            prefix = f"share_above_{_threshold_label(threshold)}"
        elif threshold is not None:
            raise DefinitionError(
                f"aggregation {function}({column}) takes no threshold; only share_above does"
            )
        else:
            prefix = function
        label = name or f"{prefix}_{column}_{window_label(time_window)}"
        check_identifier(label, "aggregation name")
        object.__setattr__(self, "column", column)
        object.__setattr__(self, "function", function)
        object.__setattr__(self, "time_window", time_window)
        object.__setattr__(self, "name", label)
        object.__setattr__(self, "threshold", threshold)

    @property
    def window_micros(self) -> int | None:
        """The window in microseconds (None: lifetime)."""
        return None if self.time_window is None else self.time_window // _MICROSECOND

    def output_dtype(self, column_dtype: DType) -> DType:
        """The feature's type given the raw column's type.

        count and count_distinct are Int64; mean, std and share_above Float64; sum is Int64
        over integers and Float64 over floats; min, max and last keep the column's type.
        """
        if self.function in ("count", "count_distinct"):
            return Int64
        if self.function in ("mean", "std", "share_above"):
            return Float64
        if self.function == "sum":
            return Int64 if column_dtype in (Int32, Int64) else Float64
        return column_dtype

    def to_spec(self) -> dict[str, Any]:
        return {
            "column": self.column,
            "function": self.function,
            "time_window_seconds": (
                None if self.time_window is None else self.time_window.total_seconds()
            ),
            "name": self.name,
            **({"threshold": self.threshold} if self.threshold is not None else {}),
        }

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any]) -> Aggregation:
        seconds = spec.get("time_window_seconds")
        return cls(
            column=spec["column"],
            function=spec["function"],
            time_window=None if seconds is None else timedelta(seconds=seconds),
            name=spec.get("name") or None,
            threshold=spec.get("threshold"),
        )


@dataclass(frozen=True, init=False)
class BatchFeatureView(FeatureView, spec_key="aggregations"):
    """A view whose features are window aggregations of an event source.

    ``schema`` declares the raw columns the aggregations read (and may type the join keys);
    the view's features are its aggregations, in order. ``event_id`` names a source column
    identifying each event of a key: rows of one key sharing an ``event_id`` count once (the
    winning row of docs/semantics.md is kept). TTL does not apply to aggregations.

    Raises:
        DefinitionError: no aggregations, an aggregated column not declared in ``schema`` or
            a join key, a numeric function over a non-numeric column, duplicate names.
    """

    aggregations: tuple[Aggregation, ...] = ()
    event_id: str = ""

    def __init__(
        self,
        *,
        name: str,
        source: FileSource | PushSource,
        aggregations: Sequence[Aggregation],
        schema: Sequence[Field] | None = None,
        entities: Sequence[Entity] | None = None,
        ttl: timedelta | None = None,
        online: bool = True,
        tags: Mapping[str, str] | None = None,
        owner: str = "",
        description: str = "",
        event_id: str = "",
    ) -> None:
        check_identifier(name, "feature view name")
        what = f"batch feature view {name!r}"
        aggs = tuple(aggregations or ())
        if not aggs:
            raise DefinitionError(
                f"{what} has no aggregations: pass aggregations=[Aggregation(column=..., "
                "function=..., time_window=...)]"
            )
        for agg in aggs:
            if not isinstance(agg, Aggregation):
                raise DefinitionError(f"{what}: aggregations must be Aggregation(...), got {agg!r}")
        fields = tuple(schema or ())
        declared = {f.name: f.dtype for f in fields if isinstance(f, Field)}
        keys = {k for ent in entities or () if isinstance(ent, Entity) for k in ent.join_keys}
        for agg in aggs:
            label = f"{what}: aggregation {agg.name!r}"
            if agg.column in keys:
                raise DefinitionError(
                    f"{label} aggregates join key {agg.column!r}; aggregate another column "
                    "(e.g. count of an event id column)"
                )
            if agg.column not in declared:
                raise DefinitionError(
                    f"{label} reads column {agg.column!r}, which the schema does not declare; "
                    f"add Field(name={agg.column!r}, dtype=...) to schema"
                )
            if agg.function in NUMERIC_FUNCTIONS and declared[agg.column] not in _NUMERIC:
                raise DefinitionError(
                    f"{label}: {agg.function} needs a numeric column, but {agg.column!r} is "
                    f"{declared[agg.column]}; declare it Int32/Int64/Float32/Float64 or use "
                    "count, count_distinct or last"
                )
        names = [a.name for a in aggs]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise DefinitionError(
                f"{what} has several aggregations named {dupes}: give them distinct name=..."
            )
        clash = sorted((keys | {source.timestamp_field}) & set(names))
        if clash:
            raise DefinitionError(f"{what}: aggregation name(s) {clash} are source columns")
        if event_id:
            check_identifier(event_id, "event_id")
            if event_id in keys or event_id == source.timestamp_field:
                raise DefinitionError(
                    f"{what}: event_id {event_id!r} is a join key or the timestamp field; "
                    "name the column that identifies each event"
                )
        super().__init__(
            name=name,
            source=source,
            schema=fields,
            entities=entities,
            ttl=ttl,
            online=online,
            tags=tags,
            owner=owner,
            description=description,
        )
        object.__setattr__(self, "aggregations", aggs)
        object.__setattr__(self, "event_id", event_id or "")

    # -- derived facts -------------------------------------------------------------------
    @property
    def value_columns(self) -> tuple[Field, ...]:
        """The raw columns read from the source: the schema's fields that are not keys."""
        return super().features

    @property
    def features(self) -> tuple[Field, ...]:
        """One field per aggregation, with its derived type."""
        declared = {f.name: f.dtype for f in self.schema}
        return tuple(
            Field(name=a.name, dtype=a.output_dtype(declared[a.column])) for a in self.aggregations
        )

    def dtype_of(self, feature: str) -> DType:
        for f in self.features:
            if f.name == feature:
                return f.dtype
        raise KeyError(feature)

    def aggregation(self, feature: str) -> Aggregation:
        """The aggregation behind ``feature``."""
        for agg in self.aggregations:
            if agg.name == feature:
                return agg
        raise KeyError(feature)

    # -- serialization -------------------------------------------------------------------
    def to_spec(self) -> dict[str, Any]:
        spec = super().to_spec()
        spec["aggregations"] = [a.to_spec() for a in self.aggregations]
        spec["event_id"] = self.event_id
        return spec

    def data_spec(self) -> dict[str, Any]:
        spec = super().data_spec()
        spec["aggregations"] = [a.to_spec() for a in self.aggregations]
        spec["event_id"] = self.event_id
        return spec

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any]) -> BatchFeatureView:
        ttl = spec.get("ttl_seconds")
        return cls(
            name=spec["name"],
            entities=[Entity(e["name"], e["join_keys"]) for e in spec["entities"]],
            ttl=timedelta(seconds=ttl) if ttl else None,
            schema=[Field.from_spec(f) for f in spec["schema"]],
            source=source_from_spec(spec["source"]),
            aggregations=[Aggregation.from_spec(a) for a in spec["aggregations"]],
            event_id=spec.get("event_id", ""),
            online=spec.get("online", True),
            tags=spec.get("tags") or {},
            owner=spec.get("owner", ""),
            description=spec.get("description", ""),
        )
