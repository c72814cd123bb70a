"""Checks and casts every offline engine applies the same way: entity-frame keys against a
view's source, time ranges, and the declared output types of latest-per-key batches."""

from __future__ import annotations

from datetime import datetime

import pyarrow as pa

from skewless._time import to_micros
from skewless.errors import EntityFrameError, TimeRangeError
from skewless.offline.entity import UTC_MICROS, key_family
from skewless.offline.query import SourceRead

__all__ = ["cast_batch", "check_keys", "check_range", "latest_schema"]


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
