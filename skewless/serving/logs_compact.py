"""Retention and compaction of a prediction log (and of its feedback).

``compact_prediction_logs`` deletes the days older than the retention and merges the files of
every other past day into one. Today's partition is left alone: the servers still write there.

A merge never loses or repeats a row for a reader of :mod:`skewless.serving.logs_read`: the
merged file is published whole (see :mod:`skewless.serving.log_files`) with the names of the
files it replaces in its Parquet metadata, and readers leave those files out; the parts are
removed afterwards. A compaction that stops in between (a crash, a full disk) leaves both,
which read as one copy, and the next compaction removes the parts. Only one compaction of a
log runs at a time (a lock file in the log's directory).
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from skewless._files import remove_stale_temporaries
from skewless._time import to_utc
from skewless.errors import PredictionLogError
from skewless.serving.log_files import (
    FEEDBACK_DIR,
    REPLACES_KEY,
    date_partitions,
    fsync_directory,
    publish,
    replaced_files,
    visible_files,
)
from skewless.serving.logs_read import existing_log_dir
from skewless.serving.records import utc_now

__all__ = ["DEFAULT_RETENTION", "CompactionReport", "compact_prediction_logs"]

logger = logging.getLogger("skewless.serving.logs")

DEFAULT_RETENTION = timedelta(days=30)
STALE_TEMPORARY_SECONDS = 3600.0
_LOCK_FILE = ".compact.lock"


@dataclass
class CompactionReport:
    """What one compaction did.

    Attributes:
        deleted_days: the partitions (``log/2024-01-01``, ``feedback/...``) removed by retention.
        merged_days: the partitions whose files were merged into one.
        files_merged: the files those merges replaced.
        rows_merged: the rows they hold.
        skipped_days: partitions whose files could not be merged (columns of clashing types),
            left as they are.
        temporaries_removed: temporary files of crashed writes removed.
    """

    deleted_days: list[str]
    merged_days: list[str]
    files_merged: int = 0
    rows_merged: int = 0
    skipped_days: list[str] | None = None
    temporaries_removed: int = 0


def compact_prediction_logs(
    root: Path,
    name: str,
    retention: timedelta | None = DEFAULT_RETENTION,
    now: datetime | None = None,
) -> CompactionReport:
    """Delete the days of the log ``name`` (and of its feedback) older than ``retention``
    (None: keep every day), and merge the files of each other past day into one.

    A day is deleted when it ends before ``now - retention``. Temporary files of crashed
    writes older than an hour are removed from every day.

    Raises:
        PredictionLogError: there is no log ``name``, or ``retention`` is not positive.
    """
    if retention is not None and retention <= timedelta(0):
        raise PredictionLogError(
            f"retention {retention} is not positive: keep at least one day, e.g. 30d"
        )
    directory = existing_log_dir(Path(root), name)
    moment = to_utc(now or utc_now())
    today = moment.date()
    cutoff = (moment - retention).date() if retention is not None else None
    report = CompactionReport(deleted_days=[], merged_days=[], skipped_days=[])
    with _exclusive(directory):
        for label, base in (("log", directory), ("feedback", directory / FEEDBACK_DIR)):
            for day, partition in date_partitions(base):
                where = f"{label}/{day.isoformat()}"
                report.temporaries_removed += remove_stale_temporaries(
                    partition, STALE_TEMPORARY_SECONDS
                )
                if cutoff is not None and day < cutoff:
                    _delete_partition(partition)
                    report.deleted_days.append(where)
                elif day < today:
                    _compact_partition(partition, day, moment, where, report)
    return report


@contextmanager
def _exclusive(directory: Path) -> Iterator[None]:
    fd = os.open(directory / _LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise PredictionLogError(
                f"another compaction of {directory} is running: wait for it to finish"
            ) from None
        yield
    finally:
        os.close(fd)


def _delete_partition(partition: Path) -> None:
    """Hide the partition with one rename (readers see all of the day or none), then delete."""
    hidden = partition.with_name(f".{partition.name}.deleting-{uuid.uuid4().hex[:8]}")
    os.replace(partition, hidden)
    fsync_directory(partition.parent)
    shutil.rmtree(hidden, ignore_errors=True)


def _compact_partition(
    partition: Path, day: date, moment: datetime, where: str, report: CompactionReport
) -> None:
    remove_replaced(partition)  # what an interrupted compaction left
    files = visible_files(partition)
    if len(files) < 2:
        return
    try:
        schema = pa.unify_schemas(
            [pq.read_schema(f).remove_metadata() for f in files], promote_options="permissive"
        )
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        logger.warning("cannot merge the files of %s, leaving them as they are: %s", where, exc)
        assert report.skipped_days is not None
        report.skipped_days.append(where)
        return
    # Transitive: the parts a merged input replaced too, should any of them still be there.
    names = sorted({f.name for f in files}.union(*(replaced_files(f) for f in files)))
    schema = schema.with_metadata({REPLACES_KEY: json.dumps(names).encode()})
    rows = 0

    def write(path: Path) -> None:
        nonlocal rows
        with pq.ParquetWriter(path, schema) as out:
            for f in files:
                for batch in pq.ParquetFile(f).iter_batches():
                    out.write_batch(_conform(batch, schema))
                    rows += batch.num_rows

    try:
        publish(partition, "merged", moment, write)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError) as exc:
        logger.warning("cannot merge the files of %s, leaving them as they are: %s", where, exc)
        assert report.skipped_days is not None
        report.skipped_days.append(where)
        return
    remove_replaced(partition)
    report.merged_days.append(where)
    report.files_merged += len(files)
    report.rows_merged += rows


def _conform(batch: pa.RecordBatch, schema: pa.Schema) -> pa.RecordBatch:
    columns = [
        batch.column(f.name).cast(f.type)
        if f.name in batch.schema.names
        else pa.nulls(batch.num_rows, f.type)
        for f in schema
    ]
    return pa.RecordBatch.from_arrays(columns, schema=schema)


def remove_replaced(partition: Path) -> int:
    """Remove the files that merged files of ``partition`` replace; how many went."""
    names = sorted(
        entry.name
        for entry in os.scandir(partition)
        if entry.name.startswith("merged-") and entry.name.endswith(".parquet")
    )
    replaced: set[str] = set()
    for name in names:
        try:
            replaced.update(replaced_files(partition / name))
        except FileNotFoundError:
            continue
    removed = 0
    # Parts before merged files: a merged file goes only once what it replaced is gone.
    for name in sorted(replaced, key=lambda n: (n.startswith("merged-"), n)):
        try:
            (partition / name).unlink()
            removed += 1
        except FileNotFoundError:
            continue
    if removed:
        fsync_directory(partition)
    return removed
