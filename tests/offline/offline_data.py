"""Building sources, views and entity frames for offline tests, from lists of dict rows."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq

from skewless import Entity, FeatureView, Field, FileSource
from skewless._contracts import ViewRequest
from skewless._types import DType
from skewless.types import Int64, String

T0 = datetime(2024, 3, 1, tzinfo=UTC)
US_UTC = pa.timestamp("us", tz="UTC")


def at(minutes: float = 0, micros: int = 0) -> datetime:
    """``T0`` plus some minutes and microseconds (aware UTC)."""
    return T0 + timedelta(minutes=minutes, microseconds=micros)


def write_parquet(
    path: Path, rows: Sequence[Mapping[str, Any]], types: Mapping[str, pa.DataType]
) -> Path:
    """One Parquet file with exactly the columns of ``types``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    table = pa.table({c: pa.array([r.get(c) for r in rows], t) for c, t in types.items()})
    pq.write_table(table, path)
    return path


def write_csv(
    path: Path, rows: Sequence[Mapping[str, Any]], types: Mapping[str, pa.DataType]
) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    table = pa.table({c: pa.array([r.get(c) for r in rows], t) for c, t in types.items()})
    pcsv.write_csv(table, path)
    return path


def source_types(
    keys: Mapping[str, pa.DataType],
    features: Mapping[str, DType],
    ts: pa.DataType = US_UTC,
    created: pa.DataType | None = US_UTC,
) -> dict[str, pa.DataType]:
    """Column types of a source file with ``ts`` and (optionally) ``created`` columns."""
    types = dict(keys)
    types["ts"] = ts
    if created is not None:
        types["created"] = created
    types.update({name: dtype.to_arrow() for name, dtype in features.items()})
    return types


def make_view(
    name: str,
    path: str,
    keys: Sequence[str] = ("user_id",),
    features: Mapping[str, DType] | None = None,
    ttl: timedelta | None = None,
    created: bool = True,
    **source: Any,
) -> FeatureView:
    """A view of one entity per join key, with a ``ts`` (and ``created``) timestamp."""
    features = {"score": Int64, "label": String} if features is None else features
    return FeatureView(
        name=name,
        entities=[Entity(name=f"e_{k}", join_keys=[k]) for k in keys],
        ttl=ttl,
        schema=[Field(name=f, dtype=t) for f, t in features.items()],
        source=FileSource(
            path=path,
            timestamp_field=source.pop("timestamp_field", "ts"),
            created_timestamp_column="created" if created else "",
            **source,
        ),
    )


def request(
    view: FeatureView, features: Sequence[str] | None = None, full: bool = False
) -> ViewRequest:
    names = tuple(features or view.feature_names)
    outputs = tuple(f"{view.name}__{f}" if full else f for f in names)
    return ViewRequest(view, names, outputs)


def entity_frame(
    rows: Sequence[Mapping[str, Any]],
    types: Mapping[str, pa.DataType],
) -> pa.Table:
    """An entity frame; ``types`` gives every column (``event_timestamp`` included)."""
    return pa.table({c: pa.array([r.get(c) for r in rows], t) for c, t in types.items()})
