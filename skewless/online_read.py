"""Online reads: the latest stored values of features for a list of entities.

The rules are docs/semantics.md "Online reads". A read resolves its request once into a lookup plan
(views, online tables, key encoders, payload decoders, output names, TTLs) and caches it until
the registry snapshot changes, so the hot path does no registry work: it encodes the keys,
makes one batched store call for every view, decodes the payloads and assembles columns.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from skewless._contracts import OnlineStore, StoredRow
from skewless._time import from_micros, to_micros
from skewless.definitions import BatchFeatureView, FeatureService, FeatureView
from skewless.entity_rows import KeyCheck, check_keys, entity_columns, key_checks
from skewless.errors import EntityFrameError, FeatureNotFoundError, OnlineStoreError
from skewless.feature_refs import FeatureRequest
from skewless.on_demand import (
    ResolvedRequest,
    check_request_columns,
    resolve,
    transform_rows,
)
from skewless.online.codec import Decoder, ViewCodec, encode_key, key_encoder
from skewless.online.window_state import StateLayout, WindowState
from skewless.registry.snapshot import RegistrySnapshot

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["EntityRows", "OnlineReader", "OnlineResponse", "Status"]

logger = logging.getLogger("skewless")

EntityRows = Sequence[Mapping[str, Any]] | Mapping[str, Sequence[Any]]
"""A list of ``{join_key: value}`` dicts, or ``{join_key: [values]}`` (one value per entity)."""


class Status:
    """The status of one value of an online read (Feast's ``FieldStatus`` names)."""

    PRESENT = "PRESENT"
    NULL_VALUE = "NULL_VALUE"
    NOT_FOUND = "NOT_FOUND"
    OUTSIDE_MAX_AGE = "OUTSIDE_MAX_AGE"


_UNBOUNDED = -(2**63) - 1  # a cutoff no stored time is below
_HINT_EVERY_S = 60.0
_MAX_PLANS = 1024  # distinct requests cached; past that the cache starts over


@dataclass(frozen=True, slots=True)
class _ViewPlan:
    name: str
    table: str
    join_keys: tuple[str, ...]
    encode: Callable[[Any], bytes | None]
    decode: Decoder
    output_names: tuple[str, ...]
    arrow_types: tuple[pa.DataType, ...]
    ttl_us: int | None
    empty: tuple[Any, ...]
    evaluate: Callable[[bytes, int], Sequence[Any]] | None = None


@dataclass(slots=True)
class _ReadPlan:
    views: tuple[_ViewPlan, ...]
    join_keys: frozenset[str]
    checked: set[tuple[str, ...]] = field(default_factory=set)
    on_demand: ResolvedRequest | None = None
    request_columns: frozenset[str] = frozenset()
    key_checks: tuple[KeyCheck, ...] = ()

    def check_columns(self, names: tuple[str, ...]) -> None:
        """Every entity column is a join key of a requested view and no join key is missing."""
        if names in self.checked:
            return
        for view in self.views:
            for key in view.join_keys:
                if key not in names:
                    given = ", ".join(names) or "none"
                    raise EntityFrameError(
                        f"entity_rows lack the join key {key!r} of feature view {view.name!r} "
                        f"(columns given: {given}): give every entity row a {key!r} value"
                    )
        if self.on_demand is not None:
            check_request_columns(names, self.on_demand, "entity_rows")
        for name in names:
            if name not in self.join_keys and name not in self.request_columns:
                keys = ", ".join(sorted(self.join_keys))
                raise EntityFrameError(
                    f"entity_rows column {name!r} is not a join key of the requested feature "
                    f"views (join keys: {keys}): remove it from entity_rows"
                )
        self.checked.add(names)


class OnlineResponse:
    """The result of an online read: one value per entity row and output column.

    Columns are the join keys (as given, in ``entity_rows`` order) followed by the features
    (views in order of first appearance, features in request order).
    """

    __slots__ = ("_columns", "_computed", "_keys", "_views")

    def __init__(
        self,
        columns: dict[str, list[Any]],
        keys: tuple[str, ...],
        views: list[tuple[_ViewPlan, list[StoredRow | None], int, list[list[Any]]]],
        computed: Mapping[str, pa.DataType] | None = None,
    ) -> None:
        self._columns = columns
        self._keys = keys
        self._views = views
        self._computed = computed or {}

    def to_dict(self) -> dict[str, list[Any]]:
        """Column name to list of values, join keys first (Feast's shape).

        >>> OnlineResponse({"user_id": [1], "f": [None]}, ("user_id",), []).to_dict()
        {'user_id': [1], 'f': [None]}
        """
        return dict(self._columns)

    @property
    def feature_names(self) -> list[str]:
        """Every output column name: join keys first, then features."""
        return list(self._columns)

    @property
    def statuses(self) -> dict[str, list[str]]:
        """The status of every value, in the shape of :meth:`to_dict` (join keys: PRESENT)."""
        out: dict[str, list[str]] = {
            k: [Status.PRESENT if v is not None else Status.NULL_VALUE for v in self._columns[k]]
            for k in self._keys
        }
        for plan, stored, cutoff, columns in self._views:
            row_status = [
                Status.NOT_FOUND if s is None else Status.OUTSIDE_MAX_AGE if s[0] < cutoff else None
                for s in stored
            ]
            for name, values in zip(plan.output_names, columns, strict=True):
                out[name] = [
                    st if st is not None else (Status.NULL_VALUE if v is None else Status.PRESENT)
                    for st, v in zip(row_status, values, strict=True)
                ]
        if self._computed:
            for name in self._computed:
                values = self._columns[name]
                out[name] = [Status.NULL_VALUE if v is None else Status.PRESENT for v in values]
            out = {name: out[name] for name in self._columns}
        return out

    @property
    def event_timestamps(self) -> dict[str, list[datetime | None]]:
        """The event time (aware UTC) of the stored row behind each value; None without one.

        Join keys have None.
        """
        out: dict[str, list[datetime | None]] = {
            k: [None] * len(self._columns[k]) for k in self._keys
        }
        for plan, stored, _, _ in self._views:
            times = [None if s is None else from_micros(s[0]) for s in stored]
            for name in plan.output_names:
                out[name] = list(times)
        if self._computed:
            for name in self._computed:
                out[name] = [None] * len(self._columns[name])
            out = {name: out[name] for name in self._columns}
        return out

    def to_arrow(self) -> pa.Table:
        """A table with the features' declared types (join keys typed from their values)."""
        arrays: dict[str, pa.Array] = {k: pa.array(self._columns[k]) for k in self._keys}
        for plan, _, _, columns in self._views:
            for name, kind, values in zip(
                plan.output_names, plan.arrow_types, columns, strict=True
            ):
                arrays[name] = pa.array(values, type=kind)
        if self._computed:
            for name, kind in self._computed.items():
                arrays[name] = pa.array(self._columns[name], type=kind)
            arrays = {name: arrays[name] for name in self._columns}
        return pa.table(arrays)

    def to_df(self) -> pd.DataFrame:
        """A pandas DataFrame with Feast's types (an int feature with nulls is float64)."""
        return self.to_arrow().to_pandas()

    def __len__(self) -> int:
        return len(next(iter(self._columns.values()), ()))

    def __repr__(self) -> str:
        return f"OnlineResponse({len(self)} rows, columns={list(self._columns)})"


class OnlineReader:
    """Serves online reads through one :class:`~skewless._contracts.OnlineStore`.

    Args:
        online_store: where materialized rows live.
        snapshot_provider: returns the current registry snapshot. Lookup plans are cached per
            request and dropped when it returns a different snapshot object.

    Thread safety: reads may run in parallel; the plan cache is only ever replaced whole.
    """

    def __init__(
        self,
        online_store: OnlineStore,
        snapshot_provider: Callable[[], RegistrySnapshot],
    ) -> None:
        self._store = online_store
        self._snapshot_provider = snapshot_provider
        self._snapshot: RegistrySnapshot | None = None
        self._plans: dict[object, _ReadPlan] = {}
        self._codecs: dict[str, ViewCodec] = {}
        self._last_hint = -_HINT_EVERY_S

    def read(
        self,
        features: FeatureRequest,
        entity_rows: EntityRows,
        full_feature_names: bool = False,
        now: datetime | None = None,
    ) -> OnlineResponse:
        """The stored values of ``features`` for each entity row, with statuses.

        Args:
            features: ``["view:feature", ...]``, a FeatureService, or a service's name.
            entity_rows: ``[{"user_id": 1}, ...]`` or ``{"user_id": [1, ...]}``.
            full_feature_names: name columns ``view__feature`` instead of ``feature``.
            now: the time TTLs are measured against (the store's clock).

        Raises:
            FeatureNotFoundError: an unknown view or feature, or a name clash.
            EntityFrameError: a missing join key, or a column that is not one.
        """
        plan = self._plan(features, full_feature_names)
        columns, n = entity_columns(entity_rows)
        if not columns and not n:  # no entities at all: empty join-key columns
            columns = {k: [] for view in plan.views for k in view.join_keys}
        names = tuple(columns)
        plan.check_columns(names)
        if plan.key_checks:
            check_keys(plan.key_checks, columns)
        now_us = to_micros(now if now is not None else datetime.now(UTC))

        lookups: list[tuple[str, Sequence[bytes]]] = []
        positions: list[list[int] | None] = []
        encoded: dict[tuple[str, ...], tuple[list[bytes], list[int] | None]] = {}
        for view in plan.views:
            found = encoded.get(view.join_keys)
            if found is None:
                found = encoded[view.join_keys] = _encode(view, columns)
            lookups.append((view.table, found[0]))
            positions.append(found[1])
        results = self._store.read(lookups) if n else [[] for _ in lookups]

        out = {name: columns[name] for name in names}
        views = []
        outside = 0
        for view, stored, where in zip(plan.views, results, positions, strict=True):
            if where is not None:  # some keys were null: put the answers back in row order
                full: list[StoredRow | None] = [None] * n
                for i, row in zip(where, stored, strict=True):
                    full[i] = row
                stored = full
            cutoff = now_us - view.ttl_us if view.ttl_us else _UNBOUNDED
            cols, expired = _view_columns(view, stored, cutoff, n, now_us)
            outside += expired
            for name, values in zip(view.output_names, cols, strict=True):
                out[name] = values
            views.append((view, stored, cutoff, cols))
        if outside and outside == n * len(plan.views):
            self._hint(plan)
        if plan.on_demand is not None:
            return _on_demand_response(plan.on_demand, out, names, views, n)
        return OnlineResponse(out, names, views)

    # -- plans -----------------------------------------------------------------------------
    def _plan(self, features: FeatureRequest, full_feature_names: bool) -> _ReadPlan:
        snapshot = self._snapshot_provider()
        if snapshot is not self._snapshot:
            self._plans, self._codecs = {}, {}
            self._snapshot = snapshot
        key = _request_key(features, full_feature_names)
        plan = self._plans.get(key) if key is not None else None
        if plan is None:
            plan = self._compile(snapshot, features, full_feature_names)
            if key is not None:
                plans = dict(self._plans) if len(self._plans) < _MAX_PLANS else {}
                plans[key] = plan
                self._plans = plans
        return plan

    def _compile(
        self, snapshot: RegistrySnapshot, features: FeatureRequest, full_feature_names: bool
    ) -> _ReadPlan:
        views = []
        checks: dict[str, KeyCheck] = {}
        resolved = resolve(features, snapshot, full_feature_names)
        for request in resolved.views:
            view = request.view
            for check in key_checks(view, snapshot.entities):
                checks.setdefault(check.key, check)
            if not view.online:
                raise FeatureNotFoundError(
                    f"feature view {view.name!r} has online=False, so it is not served "
                    "online: set online=True, apply and materialize it, or leave its "
                    "features out of the online request"
                )
            if isinstance(view, BatchFeatureView):
                views.append(_window_plan(snapshot, view, request.features, request.output_names))
                continue
            codec = self._codec(view)
            views.append(
                _ViewPlan(
                    name=view.name,
                    table=snapshot.online_table(view),
                    join_keys=view.join_keys,
                    encode=key_encoder(len(view.join_keys)),
                    decode=codec.decoder(request.features),
                    output_names=request.output_names,
                    arrow_types=tuple(codec.arrow_types(request.features)),
                    ttl_us=view.ttl // timedelta(microseconds=1) if view.ttl else None,
                    empty=(None,) * len(request.features),
                )
            )
        keys = frozenset(k for v in views for k in v.join_keys)
        found = tuple(checks.values())
        if not resolved.on_demand:
            return _ReadPlan(views=tuple(views), join_keys=keys, key_checks=found)
        requests = frozenset(resolved.request_columns)
        return _ReadPlan(
            tuple(views), keys, on_demand=resolved, request_columns=requests, key_checks=found
        )

    def _codec(self, view: FeatureView) -> ViewCodec:
        codec = self._codecs.get(view.name)
        if codec is None:
            codec = self._codecs[view.name] = ViewCodec(view)
        return codec

    def _hint(self, plan: _ReadPlan) -> None:
        moment = time.monotonic()
        if moment - self._last_hint < _HINT_EVERY_S:
            return
        self._last_hint = moment
        ttls = ", ".join(
            f"{v.name} ttl={timedelta(microseconds=v.ttl_us or 0)}" for v in plan.views
        )
        logger.warning(
            "every value read is OUTSIDE_MAX_AGE: the stored rows are older than their "
            "views' ttl (%s), so they read as null; materialize newer data "
            "(`skewless materialize-incremental`) or raise the ttl "
            "(see docs/feast-differences.md)",
            ttls,
        )


def _window_plan(
    snapshot: RegistrySnapshot,
    view: BatchFeatureView,
    features: tuple[str, ...],
    output_names: tuple[str, ...],
) -> _ViewPlan:
    """How to read aggregation features: evaluate each key's window state at ``now``."""
    layout = StateLayout.of(view)
    aggregations = tuple(view.aggregation(f) for f in features)
    decode_state = WindowState.decode

    def evaluate(payload: bytes, now_us: int) -> Sequence[Any]:
        try:
            return decode_state(layout, payload).evaluate(aggregations, now_us)
        except Exception as exc:
            raise OnlineStoreError(
                f"the online window state of feature view {view.name!r} cannot be read "
                f"({type(exc).__name__}: {exc}): materialize the view again to rebuild it"
            ) from exc

    def unused(payload: bytes) -> Sequence[Any]:
        raise AssertionError("window states are evaluated, not decoded")

    return _ViewPlan(
        name=view.name,
        table=snapshot.online_table(view),
        join_keys=view.join_keys,
        encode=key_encoder(len(view.join_keys)),
        decode=unused,
        output_names=output_names,
        arrow_types=tuple(view.dtype_of(f).to_arrow() for f in features),
        ttl_us=None,
        empty=tuple(0 if a.function in ("count", "count_distinct") else None for a in aggregations),
        evaluate=evaluate,
    )


def _view_columns(
    view: _ViewPlan, stored: list[StoredRow | None], cutoff: int, n: int, now_us: int
) -> tuple[list[list[Any]], int]:
    """One view's feature columns, and how many rows were older than the TTL allows."""
    decode, empty, evaluate = view.decode, view.empty, view.evaluate
    rows: list[Sequence[Any]] = []
    outside = 0
    for s in stored:
        if s is None:
            rows.append(empty)
        elif evaluate is not None:
            rows.append(evaluate(s[1], now_us))
        elif s[0] < cutoff:
            rows.append(empty)
            outside += 1
        else:
            rows.append(decode(s[1]))
    if n == 1:
        return [[v] for v in rows[0]], outside
    if n:
        return [list(c) for c in zip(*rows, strict=True)], outside
    return [[] for _ in view.output_names], outside


def _on_demand_response(
    resolved: ResolvedRequest,
    out: dict[str, list[Any]],
    names: tuple[str, ...],
    views: list[tuple[_ViewPlan, list[StoredRow | None], int, list[list[Any]]]],
    n: int,
) -> OnlineResponse:
    """The response with on-demand features computed and hidden inputs dropped."""
    computed: dict[str, pa.DataType] = {}
    for request in resolved.on_demand:
        values = transform_rows(request, out, n)
        for name, kind, column in zip(
            request.output_names, request.arrow_types, values, strict=True
        ):
            out[name] = column
            computed[name] = kind
    keys = tuple(name for name in names if name not in resolved.request_columns)
    columns = {name: out[name] for name in keys + resolved.columns}
    shown = []
    for plan, stored, cutoff, cols in views:
        keep = [i for i, name in enumerate(plan.output_names) if name not in resolved.hidden]
        if len(keep) < len(plan.output_names):
            if not keep:
                continue
            plan = replace(
                plan,
                output_names=tuple(plan.output_names[i] for i in keep),
                arrow_types=tuple(plan.arrow_types[i] for i in keep),
            )
            cols = [cols[i] for i in keep]
        shown.append((plan, stored, cutoff, cols))
    return OnlineResponse(columns, keys, shown, computed)


def _request_key(features: FeatureRequest, full_feature_names: bool) -> object:
    if isinstance(features, str):
        return (features, full_feature_names)
    if isinstance(features, FeatureService):
        return ("service", features.name, features.feature_refs, full_feature_names)
    try:
        return (tuple(features), full_feature_names)
    except TypeError:
        return None


def _encode(view: _ViewPlan, columns: dict[str, list[Any]]) -> tuple[list[bytes], list[int] | None]:
    """Encoded keys to look up, and the row of each when some rows have a null key."""
    if len(view.join_keys) == 1:
        encode = view.encode
        keys = [encode(v) for v in columns[view.join_keys[0]]]
    else:
        parts = [columns[k] for k in view.join_keys]
        keys = [encode_key(t) for t in zip(*parts, strict=True)]
    if None not in keys:
        return keys, None  # type: ignore[return-value]
    where = [i for i, k in enumerate(keys) if k is not None]
    return [keys[i] for i in where], where  # type: ignore[misc]
