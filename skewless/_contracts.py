"""The seams between layers: one ``typing.Protocol`` per kind of backend.

Offline engines (DuckDB, Spark) answer point-in-time retrievals and "latest row per key" pulls;
online stores (SQLite, Redis) hold one row per entity key and view. Both speak Arrow and plain
Python values; neither knows about the registry or the CLI.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Protocol, runtime_checkable

import pyarrow as pa

from skewless.definitions import BatchFeatureView, FeatureView

__all__ = [
    "Merge",
    "OfflineEngine",
    "OfflineResult",
    "OnlineRow",
    "OnlineStore",
    "StoredRow",
    "ViewRequest",
]


@dataclass(frozen=True)
class ViewRequest:
    """The features wanted from one view, and the output column name of each.

    ``output_names[i]`` is the column for ``features[i]`` (``feature`` or ``view__feature``).
    """

    view: FeatureView
    features: tuple[str, ...]
    output_names: tuple[str, ...]


@runtime_checkable
class OfflineResult(Protocol):
    """A retrieval that has been planned but not yet run (nothing executes until asked)."""

    def to_arrow(self) -> pa.Table:
        """Run and return the result with the declared feature types."""
        ...

    def to_parquet(self, path: str | Path) -> None:
        """Run and write the result to one Parquet file without collecting it in Python."""
        ...


class OfflineEngine(Protocol):
    """Point-in-time retrieval and latest-per-key pulls over a view's source files.

    Every rule is in docs/semantics.md; relative source paths resolve against ``repo_path``.
    """

    def source_schema(self, view: FeatureView) -> pa.Schema:
        """The source's columns as the view sees them (after ``field_mapping``).

        Raises ``SourceNotFoundError`` when the path matches no file.
        """
        ...

    def historical(self, entity_df: pa.Table, requests: Sequence[ViewRequest]) -> OfflineResult:
        """Point-in-time join of ``entity_df`` with each requested view.

        ``entity_df`` has been checked by the caller: it holds every join key and a non-null
        ``event_timestamp`` column (Arrow timestamp, any unit, naive meaning UTC).
        """
        ...

    def latest_per_key(
        self,
        view: FeatureView,
        start: datetime | None,
        end: datetime,
        *,
        late_created_after: datetime | None = None,
        batch_rows: int = 100_000,
    ) -> Iterator[pa.RecordBatch]:
        """The winning row per entity key among source rows with ``start <= ts <= end``.

        With ``late_created_after``, rows with ``ts < start`` whose created timestamp is later
        than it are candidates too (late arrivals). Batches hold the join keys, then
        ``__event_ts`` and ``__created_ts`` (timestamp[us, UTC], created may be null), then the
        view's features in schema order, cast to their declared types. Streamed: memory does not
        grow with the range.
        """
        ...

    def max_created(
        self, view: FeatureView, start: datetime | None, end: datetime
    ) -> datetime | None:
        """The greatest created timestamp among rows with ``start <= ts <= end`` (None if none)."""
        ...

    def window_events(
        self,
        view: BatchFeatureView,
        start: datetime | None,
        end: datetime,
        *,
        since: datetime | None = None,
        late_created_after: datetime | None = None,
        batch_rows: int = 100_000,
    ) -> Iterator[pa.RecordBatch]:
        """The events of every key with a row in ``[start, end]`` (or, with
        ``late_created_after``, a row before ``start`` created after it): its rows with
        ``since < ts <= end``, deduplicated by ``event_id`` per key, ordered by key and then as
        "Which row wins" ranks them (oldest first).

        Batches hold the join keys, ``__event_ts`` and ``__created_ts`` (timestamp[us, UTC]),
        ``__event_id`` when the view names one, then the aggregated columns with their
        declared types. Streamed: memory does not grow with the range.
        """
        ...

    def close(self) -> None: ...


OnlineRow = tuple[bytes, int, int | None, bytes]
"""(encoded entity key, event time in µs, created time in µs or None, encoded values)."""

StoredRow = tuple[int, bytes]
"""(event time in µs, encoded values) as held by an online store."""


Merge = Callable[[list[StoredRow | None]], list[StoredRow | None]]
"""Given the stored rows of some keys, the rows to store instead (None: keep as is)."""


class OnlineStore(Protocol):
    """One row per (table, entity key), written under the monotonic rule of docs/semantics.md.

    A table is one feature view at one data version (see ``FeatureView.data_spec``).
    """

    def write(self, table: str, rows: Iterable[OnlineRow]) -> int:
        """Upsert rows atomically (all or none); a row replaces the stored one only when its
        ``(ts, created)`` is >= the stored pair (a None created ranks lowest). Returns the
        number of rows offered."""
        ...

    def read(self, lookups: Sequence[tuple[str, Sequence[bytes]]]) -> list[list[StoredRow | None]]:
        """For each ``(table, keys)``, the stored row of each key (None when absent), in order.

        All lookups go to the store in one batched call.
        """
        ...

    def update(self, table: str, keys: Sequence[bytes], merge: Merge) -> None:
        """Read the rows of ``keys``, call ``merge`` with them (None where absent) and store
        what it returns for each key (None: leave the key as it is), atomically: no other
        write to these keys lands in between, and a failing ``merge`` writes nothing.

        ``merge`` may be called more than once (a store may retry after a conflict).
        """
        ...

    def drop(self, tables: Sequence[str]) -> None:
        """Remove tables and their rows (missing tables are ignored)."""
        ...

    def set_table_ttl(self, table: str, ttl: timedelta | None) -> None:
        """The TTL of the view ``table`` holds; a store may expire rows by it (Redis key
        expiry), and values read must be the same as without expiry."""
        ...

    def close(self) -> None: ...
