"""The skew audit: online values against an offline recomputation at the same instant.

For every online view involved, the audit picks ``T = min(watermark, store.now())`` (capped by
``at``), samples entity keys that exist at ``T`` in the view's source (a seeded sample that
does not depend on the order rows come in), reads them online with ``now = T`` and retrieves
them offline at ``event_timestamp = T``. docs/semantics.md "Parity" says the two agree: every
difference is skew. An on-demand view is audited at the earliest ``T`` of its source views.

Rows that are not online *yet* are lag, never skew, and are reported separately:

- keys whose source has rows newer than the watermark (pending the next materialization);
- keys with late rows (event time at or before the watermark, created after the last
  incremental run); a sampled key whose difference such a row explains counts as lag.

An online row newer than ``T`` (a push, or a materialization past the clock) is compared
offline at its own event time; for an on-demand view such a key is left out and counted.
"""

from __future__ import annotations

import hashlib
import heapq
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pyarrow as pa

from skewless._contracts import OfflineEngine, OnlineStore
from skewless._time import parse_time, to_utc
from skewless.audit_records import record_audit
from skewless.audit_report import (
    MAX_EXAMPLES,
    AuditReport,
    ComparisonRule,
    FeatureAudit,
    ViewAudit,
    ViewLag,
    comparison_rule,
    values_equal,
)
from skewless.definitions import BatchFeatureView, FeatureView, OnDemandFeatureView
from skewless.errors import FeatureNotFoundError, SkewlessError
from skewless.feature_refs import FeatureRequest, parse_refs
from skewless.online.codec import encode_key_columns
from skewless.online_read import OnlineReader
from skewless.registry import Registry
from skewless.registry.snapshot import RegistrySnapshot
from skewless.retrieval import get_historical_features

__all__ = [
    "MAX_EXAMPLES",
    "AuditContext",
    "AuditReport",
    "FeatureAudit",
    "ViewAudit",
    "ViewLag",
    "audit",
    "serving_time",
    "values_equal",
]

_US = timedelta(microseconds=1)
_ENTITY_TIME = "event_timestamp"


# -- the audit ------------------------------------------------------------------------------
def serving_time(registry: Registry, view: FeatureView, now: datetime) -> datetime | None:
    """``T = min(watermark, now)``: the instant a view's online values stand for.

    None when the view was never materialized (at its current data version).
    """
    mark = registry.get_watermark(view)
    return None if mark is None else min(mark.watermark, now)


@dataclass(frozen=True)
class AuditContext:
    """What an audit reads: both stores, the watermarks, the definitions and the clock.

    Attributes:
        engine: recomputes the offline values.
        online: holds the values served.
        registry: holds the materialization watermarks.
        snapshot: the definitions audited.
        now: the store's clock at the start of the audit (UTC).
    """

    engine: OfflineEngine
    online: OnlineStore
    registry: Registry
    snapshot: RegistrySnapshot
    now: datetime


@dataclass
class _Sample:
    """Sampled keys: ``columns[join_key]`` holds one value per key."""

    columns: dict[str, list[Any]]
    types: dict[str, pa.DataType]

    @property
    def size(self) -> int:
        return len(next(iter(self.columns.values()), []))

    def key(self, i: int) -> dict[str, Any]:
        return {k: v[i] for k, v in self.columns.items()}


def audit(
    context: AuditContext,
    features: FeatureRequest | None = None,
    sample: int = 100,
    seed: int = 0,
    at: datetime | str | None = None,
    request_data: Mapping[str, Any] | None = None,
) -> AuditReport:
    """Compare online values with an offline recomputation at the same instant.

    Args:
        context: the stores, registry, definitions and clock to audit
            (``FeatureStore.audit`` builds it).
        features: ``["view:feature", ...]``, a feature service (or its name); by default every
            feature of every online view and every on-demand view.
        sample: the most entity keys compared per view.
        seed: picks the sample; the same seed and data give the same keys.
        at: audit no later than this instant (ISO-8601 text or a datetime, naive meaning
            UTC; default: the store's clock).
        request_data: one value per request-data column, used for every sampled key, so that
            on-demand views reading request data can be recomputed (they are skipped without).

    Raises:
        SkewlessError: ``sample`` is not positive.
        TimeRangeError: ``at`` is not a time.
        FeatureNotFoundError: an unknown view or feature.
    """
    if isinstance(sample, bool) or not isinstance(sample, int) or sample <= 0:
        raise SkewlessError(f"sample must be a positive number of keys, got {sample!r}")
    now = context.now
    limit = min(now, parse_time(at, "at")) if at is not None else now
    snapshot = context.snapshot
    plain, odfvs = _requested(snapshot, features)
    report = AuditReport(now=now, sample=sample, seed=seed)
    auditor = _Auditor(context, sample, seed, limit, report)
    involved = dict.fromkeys(
        [*plain, *(p.view_name for o in odfvs for p in snapshot.on_demand_feature_views[o].sources)]
    )
    for name in involved:
        auditor.times[name] = auditor.time_of(snapshot.get_feature_view(name))
    for name, feats in plain.items():
        auditor.audit_view(snapshot.get_feature_view(name), feats)
    for name, feats in odfvs.items():
        auditor.audit_on_demand(snapshot.get_on_demand_feature_view(name), feats, request_data)
    for name in involved:
        report.lag.append(auditor.lag_of(snapshot.get_feature_view(name)))
    record_audit(context.registry, report)
    return report


def _requested(
    snapshot: RegistrySnapshot, features: FeatureRequest | None
) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """The requested features of feature views and of on-demand views, by view."""
    plain: dict[str, list[str]] = {}
    odfvs: dict[str, list[str]] = {}
    if features is None:
        for view in snapshot.feature_views.values():
            if view.online:
                plain[view.name] = list(view.feature_names)
        for odfv in snapshot.on_demand_feature_views.values():
            odfvs[odfv.name] = list(odfv.feature_names)
        return plain, odfvs
    for name, feature in parse_refs(features, snapshot):
        if name in snapshot.on_demand_feature_views:
            known: Sequence[str] = snapshot.on_demand_feature_views[name].feature_names
            target = odfvs
        elif name in snapshot.feature_views:
            known, target = snapshot.feature_views[name].feature_names, plain
        else:
            every = sorted([*snapshot.feature_views, *snapshot.on_demand_feature_views])
            raise FeatureNotFoundError(
                f"unknown feature view {name!r} in '{name}:{feature}' "
                f"(views: {', '.join(every) or 'none; run `skewless apply`'})"
            )
        if feature not in known:
            raise FeatureNotFoundError(
                f"feature view {name!r} has no feature {feature!r} (features: {', '.join(known)})"
            )
        chosen = target.setdefault(name, [])
        if feature not in chosen:
            chosen.append(feature)
    return plain, odfvs


class _Auditor:
    """The state of one audit run: the stores, the instants chosen, the report being built."""

    def __init__(
        self,
        context: AuditContext,
        sample: int,
        seed: int,
        limit: datetime,
        report: AuditReport,
    ) -> None:
        self.registry = context.registry
        self.engine = context.engine
        self.snapshot = snapshot = context.snapshot
        self.sample = sample
        self.seed = seed
        self.limit = limit
        self.report = report
        self.reader = OnlineReader(context.online, lambda: snapshot)
        self.times: dict[str, datetime | str] = {}
        self.late: dict[str, set[bytes]] = {}

    # -- per view -----------------------------------------------------------------------
    def time_of(self, view: FeatureView) -> datetime | str:
        """``T`` of a view, or the reason it cannot be audited."""
        if not view.online:
            return "online=False: the view is not served online"
        at = serving_time(self.registry, view, self.limit)
        return "not materialized" if at is None else at

    def audit_view(self, view: FeatureView, feats: list[str]) -> None:
        at = self.times[view.name]
        kind = "feature_view"
        if isinstance(at, str):
            status = "not materialized" if at == "not materialized" else "skipped"
            self.report.views.append(ViewAudit(view.name, kind, status, at))
            return
        keys = self._sample_keys(view, at)
        refs = [f"{view.name}:{f}" for f in feats]
        if not keys.size:
            self._nothing(view.name, kind, at, refs)
            return
        rows = dict(keys.columns)
        try:
            online = self.reader.read(refs, rows, True, now=at)
        except SkewlessError as exc:
            self.report.views.append(ViewAudit(view.name, kind, "skipped", str(exc), at))
            return
        own = [at] * keys.size
        if not isinstance(view, BatchFeatureView):  # a window's value is always "at now"
            stamps = online.event_timestamps[f"{view.name}__{feats[0]}"]
            own = [ts if ts is not None and ts > at else at for ts in stamps]
        ahead = sum(1 for t in own if t > at)
        offline = self._offline(refs, keys, own)
        self.report.views.append(ViewAudit(view.name, kind, "audited", "", at, keys.size, ahead))
        late = self._late_rows(view, keys)
        values = online.to_dict()
        for feat in feats:
            column = f"{view.name}__{feat}"
            function = None
            if isinstance(view, BatchFeatureView):
                function = view.aggregation(feat).function
            rule = comparison_rule(view.dtype_of(feat), function)
            self._compare(f"{view.name}:{feat}", keys, values[column], offline[column], rule, late)

    def audit_on_demand(
        self,
        odfv: OnDemandFeatureView,
        feats: list[str],
        request_data: Mapping[str, Any] | None,
    ) -> None:
        kind = "on_demand_feature_view"
        given = request_data or {}
        missing = [f.name for f in odfv.request_columns if f.name not in given]
        if missing:
            reason = f"reads request data {missing}: pass request_data (--request-data) to audit it"
            self.report.views.append(ViewAudit(odfv.name, kind, "skipped", reason))
            return
        sources = [self.snapshot.get_feature_view(p.view_name) for p in odfv.sources]
        if not sources:
            reason = "reads no feature view, so there are no entity keys to sample"
            self.report.views.append(ViewAudit(odfv.name, kind, "skipped", reason))
            return
        times = [self.times[v.name] for v in sources]
        reasons = [t for t in times if isinstance(t, str)]
        if reasons:
            status = "not materialized" if "not materialized" in reasons else "skipped"
            reason = "; ".join(
                f"source {v.name!r}: {t}"
                for v, t in zip(sources, times, strict=True)
                if isinstance(t, str)
            )
            self.report.views.append(ViewAudit(odfv.name, kind, status, reason))
            return
        at = min(t for t in times if not isinstance(t, str))
        keys = self._sample_joint(sources, at)
        n = keys.size
        if not n:
            self._nothing(odfv.name, kind, at, [f"{odfv.name}:{f}" for f in feats])
            return
        source_refs = [r for p in odfv.sources for r in p.refs]
        refs = [f"{odfv.name}:{f}" for f in feats] + source_refs
        rows: dict[str, list[Any]] = dict(keys.columns)
        request_types = {}
        for f in odfv.request_columns:
            rows[f.name] = [given[f.name]] * n
            request_types[f.name] = f.dtype.to_arrow()
        try:
            online = self.reader.read(refs, rows, True, now=at)
        except SkewlessError as exc:
            self.report.views.append(ViewAudit(odfv.name, kind, "skipped", str(exc), at))
            return
        stamps = online.event_timestamps
        timed = [
            stamps[f"{p.view_name}__{p.features[0]}"]
            for p, v in zip(odfv.sources, sources, strict=True)
            if p.features and not isinstance(v, BatchFeatureView)
        ]
        keep = [i for i in range(n) if not any(_after(column[i], at) for column in timed)]
        self.report.views.append(ViewAudit(odfv.name, kind, "audited", "", at, n, n - len(keep)))
        kept = _Sample({k: [v[i] for i in keep] for k, v in keys.columns.items()}, keys.types)
        frame = _Sample(
            {**kept.columns, **{k: [rows[k][i] for i in keep] for k in request_types}},
            {**keys.types, **request_types},
        )
        offline = self._offline(refs, frame, [at] * len(keep))
        late = [
            any(rows) for rows in zip(*(self._late_rows(v, kept) for v in sources), strict=True)
        ]
        values = online.to_dict()
        for feat in feats:
            column = f"{odfv.name}__{feat}"
            online_values = [values[column][i] for i in keep]
            rule = comparison_rule(odfv.dtype_of(feat))
            self._compare(f"{odfv.name}:{feat}", kept, online_values, offline[column], rule, late)

    def lag_of(self, view: FeatureView) -> ViewLag:
        mark = self.registry.get_watermark(view) if view.online else None
        now = self.report.now
        lag = ViewLag(view.name, mark.watermark if mark else None, now)
        if mark is None:
            return lag
        lag.at = min(mark.watermark, self.limit)
        start = mark.watermark + _US
        if start <= now:
            lag.pending_keys = sum(b.num_rows for b in self.engine.latest_per_key(view, start, now))
        lag.late_keys = len(self._late_keys(view))
        return lag

    # -- helpers ------------------------------------------------------------------------
    def _nothing(self, name: str, kind: str, at: datetime, refs: list[str]) -> None:
        """A view with no key at ``T``: audited, nothing to compare."""
        self.report.views.append(ViewAudit(name, kind, "audited", "no keys at T", at))
        self.report.features.extend(FeatureAudit(ref) for ref in refs)

    def _late_keys(self, view: FeatureView) -> set[bytes]:
        """Keys whose winning row at the watermark was created after the last run saw."""
        found = self.late.get(view.name)
        if found is not None:
            return found
        found = set()
        mark = self.registry.get_watermark(view)
        if (
            mark is not None
            and mark.max_created is not None
            and (view.source.created_timestamp_column)
        ):
            after = mark.max_created
            for batch in self.engine.latest_per_key(
                view, mark.watermark, mark.watermark, late_created_after=after
            ):
                created = batch.column("__created_ts").to_pylist()
                keys = encode_key_columns([batch.column(k) for k in view.join_keys])
                for key, c in zip(keys, created, strict=True):
                    if key is not None and c is not None and to_utc(c) > after:
                        found.add(key)
        self.late[view.name] = found
        return found

    def _late_rows(self, view: FeatureView, keys: _Sample) -> list[bool]:
        """For each sampled key, whether ``view`` has a late row for it (see ``ViewLag``)."""
        late = self._late_keys(view)
        if not late:
            return [False] * keys.size
        columns = [pa.array(keys.columns[k], type=keys.types[k]) for k in view.join_keys]
        return [key in late for key in encode_key_columns(columns)]

    def _sample_keys(self, view: FeatureView, at: datetime) -> _Sample:
        """Up to ``sample`` keys with a source row at or before ``at``: the keys of least
        seeded hash, so the choice does not depend on the order rows are read in."""
        heap: list[tuple[int, bytes, tuple[Any, ...]]] = []
        types: dict[str, pa.DataType] = {}
        salt = self.seed.to_bytes(16, "big", signed=True)
        for batch in self.engine.latest_per_key(view, None, at):
            columns = [batch.column(k) for k in view.join_keys]
            types = {k: batch.schema.field(k).type for k in view.join_keys}
            values = [c.to_pylist() for c in columns]
            for i, key in enumerate(encode_key_columns(columns)):
                if key is None:
                    continue
                rank = int.from_bytes(hashlib.blake2b(key, digest_size=8, key=salt).digest(), "big")
                entry = (-rank, key, tuple(v[i] for v in values))
                if len(heap) < self.sample:
                    heapq.heappush(heap, entry)
                elif entry > heap[0]:
                    heapq.heapreplace(heap, entry)
        chosen = sorted(heap, reverse=True)
        columns_out = {k: [e[2][j] for e in chosen] for j, k in enumerate(view.join_keys)}
        return _Sample(columns_out, types)

    def _sample_joint(self, views: list[FeatureView], at: datetime) -> _Sample:
        """Keys for an on-demand view: sampled from its sources, widest join keys first."""
        columns: dict[str, list[Any]] = {}
        types: dict[str, pa.DataType] = {}
        for view in sorted(views, key=lambda v: -len(v.join_keys)):
            new = [k for k in view.join_keys if k not in columns]
            if not new:
                continue
            part = self._sample_keys(view, at)
            for k in new:
                columns[k] = part.columns[k]
                types[k] = part.types.get(k, pa.null())
        n = min((len(v) for v in columns.values()), default=0)
        return _Sample({k: v[:n] for k, v in columns.items()}, types)

    def _offline(
        self, refs: list[str], keys: _Sample, times: list[datetime]
    ) -> dict[str, list[Any]]:
        arrays = {k: pa.array(v, type=keys.types[k]) for k, v in keys.columns.items()}
        arrays[_ENTITY_TIME] = pa.array(times, type=pa.timestamp("us", tz="UTC"))
        table = pa.table(arrays)
        result = get_historical_features(self.engine, self.snapshot, table, refs, True)
        out: dict[str, list[Any]] = result.to_arrow().to_pydict()
        return out

    def _compare(
        self,
        ref: str,
        keys: _Sample,
        online: list[Any],
        offline: list[Any],
        rule: ComparisonRule,
        late: Sequence[bool],
    ) -> None:
        found = FeatureAudit(ref)
        for i, (a, b) in enumerate(zip(online, offline, strict=True)):
            found.compared += 1
            if values_equal(a, b, rule):
                continue
            if late[i]:
                found.lagging += 1
                continue
            found.mismatches += 1
            if len(found.examples) < MAX_EXAMPLES:
                found.examples.append((keys.key(i), a, b))
        self.report.features.append(found)


def _after(value: datetime | None, at: datetime) -> bool:
    return value is not None and value > at
