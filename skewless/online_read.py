"""Online reads: the latest stored values of features for a list of entities.

The rules are docs/semantics.md "Online reads". A read resolves its request once into a lookup plan
(views, online tables, key encoders, payload decoders, output names, TTLs) and caches it until
the registry snapshot changes, so the hot path does no registry work: it encodes the keys,
makes one batched store call for every view, decodes the payloads and assembles columns.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa

from skewless._contracts import OnlineStore, StoredRow
from skewless._time import to_micros
from skewless._types import is_document
from skewless.definitions import BatchFeatureView, FeatureService, FeatureView
from skewless.entity_rows import (
    EntityRows,
    KeyCheck,
    check_keys,
    entity_columns,
    key_checks,
    quick_types,
)
from skewless.errors import EntityFrameError, FeatureNotFoundError, OnlineStoreError
from skewless.feature_refs import FeatureRequest
from skewless.on_demand import (
    ResolvedRequest,
    check_request_columns,
    resolve,
    transform_rows,
)
from skewless.online.codec import ViewCodec, encode_key, key_encoder
from skewless.online.window_state import StateLayout, WindowState
from skewless.online_response import OnlineResponse, Status, ViewPlan, ViewResult
from skewless.registry.snapshot import RegistrySnapshot

__all__ = ["EntityRows", "OnlineReader", "OnlineResponse", "Status"]

logger = logging.getLogger("skewless")


_UNBOUNDED = -(2**63) - 1  # a cutoff no stored time is below
_HINT_EVERY_S = 60.0
_MAX_PLANS = 1024  # distinct requests cached; past that the cache starts over


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _wall_micros() -> int:
    return time.time_ns() // 1_000


@dataclass(slots=True)
class _ReadPlan:
    views: tuple[ViewPlan, ...]
    join_keys: frozenset[str]
    checked: set[tuple[str, ...]] = field(default_factory=set)
    on_demand: ResolvedRequest | None = None
    request_columns: frozenset[str] = frozenset()
    key_checks: tuple[KeyCheck, ...] = ()
    timed: bool = False  # a view has a TTL or windows: reads need "now"
    # The one join key of a plain request (no windows, no on-demand features): a single entity
    # row holding just that key takes the short path.
    single_key: str | None = None
    tables: tuple[str, ...] = ()
    # The types the single key's declared type takes without a closer look (None: unchecked).
    single_key_types: frozenset[type] | None = None
    key_names: tuple[str, ...] = ()  # (single_key,) for the short path's response

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
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self._store = online_store
        self._snapshot_provider = snapshot_provider
        self._clock = clock or _utc_now
        # "now" in microseconds: the wall clock's without building a datetime first.
        self._now_us: Callable[[], int] = (
            _wall_micros if clock is None else lambda: to_micros(self._clock())
        )
        # The last list of feature references read, a copy of it, and its plan: a service
        # asking for the same features call after call skips building the cache key.
        self._last: tuple[list[str], bool, RegistrySnapshot, _ReadPlan] | None = None
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
            now: the time TTLs are measured against; defaults to the reader's clock, which
                is only read when a requested view has a TTL or windows.

        Raises:
            FeatureNotFoundError: an unknown view or feature, or a name clash.
            EntityFrameError: a missing join key, or a column that is not one.
        """
        last = self._last
        if (
            last is not None
            and features.__class__ is list
            and full_feature_names is last[1]
            and features == last[0]
            and self._snapshot_provider() is last[2]
        ):
            plan = last[3]
        else:
            plan = self._plan(features, full_feature_names)
        key = plan.single_key
        if key is not None and entity_rows.__class__ is list and len(entity_rows) == 1:
            row = entity_rows[0]
            if row.__class__ is dict and len(row) == 1 and key in row:
                return self._read_one(plan, key, row[key], now)
        return self._read_rows(plan, entity_rows, now)

    def _read_one(
        self, plan: _ReadPlan, key: str, value: Any, now: datetime | None
    ) -> OnlineResponse:
        """One entity of a plain request: the same answer as :meth:`_read_rows`, with less
        bookkeeping (every view shares the one join key, so the key is encoded once)."""
        types = plan.single_key_types
        if types is not None and value.__class__ not in types:
            check_keys(plan.key_checks, {key: [value]})  # a lossless form, a null, or an error
        views = plan.views
        encoded = views[0].encode(value)
        if encoded is None:
            results: list[list[StoredRow | None]] = [[None] for _ in views]
        else:
            keys = [encoded]
            tables = plan.tables
            lookups = [(tables[0], keys)] if len(tables) == 1 else [(t, keys) for t in tables]
            results = self._store.read(lookups)
        now_us = 0
        if plan.timed:
            now_us = to_micros(now) if now is not None else self._now_us()
        out: dict[str, list[Any]] = {key: [value]}
        if len(results) == 1:  # one view: no loop, no zip
            view = views[0]
            stored = results[0]
            found = stored[0]
            ttl_us = view.ttl_us
            cutoff = now_us - ttl_us if ttl_us else _UNBOUNDED
            if found is None:
                one: Sequence[Any] = view.empty
            elif found[0] < cutoff:
                one = view.empty
                self._hint(plan)
            else:
                one = view.decode(found[1])
            cols = [[v] for v in one]
            out.update(zip(view.output_names, cols, strict=True))
            return OnlineResponse(out, plan.key_names, [(view, stored, cutoff, cols)])
        shown: list[ViewResult] = []
        outside = 0
        for view, stored in zip(views, results, strict=True):
            found = stored[0]
            ttl_us = view.ttl_us
            cutoff = now_us - ttl_us if ttl_us else _UNBOUNDED
            if found is None:
                values: Sequence[Any] = view.empty
            elif found[0] < cutoff:
                values = view.empty
                outside += 1
            else:
                values = view.decode(found[1])
            cols = [[v] for v in values]
            out.update(zip(view.output_names, cols, strict=True))
            shown.append((view, stored, cutoff, cols))
        if outside and outside == len(views):
            self._hint(plan)
        return OnlineResponse(out, plan.key_names, shown)

    def _read_rows(
        self, plan: _ReadPlan, entity_rows: EntityRows, now: datetime | None
    ) -> OnlineResponse:
        columns, n = entity_columns(entity_rows)
        if not columns and not n:  # no entities at all: empty join-key columns
            columns = {k: [] for view in plan.views for k in view.join_keys}
        names = tuple(columns)
        plan.check_columns(names)
        if plan.key_checks:
            check_keys(plan.key_checks, columns)
        now_us = 0
        if plan.timed:
            now_us = to_micros(now) if now is not None else self._now_us()

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
        views: list[ViewResult] = []
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
            out.update(zip(view.output_names, cols, strict=True))
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
        if features.__class__ is list:
            key: object = (tuple(features), full_feature_names)
        else:
            key = _request_key(features, full_feature_names)
        plan = self._plans.get(key) if key is not None else None
        if plan is None:
            plan = self._compile(snapshot, features, full_feature_names)
            if key is not None:
                plans = dict(self._plans) if len(self._plans) < _MAX_PLANS else {}
                plans[key] = plan
                self._plans = plans
        if features.__class__ is list:
            self._last = (list(features), full_feature_names, snapshot, plan)
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
                ViewPlan(
                    name=view.name,
                    table=snapshot.online_table(view),
                    join_keys=view.join_keys,
                    encode=key_encoder(len(view.join_keys)),
                    decode=codec.decoder(request.features),
                    output_names=request.output_names,
                    arrow_types=tuple(codec.arrow_types(request.features)),
                    documents=frozenset(
                        name
                        for f, name in zip(request.features, request.output_names, strict=True)
                        if is_document(view.dtype_of(f))
                    ),
                    ttl_us=view.ttl // timedelta(microseconds=1) if view.ttl else None,
                    empty=(None,) * len(request.features),
                )
            )
        keys = frozenset(k for v in views for k in v.join_keys)
        timed = any(v.ttl_us or v.evaluate is not None for v in views)
        found = tuple(checks.values())
        if not resolved.on_demand:
            plain = views and all(v.evaluate is None and len(v.join_keys) == 1 for v in views)
            single = next(iter(keys)) if plain and len(keys) == 1 else None
            return _ReadPlan(
                views=tuple(views),
                join_keys=keys,
                key_checks=found,
                timed=timed,
                single_key=single,
                key_names=(single,) if single else (),
                tables=tuple(v.table for v in views),
                single_key_types=quick_types(found[0]) if single and found else None,
            )
        requests = frozenset(resolved.request_columns)
        return _ReadPlan(
            tuple(views),
            keys,
            on_demand=resolved,
            request_columns=requests,
            key_checks=found,
            timed=timed,
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
) -> ViewPlan:
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

    return ViewPlan(
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
    view: ViewPlan, stored: list[StoredRow | None], cutoff: int, n: int, now_us: int
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
    views: list[ViewResult],
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


def _encode(view: ViewPlan, columns: dict[str, list[Any]]) -> tuple[list[bytes], list[int] | None]:
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
