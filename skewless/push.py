"""Push ingestion: rows sent by applications, written offline, online or both.

The rules are docs/semantics.md "Push". Every row is checked against every view the push source
feeds before anything is written, so an invalid push writes nothing anywhere. Offline, the
rows become one new Parquet file in the batch source's directory, written under a hidden
temporary name, flushed to disk and renamed, with a name that sorts after every existing file
(later file = later rows). Online, they go through the monotonic write rule, which makes a
retried push harmless. With ``online_and_offline`` the offline file is written first.

Example:
    >>> from skewless import FeatureStore
    >>> store = FeatureStore(repo_path=".")  # doctest: +SKIP
    >>> store.push("user_events_push", [{"user_id": 1, "event_timestamp": "2024-01-01T00:00:00",
    ...     "clicks": 3}], to="online_and_offline")  # doctest: +SKIP
    PushReport(push_source='user_events_push', rows=1, ...)
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal, cast

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from skewless import _files
from skewless._contracts import OfflineEngine, OnlineStore
from skewless._types import DType
from skewless.config import DEFAULT_MAX_CLOCK_SKEW
from skewless.definitions import BatchFeatureView, FeatureView, PushSource
from skewless.errors import (
    OnlineStoreUnavailableError,
    PushValidationError,
    SourceNotFoundError,
    StoreUnavailableError,
    UnknownObjectError,
)
from skewless.offline.query import EVENT_ID
from skewless.offline.sources import PushTarget, append_to_file, push_target, resolve_files
from skewless.online.codec import ViewCodec
from skewless.online.window_state import StateLayout
from skewless.push_values import (
    UTC_MICROS,
    cast_column,
    cast_to_file_type,
    check_clock_skew,
    column_from_values,
    timestamps,
)
from skewless.registry.snapshot import RegistrySnapshot
from skewless.window_online import group_by_key, merge_events, state_ttl

__all__ = [
    "PUSH_MODES",
    "PreparedPush",
    "PushContext",
    "PushMode",
    "PushReport",
    "PushValidationError",
    "prepare_push",
    "push",
    "push_source_names",
    "push_views",
    "pushed_columns",
    "write_parquet_atomically",
]

PushMode = Literal["online", "offline", "online_and_offline"]
PUSH_MODES: tuple[PushMode, ...] = ("online", "offline", "online_and_offline")
EVENT_TS = "__event_ts"
CREATED_TS = "__created_ts"


@dataclass(frozen=True)
class PushContext:
    """What a push works with.

    Attributes:
        engine: the offline engine (the batch source's files are read and written directly).
        online: receives the online rows.
        snapshot: the definitions (and online table names) to push against.
        repo_path: relative source paths resolve against it.
        now: the ingestion time, given as created time to rows without one.
        max_clock_skew: how far past ``now`` an event time may lie (None: no limit).
    """

    engine: OfflineEngine | None
    online: OnlineStore | None
    snapshot: RegistrySnapshot
    repo_path: Path
    now: datetime
    max_clock_skew: timedelta | None = DEFAULT_MAX_CLOCK_SKEW


@dataclass(frozen=True)
class PushReport:
    """What a push wrote.

    Attributes:
        push_source: the push source's name.
        rows: rows pushed.
        views: the feature views fed.
        to: ``online``, ``offline`` or ``online_and_offline``.
        files: Parquet files written offline (absolute paths).
    """

    push_source: str
    rows: int
    views: tuple[str, ...]
    to: str
    files: tuple[str, ...] = ()


@dataclass(frozen=True)
class PreparedPush:
    """Validated rows, ready to write: nothing has been written yet.

    Attributes:
        source: the push source.
        views: the views it feeds.
        to: where the rows go.
        table: the rows under the views' names, with ``__event_ts`` and ``__created_ts`` as
            UTC microseconds and every column cast to its declared type.
        offline: the rows as the batch source stores them (None unless pushed offline).
        target: where the offline file goes (None unless pushed offline).
        existing: the batch source's files before this push.
    """

    source: PushSource
    views: tuple[FeatureView, ...]
    to: PushMode
    table: pa.Table
    offline: pa.Table | None = None
    target: PushTarget | None = None
    existing: tuple[str, ...] = field(default_factory=tuple)

    @property
    def online_views(self) -> tuple[FeatureView, ...]:
        return tuple(v for v in self.views if v.online) if self.to != "offline" else ()


# -- lookups ---------------------------------------------------------------------------------
def push_source_names(snapshot: RegistrySnapshot) -> list[str]:
    """The names of the push sources that feed a view of the registry, sorted."""
    return sorted(
        {v.source.name for v in snapshot.feature_views.values() if isinstance(v.source, PushSource)}
    )


def push_views(snapshot: RegistrySnapshot, name: str) -> list[FeatureView]:
    """The views fed by the push source ``name``, in registry order.

    Raises:
        UnknownObjectError: no applied view has that push source; lists the known ones.
    """
    views = [
        v
        for v in snapshot.feature_views.values()
        if isinstance(v.source, PushSource) and v.source.name == name
    ]
    if not views:
        known = ", ".join(push_source_names(snapshot))
        known = known or "none; apply a FeatureView whose source is a PushSource"
        raise UnknownObjectError(
            f"no push source named {name!r} feeds a feature view (push sources: {known})"
        )
    return views


# -- pushing ---------------------------------------------------------------------------------
def push(
    context: PushContext,
    name: str,
    rows: Any,
    to: str = "online",
    *,
    file_metadata: Mapping[str, str] | None = None,
) -> PushReport:
    """Validate ``rows`` against every view the push source ``name`` feeds, then write them.

    Args:
        context: the stores and definitions to use.
        name: the push source's name.
        rows: a pandas or polars DataFrame, an Arrow table, a list of dicts or a dict of lists.
        to: ``online``, ``offline`` or ``online_and_offline``.
        file_metadata: key/value pairs stored in the offline file's Parquet metadata.

    Raises:
        UnknownObjectError: no view is fed by ``name``.
        PushValidationError: a column is missing, unknown or holds bad values, or an event
            time lies further in the future than ``max_clock_skew``; nothing written.
        DefinitionError: an offline push to a batch source that is CSV or an unusable glob.
    """
    prepared = prepare_push(context, name, rows, to)
    files: list[str] = []
    if prepared.offline is not None and prepared.target is not None and prepared.table.num_rows:
        table = prepared.offline
        if file_metadata:
            table = table.replace_schema_metadata(
                {**(table.schema.metadata or {}), **{k: v for k, v in file_metadata.items()}}
            )
        files.append(str(write_parquet_atomically(table, prepared.target, prepared.existing)))
    online_views = prepared.online_views
    if online_views and prepared.table.num_rows:
        if context.online is None:
            raise PushValidationError(f"push to {prepared.to!r} needs an online store")
        try:
            _write_online(context, context.online, online_views, prepared.table)
        except StoreUnavailableError as exc:
            if not files:
                raise
            # The offline file stays (a retry is harmless, see docs/semantics.md "Push"), so
            # the error says it was written.
            raise OnlineStoreUnavailableError(
                f"{exc}; the {prepared.table.num_rows} row(s) were written offline "
                f"({', '.join(files)}) but not online: retry the push",
                written={"online": None, "offline": prepared.table.num_rows},
            ) from None
    return PushReport(
        push_source=name,
        rows=prepared.table.num_rows,
        views=tuple(v.name for v in prepared.views),
        to=prepared.to,
        files=tuple(files),
    )


def _write_online(
    context: PushContext, online: OnlineStore, views: Sequence[FeatureView], rows: pa.Table
) -> None:
    for view in views:
        table = context.snapshot.online_table(view)
        if isinstance(view, BatchFeatureView):
            _push_events(online, table, view, rows)
            continue
        batch = _online_batch(rows, view)
        online.set_table_ttl(table, view.ttl)
        online.write(table, ViewCodec(view).encode_rows(batch))


def prepare_push(context: PushContext, name: str, rows: Any, to: str) -> PreparedPush:
    """Check and convert ``rows`` for :func:`push` without writing anything.

    Raises:
        UnknownObjectError, PushValidationError, DefinitionError: as :func:`push`.
    """
    if to not in PUSH_MODES:
        raise PushValidationError(
            f"to={to!r} is not a push destination: use one of {', '.join(PUSH_MODES)}"
        )
    mode = cast(PushMode, to)
    views = tuple(push_views(context.snapshot, name))
    source = views[0].source
    assert isinstance(source, PushSource)
    if mode == "online" and not any(v.online for v in views):
        raise PushValidationError(
            f"push source {name!r} feeds only views with online=False "
            f"({', '.join(v.name for v in views)}): push with to='offline'"
        )
    raw = _to_arrow(rows, ", ".join(repr(v.name) for v in views))
    if raw.num_columns == 0 and raw.num_rows == 0:  # an empty list: nothing to write
        return PreparedPush(source, views, mode, raw)
    table = _normalize(raw, source, views, context.now, name)
    ts_name = source.field_mapping.get(source.timestamp_field, source.timestamp_field)
    check_clock_skew(table.column(EVENT_TS), context.now, context.max_clock_skew, ts_name, name)
    if mode == "online":
        return PreparedPush(source, views, mode, table)
    target = push_target(source, context.repo_path)
    try:
        existing = resolve_files(source, context.repo_path)
    except SourceNotFoundError:
        existing = ()
    offline = _offline_table(table, source, views, existing, name)
    return PreparedPush(source, views, mode, table, offline, target, existing)


def write_view_online(context: PushContext, view_name: str, rows: Any) -> int:
    """Write ``rows`` to one feature view's online store (Feast's ``write_to_online_store``).

    The rows are checked as a push's are (the view's join keys, features and timestamp
    column, each of its declared type) and written with the online write rule; the offline
    source is not touched. Returns the number of rows written.

    Raises:
        UnknownObjectError: no such view. PushValidationError: as :func:`push`.
    """
    view = context.snapshot.get_feature_view(view_name)
    if isinstance(view, BatchFeatureView):
        raise PushValidationError(
            f"feature view {view_name!r} aggregates windows: write its raw events with "
            "store.push to its push source, or materialize it"
        )
    if context.online is None:
        raise PushValidationError(f"writing feature view {view_name!r} needs an online store")
    raw = _to_arrow(rows, repr(view_name))
    if raw.num_rows == 0:
        return 0
    source = view.source if isinstance(view.source, PushSource) else view.batch_source
    table = _normalize(raw, cast(PushSource, source), (view,), context.now, view_name)
    check_clock_skew(
        table.column(EVENT_TS),
        context.now,
        context.max_clock_skew,
        source.timestamp_field,
        view_name,
    )
    online_table = context.snapshot.online_table(view)
    context.online.set_table_ttl(online_table, view.ttl)
    context.online.write(online_table, ViewCodec(view).encode_rows(_online_batch(table, view)))
    return table.num_rows


# -- input frames ----------------------------------------------------------------------------
def _to_arrow(rows: Any, fed: str = "") -> pa.Table:
    if isinstance(rows, pa.Table):
        return rows
    if isinstance(rows, pa.RecordBatch):
        return pa.Table.from_batches([rows])
    if isinstance(rows, Mapping):
        return _from_columns({str(k): list(v) for k, v in rows.items()}, fed)
    if isinstance(rows, Sequence) and not isinstance(rows, str | bytes):
        if not all(isinstance(r, Mapping) for r in rows):
            raise PushValidationError(
                "pushed rows must be dicts of column -> value, e.g. [{'user_id': 1, ...}]"
            )
        names = list(dict.fromkeys(str(k) for r in rows for k in r))
        return _from_columns({n: [r.get(n) for r in rows] for n in names}, fed)
    module = type(rows).__module__.split(".")[0]
    if module == "pandas":
        return pa.Table.from_pandas(rows, preserve_index=False)
    if module == "polars":
        table: pa.Table = rows.to_arrow()
        return table
    raise PushValidationError(
        f"cannot push a {type(rows).__name__}: pass a pandas or polars DataFrame, an Arrow "
        "table, a list of dicts or a dict of lists"
    )


def _from_columns(columns: Mapping[str, list[Any]], fed: str) -> pa.Table:
    lengths = {len(v) for v in columns.values()}
    if len(lengths) > 1:
        raise PushValidationError("pushed columns have different lengths: give every row")
    arrays = {name: column_from_values(name, values, fed) for name, values in columns.items()}
    return pa.table(arrays) if arrays else pa.table({})


# -- validation ------------------------------------------------------------------------------
def _normalize(
    raw: pa.Table, source: PushSource, views: Sequence[FeatureView], now: datetime, name: str
) -> pa.Table:
    """The rows under the views' names, checked and cast; adds ``__event_ts``/``__created_ts``."""
    mapping = source.field_mapping
    columns: dict[str, pa.ChunkedArray] = {}
    for column_name, column in zip(raw.column_names, raw.columns, strict=True):
        canonical = mapping.get(column_name, column_name)
        if canonical in columns:
            raise PushValidationError(
                f"pushed columns {column_name!r} and {canonical!r} are the same column of "
                f"push source {name!r}: give only one"
            )
        columns[canonical] = column
    ts_name = mapping.get(source.timestamp_field, source.timestamp_field)
    created_name = source.created_timestamp_column
    created_name = mapping.get(created_name, created_name) if created_name else ""
    known = {ts_name, created_name} - {""}
    dtypes = pushed_columns(views)
    known |= set(dtypes)
    unknown = [c for c in columns if c not in known]
    required = [ts_name, *dtypes]
    missing = [c for c in required if c not in columns]
    fed = ", ".join(repr(v.name) for v in views)
    if missing or unknown:
        problems = []
        if missing:
            problems.append(f"missing column(s) {missing}")
        if unknown:
            problems.append(f"unknown column(s) {unknown}")
        raise PushValidationError(
            f"rows pushed to {name!r} (feeding {fed}) have {' and '.join(problems)}; "
            f"expected the columns {sorted(known)}"
        )
    n = raw.num_rows
    out: dict[str, pa.ChunkedArray | pa.Array] = {}
    keys = {k for v in views for k in v.join_keys}
    for column_name, dtype in dtypes.items():
        column = columns[column_name]
        if column_name in keys:
            nulls = column.null_count
            if nulls:
                raise PushValidationError(
                    f"join key {column_name!r} is null in {nulls} pushed row(s): "
                    "every row needs its entity key"
                )
        out[column_name] = column if dtype is None else cast_column(column, dtype, column_name, fed)
    event = timestamps(columns[ts_name], ts_name)
    if event.null_count:
        raise PushValidationError(
            f"timestamp field {ts_name!r} is null in {event.null_count} pushed row(s): "
            "every pushed row needs its event time"
        )
    out[EVENT_TS] = event
    if created_name:
        given = columns.get(created_name)
        stamp = pa.scalar(now.astimezone(UTC), UTC_MICROS)
        if given is None:
            out[CREATED_TS] = pa.array([stamp.as_py()] * n, UTC_MICROS)
        else:
            out[CREATED_TS] = pc.fill_null(timestamps(given, created_name), stamp)
    else:
        out[CREATED_TS] = pa.nulls(n, UTC_MICROS)
    return pa.table(out)


# -- writing ---------------------------------------------------------------------------------
def _online_batch(table: pa.Table, view: FeatureView) -> pa.Table:
    names = [*view.join_keys, EVENT_TS, CREATED_TS, *view.feature_names]
    return table.select(names)


def _push_events(online: OnlineStore, table: str, view: BatchFeatureView, rows: pa.Table) -> None:
    """Merge pushed raw events into each key's window state (re-delivered event ids once)."""
    layout = StateLayout.of(view)
    names = [*view.join_keys, EVENT_TS, CREATED_TS, *(c.name for c in view.value_columns)]
    events = rows.select(names)
    if view.event_id:
        events = events.append_column(EVENT_ID, rows.column(view.event_id))
    online.set_table_ttl(table, state_ttl(view))
    merge_events(online, table, layout, group_by_key(layout, view.join_keys, events))


def _offline_table(
    table: pa.Table,
    source: PushSource,
    views: Sequence[FeatureView],
    existing: tuple[str, ...],
    name: str,
) -> pa.Table:
    """The rows as the batch source stores them: source column names, and the types of the
    newest existing file, so every file of the source has one schema."""
    inverse = {dst: src for src, dst in source.field_mapping.items()}
    batch = source.batch_source
    ts_name = source.field_mapping.get(batch.timestamp_field, batch.timestamp_field)
    columns: dict[str, pa.Array | pa.ChunkedArray] = {}
    for view in views:
        for key in view.join_keys:
            columns.setdefault(inverse.get(key, key), table.column(key))
    columns[inverse.get(ts_name, ts_name)] = table.column(EVENT_TS)
    created = batch.created_timestamp_column
    if created:
        created_name = source.field_mapping.get(created, created)
        columns[inverse.get(created_name, created_name)] = table.column(CREATED_TS)
    for view in views:
        for column in view.value_columns:
            columns.setdefault(inverse.get(column.name, column.name), table.column(column.name))
        if isinstance(view, BatchFeatureView) and view.event_id:
            columns.setdefault(
                inverse.get(view.event_id, view.event_id), table.column(view.event_id)
            )
    schema = _existing_schema(existing)
    if schema is None:
        return pa.table(columns)
    arrays = []
    for target in schema:
        given = columns.pop(target.name, None)
        if given is None:
            arrays.append(pa.nulls(table.num_rows, target.type))
        else:
            arrays.append(cast_to_file_type(given, target, name))
    fields = list(schema)
    for extra, column in columns.items():
        fields.append(pa.field(extra, column.type))
        arrays.append(column)
    return pa.Table.from_arrays(arrays, schema=pa.schema(fields))


def _existing_schema(existing: tuple[str, ...]) -> pa.Schema | None:
    if not existing:
        return None
    try:
        return pq.read_schema(existing[-1]).remove_metadata()
    except (OSError, pa.ArrowException):
        return None


def write_parquet_atomically(
    table: pa.Table, target: PushTarget, existing: tuple[str, ...], *, name: str | None = None
) -> Path:
    """Write ``table`` as a new file of ``target``: a hidden temporary file in the same
    directory, flushed to disk, then renamed (readers see the whole file or nothing).

    The name is ``name`` when given, else a time-based name that sorts after ``existing``.
    """
    if target.single_file is not None:
        return append_to_file(table, target.single_file)
    directory = target.directory
    directory.mkdir(parents=True, exist_ok=True)
    if name is None:
        stamp = datetime.fromtimestamp(time.time(), UTC).strftime("%Y%m%dT%H%M%S%fZ")
        name = target.new_name(existing, f"push-{stamp}-{uuid.uuid4().hex[:8]}")
    return _files.write_parquet_atomically(table, directory / name)


def pushed_columns(views: Sequence[FeatureView]) -> dict[str, DType | None]:
    """Every column a push to ``views`` must carry besides the times: join keys (typed by the
    view's schema or the entity, else None) then each view's source value columns."""
    dtypes: dict[str, DType | None] = {}
    for view in views:
        declared = {f.name: f.dtype for f in view.schema}
        for ent in view.entities:
            for key in ent.join_keys:
                dtypes.setdefault(key, declared.get(key) or ent.value_type)
        for column in view.value_columns:
            dtypes.setdefault(column.name, column.dtype)
        if isinstance(view, BatchFeatureView) and view.event_id:
            dtypes.setdefault(view.event_id, None)
    return dtypes
