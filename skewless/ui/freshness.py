"""How fresh each view's online values are: its materialization watermark, the newest row of
its source, the lag between them, and what the latest skew audit of it found.

The newest source row is read from the Parquet footers' column statistics (a few kilobytes
per file, no rows read) and kept per file until the file's size or modification time
changes; a file without statistics has its timestamp column read once. CSV sources are not
read (their newest row is shown as unknown).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow.compute as pc
import pyarrow.parquet as pq

from skewless.audit_records import ViewAuditSummary
from skewless.definitions import FeatureView
from skewless.registry import Registry, Watermark

__all__ = ["FreshnessRow", "NewestRows", "freshness_rows"]


@dataclass(frozen=True)
class FreshnessRow:
    """The freshness of one view.

    Attributes:
        view: the feature view.
        online: whether it is served online at all.
        watermark: its materialization watermark (None: never materialized).
        newest: the newest event time in its source (None: unknown or empty).
        lag: ``newest - watermark`` (0 when caught up; None when either is unknown).
        age: ``now - watermark``.
        audit: the latest skew audit of the view, if any.
        note: why the newest row is unknown.
    """

    view: FeatureView
    online: bool
    watermark: Watermark | None
    newest: datetime | None
    lag: timedelta | None
    age: timedelta | None
    audit: ViewAuditSummary | None
    note: str = ""


def _as_utc(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    if hasattr(value, "to_pydatetime"):
        return _as_utc(value.to_pydatetime())
    return None


def _file_newest(path: Path, column: str) -> datetime | None:
    meta = pq.ParquetFile(path).metadata
    names = [meta.schema.column(i).name for i in range(meta.num_columns)]
    if column not in names:
        return None
    index = names.index(column)
    newest: datetime | None = None
    for g in range(meta.num_row_groups):
        stats = meta.row_group(g).column(index).statistics
        if stats is None or not stats.has_min_max:
            values = pq.read_table(path, columns=[column]).column(column)
            return _as_utc(pc.max(values).as_py())
        found = _as_utc(stats.max)
        if found is None:
            return None
        newest = found if newest is None else max(newest, found)
    return newest


class NewestRows:
    """The newest event time of source files, kept per file until it changes."""

    def __init__(self) -> None:
        self._held: dict[tuple[str, str], tuple[int, int, datetime | None]] = {}
        self._lock = threading.Lock()

    def newest(self, root: Path, source_path: str, column: str) -> tuple[datetime | None, str]:
        """The newest ``column`` value of the source at ``source_path`` (under ``root`` when
        relative), and a note when it is unknown."""
        path = Path(source_path)
        path = path if path.is_absolute() else root / path
        if path.suffix.lower() == ".csv":
            return None, "CSV sources are not read"
        files = sorted(path.rglob("*.parquet")) if path.is_dir() else [path]
        newest: datetime | None = None
        for file in files:
            try:
                found = self._one(file, column)
            except FileNotFoundError:
                return None, "the source file does not exist"
            except OSError as exc:
                return None, f"the source cannot be read: {exc.strerror or exc}"
            except Exception as exc:  # a damaged file is shown, not a broken page
                return None, f"the source cannot be read: {type(exc).__name__}"
            if found is not None:
                newest = found if newest is None else max(newest, found)
        return newest, "" if newest is not None else "no rows"

    def _one(self, file: Path, column: str) -> datetime | None:
        stat = file.stat()
        key = (str(file), column)
        with self._lock:
            held = self._held.get(key)
        if held is not None and held[:2] == (stat.st_mtime_ns, stat.st_size):
            return held[2]
        value = _file_newest(file, column)
        with self._lock:
            self._held[key] = (stat.st_mtime_ns, stat.st_size, value)
        return value


def freshness_rows(
    views: Mapping[str, FeatureView],
    registry: Registry,
    newest: NewestRows,
    root: Path,
    audits: Mapping[str, ViewAuditSummary],
    clock: Callable[[], datetime],
) -> list[FreshnessRow]:
    """One row per view of ``views``, by name."""
    now = clock()
    rows = []
    for name in sorted(views):
        view = views[name]
        mark = registry.get_watermark(view) if view.online else None
        source = view.batch_source
        latest, note = newest.newest(root, source.path, source.timestamp_field)
        lag = age = None
        if mark is not None:
            age = max(now - mark.watermark, timedelta(0))
            if latest is not None:
                lag = max(latest - mark.watermark, timedelta(0))
        rows.append(FreshnessRow(view, view.online, mark, latest, lag, age, audits.get(name), note))
    return rows
