"""Reading a prediction log: its rows over a time range, as a source, and a summary.

The log's files are read with DuckDB, ``read_parquet(..., union_by_name = true,
hive_partitioning = true)``: files written by model versions with different features union
their columns (a column a file lacks reads as null), and only the ``date=`` partitions a time
range touches are opened.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from skewless._time import to_utc
from skewless.definitions import FileSource
from skewless.errors import PredictionLogError
from skewless.serving.log_files import (
    check_log_name,
    files_between,
    log_dir,
    logs_root,
)
from skewless.serving.logs import BASE_COLUMNS
from skewless.serving.records import utc_now

__all__ = [
    "LogSummary",
    "TimeBound",
    "duckdb_connection",
    "empty_log",
    "existing_log_dir",
    "log_summary",
    "parquet_scan",
    "prediction_log_source",
    "read_prediction_logs",
    "reread_on_removal",
    "resolve_bound",
    "window_sql",
]

TimeBound = datetime | timedelta | None
_READ_ATTEMPTS = 3


def resolve_bound(value: TimeBound, now: datetime | None = None) -> datetime | None:
    """A time bound as an instant: a timedelta counts back from ``now``.

    >>> from datetime import UTC
    >>> resolve_bound(timedelta(days=1), datetime(2024, 1, 2, tzinfo=UTC)).isoformat()
    '2024-01-01T00:00:00+00:00'
    """
    if value is None:
        return None
    if isinstance(value, timedelta):
        return to_utc(now or utc_now()) - value
    if isinstance(value, datetime):
        return to_utc(value)
    raise PredictionLogError(
        f"time bound {value!r} is neither a datetime nor a timedelta: pass e.g. "
        "timedelta(days=1) or datetime(2024, 1, 31, tzinfo=UTC)"
    )


def existing_log_dir(root: Path, name: str) -> Path:
    """The directory of the log ``name``; a :class:`PredictionLogError` when there is none."""
    directory = log_dir(root, name)
    if directory.is_dir():
        return directory
    parent = logs_root(root)
    known = sorted(
        e.name for e in _entries(parent) if e.is_dir() and not e.name.startswith((".", "_"))
    )
    hint = f"known logs: {', '.join(known)}" if known else "no log has been written yet"
    raise PredictionLogError(
        f"no prediction log {check_log_name(name)!r} under {parent} ({hint}); logs appear once "
        "a prediction server with logging on has answered requests (check --repo and NAME)"
    )


def _entries(directory: Path) -> list[os.DirEntry[str]]:
    try:
        return list(os.scandir(directory))
    except (FileNotFoundError, NotADirectoryError):
        return []


@contextmanager
def duckdb_connection() -> Iterator[duckdb.DuckDBPyConnection]:
    """An in-memory DuckDB connection that reads and prints times in UTC."""
    conn = duckdb.connect(":memory:")
    try:
        conn.execute("SET TimeZone = 'UTC'")
        yield conn
    finally:
        conn.close()


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def parquet_scan(files: list[Path], positions: bool = False) -> str:
    """The ``read_parquet`` of a log's files (their columns unioned by name, ``date`` too;
    with ``positions``, ``filename`` and ``file_row_number`` as well)."""
    listed = ", ".join(_literal(str(f)) for f in files)
    extra = ", filename = true, file_row_number = true" if positions else ""
    return f"read_parquet([{listed}], union_by_name = true, hive_partitioning = true{extra})"


def empty_log() -> pa.Table:
    """A log table without rows (the columns every log file has)."""
    return pa.schema(list(BASE_COLUMNS.items())).empty_table()


def window_sql(since: datetime | None, until: datetime | None) -> tuple[str, list[Any]]:
    """A ``WHERE`` clause keeping ``since <= timestamp < until``, and its parameters."""
    clauses, params = [], []
    if since is not None:
        clauses.append('"timestamp" >= ?')
        params.append(since)
    if until is not None:
        clauses.append('"timestamp" < ?')
        params.append(until)
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), params


def read_prediction_logs(
    root: Path,
    name: str,
    since: TimeBound = None,
    until: TimeBound = None,
    *,
    now: datetime | None = None,
) -> pa.Table:
    """The rows of the log ``name`` from ``since`` (inclusive) to ``until`` (exclusive), in
    time order; a timedelta bound counts back from ``now``.

    Raises:
        PredictionLogError: there is no log ``name`` in the repository ``root``.

    Example:
        >>> import tempfile
        >>> from datetime import UTC
        >>> from skewless.serving.logs import PredictionLogWriter
        >>> from skewless.serving.records import Prediction
        >>> root = Path(tempfile.mkdtemp())
        >>> with PredictionLogWriter(root, "churn") as log:
        ...     log.submit([Prediction("r1", datetime.now(UTC), "churn", 1, {"user_id": [7, 8]},
        ...                            {"age": [31, 40]}, [0, 1], None, [], 2.0)])
        >>> read_prediction_logs(root, "churn", since=timedelta(hours=1)).column("age").to_pylist()
        [31, 40]
    """
    directory = existing_log_dir(Path(root), name)
    start, stop = resolve_bound(since, now), resolve_bound(until, now)
    where, params = window_sql(start, stop)

    def read() -> pa.Table:
        files = files_between(
            directory, start.date() if start else None, stop.date() if stop else None
        )
        if not files:
            return empty_log()
        sql = (
            f"SELECT * EXCLUDE (date) FROM {parquet_scan(files)}{where} "
            'ORDER BY "timestamp", request_id, "row"'
        )
        with duckdb_connection() as conn:
            return conn.sql(sql, params=params).to_arrow_table()

    return reread_on_removal(read)


def reread_on_removal(read: Callable[[], pa.Table]) -> pa.Table:
    """``read()``, which lists files then reads them, run again when a compaction removed a
    file between the listing and the reading (at most ``_READ_ATTEMPTS`` times)."""
    for attempt in range(_READ_ATTEMPTS):
        try:
            return read()
        except duckdb.IOException:
            if attempt == _READ_ATTEMPTS - 1:
                raise
    raise AssertionError("unreachable")  # pragma: no cover


def prediction_log_source(name: str, repo_root: Path | None = None) -> FileSource:
    """The log ``name`` as a :class:`~skewless.definitions.FileSource` (event time
    ``timestamp``), e.g. to join served features and predictions with labels offline.

    Without ``repo_root`` the path is relative, resolved against the repository the source is
    used in. A directory source skips hidden and ``_`` names, so the feedback and temporary
    files are not read as log rows.

    >>> prediction_log_source("churn").path
    'data/prediction_logs/churn'
    """
    check_log_name(name)
    path = log_dir(Path(repo_root), name) if repo_root is not None else None
    return FileSource(
        path=str(path) if path is not None else f"data/prediction_logs/{name}",
        timestamp_field="timestamp",
        description=f"prediction log of {name}",
    )


@dataclass(frozen=True)
class LogSummary:
    """What a prediction log holds over a time range (``skewless logs NAME``).

    Attributes:
        name: the log.
        since: the start of the range (None: the whole log).
        requests, entities, missing, cached: counts (entities are the log's rows; cached
            counts the rows of requests answered from the cache whole).
        versions: per model version, ``{"model_version", "requests", "entities", "missing"}``.
        latency_p50_ms, latency_p99_ms: request latency percentiles (None without rows).
        prediction_mean: the mean prediction of a numeric model (None otherwise).
        prediction_counts: the predictions of a classifier, ``{class: count}`` (at most 20).
        first, last: the times of the first and last request.
    """

    name: str
    since: datetime | None
    requests: int = 0
    entities: int = 0
    missing: int = 0
    cached: int = 0
    versions: list[dict[str, int]] = field(default_factory=list)
    latency_p50_ms: float | None = None
    latency_p99_ms: float | None = None
    prediction_mean: float | None = None
    prediction_counts: dict[str, int] = field(default_factory=dict)
    first: datetime | None = None
    last: datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        """The summary as JSON-ready values (times as ISO-8601)."""
        out = asdict(self)
        for key in ("since", "first", "last"):
            out[key] = out[key].isoformat() if out[key] is not None else None
        return out


_MAX_CLASSES = 20


def log_summary(
    root: Path, name: str, since: TimeBound = None, *, now: datetime | None = None
) -> LogSummary:
    """Counts, versions, latency and the prediction distribution of the log ``name``.

    Raises:
        PredictionLogError: there is no log ``name`` in the repository ``root``.
    """
    start = resolve_bound(since, now)
    table = read_prediction_logs(root, name, since=start, now=now)
    if table.num_rows == 0:
        return LogSummary(name=name, since=start)
    with duckdb_connection() as conn:
        conn.register("log", table)
        requests, entities, missing, cached, first, last = conn.execute(
            "SELECT count(DISTINCT request_id), count(*), count(*) FILTER (WHERE missing), "
            'count(*) FILTER (WHERE cached), min("timestamp"), max("timestamp") FROM log'
        ).fetchone() or (0, 0, 0, 0, None, None)
        p50, p99 = conn.execute(
            "SELECT quantile_cont(latency_ms, 0.5), quantile_cont(latency_ms, 0.99) FROM "
            "(SELECT request_id, any_value(latency_ms) AS latency_ms FROM log GROUP BY 1)"
        ).fetchone() or (None, None)
        versions = [
            {"model_version": v, "requests": r, "entities": e, "missing": m}
            for v, r, e, m in conn.execute(
                "SELECT model_version, count(DISTINCT request_id), count(*), "
                "count(*) FILTER (WHERE missing) FROM log GROUP BY 1 ORDER BY 1"
            ).fetchall()
        ]
        mean, counts = _distribution(conn, table.schema.field("prediction").type)
    return LogSummary(
        name=name,
        since=start,
        requests=requests,
        entities=entities,
        missing=missing,
        cached=cached,
        versions=versions,
        latency_p50_ms=p50,
        latency_p99_ms=p99,
        prediction_mean=mean,
        prediction_counts=counts,
        first=to_utc(first) if first is not None else None,
        last=to_utc(last) if last is not None else None,
    )


def _distribution(
    conn: duckdb.DuckDBPyConnection, dtype: pa.DataType
) -> tuple[float | None, dict[str, int]]:
    if pa.types.is_integer(dtype) or pa.types.is_floating(dtype) or pa.types.is_decimal(dtype):
        row = conn.execute(
            "SELECT avg(prediction), count(DISTINCT prediction) FROM log "
            "WHERE prediction IS NOT NULL"
        ).fetchone()
        mean, distinct = row if row is not None else (None, 0)
        if not (pa.types.is_integer(dtype) and distinct <= _MAX_CLASSES):
            return (float(mean) if mean is not None else None), {}
    elif pa.types.is_null(dtype):
        return None, {}
    else:
        mean = None
    counts = conn.execute(
        "SELECT CAST(prediction AS VARCHAR), count(*) FROM log WHERE prediction IS NOT NULL "
        f"GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT {_MAX_CLASSES}"
    ).fetchall()
    return (float(mean) if mean is not None else None), {str(k): int(n) for k, n in counts}
