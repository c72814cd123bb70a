"""What every offline engine does the same way around its SQL: checking entity-frame keys,
output names and time ranges, typing latest-per-key batches, and putting a retrieval's
features back next to the entity columns in entity order."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import numpy as np
import pyarrow as pa

from skewless._contracts import ViewRequest
from skewless._time import to_micros
from skewless._types import arrow_field
from skewless.errors import EntityFrameError, TimeRangeError
from skewless.offline.entity import ENTITY_TIME, UTC_MICROS, key_family
from skewless.offline.query import EntityRelation, PointInTimeQuery, SourceRead, view_join

__all__ = [
    "cast_batch",
    "check_keys",
    "check_output_names",
    "check_range",
    "latest_schema",
    "point_in_time_query",
    "retrieval_schema",
    "with_entity_columns",
]


def check_keys(entity: pa.Schema, read: SourceRead) -> None:
    for key in read.keys:
        if key.name not in entity.names:
            raise EntityFrameError(
                f"the entity frame has no column {key.name!r}, a join key of feature view "
                f"{read.view_name!r} (it has: {', '.join(entity.names)}); add it"
            )
        mine, theirs = (
            entity.field(key.name).type,
            key.dtype.to_arrow() if key.dtype else key.source_type,
        )
        if key_family(mine) != key_family(theirs):
            raise EntityFrameError(
                f"entity frame column {key.name!r} is {mine} but feature view "
                f"{read.view_name!r} stores that key as {theirs}; convert the column"
            )


def check_range(start: datetime | None, end: datetime) -> None:
    if start is not None and to_micros(start) > to_micros(end):
        raise TimeRangeError(
            f"END {end.isoformat()} is before START {start.isoformat()}: swap them"
        )


def latest_schema(read: SourceRead) -> list[pa.DataType | None]:
    """Target type of each output column of latest_per_key (None: keep the engine's type)."""
    keys: list[pa.DataType | None] = [k.dtype.to_arrow() if k.dtype else None for k in read.keys]
    return keys + [UTC_MICROS, UTC_MICROS] + [f.dtype.to_arrow() for f in read.features if f.dtype]


def cast_batch(batch: pa.RecordBatch, target: list[pa.DataType | None]) -> pa.RecordBatch:
    fields = [
        f if t is None or f.type == t else pa.field(f.name, t)
        for f, t in zip(batch.schema, target, strict=True)
    ]
    schema = pa.schema(fields)
    return batch if schema == batch.schema else batch.cast(schema)


def check_output_names(entity_df: pa.Table, requests: Sequence[ViewRequest]) -> None:
    """No feature output may share a name with an entity column or another output."""
    taken = set(entity_df.column_names)
    for request in requests:
        clash = sorted(taken & set(request.output_names))
        if clash:
            raise EntityFrameError(
                f"entity frame column(s) {clash} would clash with feature output(s) of "
                f"view {request.view.name!r}: rename the entity column(s) or pass "
                "full_feature_names=True"
            )
        taken |= set(request.output_names)


def retrieval_schema(entity_df: pa.Table, requests: Sequence[ViewRequest]) -> pa.Schema:
    """A retrieval's output: the entity columns (``event_timestamp`` as aware UTC µs), then
    each requested feature with its declared type."""
    fields = [
        pa.field(ENTITY_TIME, UTC_MICROS) if f.name == ENTITY_TIME else f for f in entity_df.schema
    ]
    for request in requests:
        for feature, name in zip(request.features, request.output_names, strict=True):
            fields.append(arrow_field(name, request.view.dtype_of(feature)))
    return pa.schema(fields)


def with_entity_columns(
    found: pa.Table, entity_df: pa.Table, output_ts: pa.Array | pa.ChunkedArray, schema: pa.Schema
) -> pa.Table:
    """The retrieval's table: ``found`` (the entity row number first, then the features, rows
    in any order) put back in entity order after the entity columns, ``event_timestamp``
    replaced by ``output_ts``, every column of ``schema``'s type."""
    rows = found.column(0).to_numpy()
    order = np.empty(len(rows), dtype=np.int64)
    order[rows] = np.arange(len(rows), dtype=np.int64)
    features = found.drop_columns([found.column_names[0]]).take(order)
    columns = [
        output_ts if name == ENTITY_TIME else entity_df.column(name)
        for name in entity_df.column_names
    ]
    columns += [features.column(i) for i in range(features.num_columns)]
    n_entity = entity_df.num_columns
    return pa.Table.from_arrays(
        [
            c.cast(f.type) if i >= n_entity else c
            for i, (c, f) in enumerate(zip(columns, schema, strict=True))
        ],
        schema=schema,
    )


def point_in_time_query(
    entity_df: pa.Table,
    requests: Sequence[ViewRequest],
    reads: Sequence[SourceRead],
    relation: EntityRelation,
) -> PointInTimeQuery:
    """The retrieval of ``requests`` (read as ``reads``) for ``entity_df``, registered by the
    engine as ``relation``; the entity frame's join keys are checked against each source."""
    for read in reads:
        check_keys(entity_df.schema, read)
    views = tuple(view_join(r, read) for r, read in zip(requests, reads, strict=True))
    return PointInTimeQuery(relation, views)
