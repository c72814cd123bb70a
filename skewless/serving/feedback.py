"""Feedback: the outcomes (labels) of logged predictions, joined back to them by request id.

A feedback item names a request (``request_id``), optionally one entity of it (``row``, its
index in the request; absent means every entity of the request) and the observed ``label``
(a JSON scalar). :func:`record_feedback` writes each call's items as one new Parquet file under
``data/prediction_logs/NAME/_feedback/date=YYYY-MM-DD/`` before it returns (synchronously: a
recorded outcome is on disk when the call returns, and feedback is far rarer than predictions;
compaction merges the small files of past days). The files appear whole or not at all, like
the log's own (see :mod:`skewless.serving.log_files`).

:func:`labelled_predictions` joins the log with its feedback in DuckDB: each logged entity
gets the latest label recorded for its row, else the latest recorded for its whole request.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow as pa

from skewless._time import to_utc
from skewless.errors import FeedbackError
from skewless.serving.log_files import feedback_dir, files_between, partition_name, publish_parquet
from skewless.serving.logs_read import (
    TimeBound,
    duckdb_connection,
    empty_log,
    existing_log_dir,
    parquet_scan,
    reread_on_removal,
    resolve_bound,
    window_sql,
)
from skewless.serving.records import utc_now

__all__ = [
    "FEEDBACK_COLUMNS",
    "FeedbackWriter",
    "labelled_predictions",
    "read_feedback",
    "record_feedback",
    "validate_feedback",
]

FEEDBACK_COLUMNS = ("request_id", "row", "label", "timestamp")
_KEYS = frozenset({"request_id", "row", "label"})
_MAX_ROW = 2**31 - 1
_MAX_INT = 2**63 - 1


def _kind(label: Any) -> str:
    if isinstance(label, bool):
        return "boolean"
    if isinstance(label, int | float):
        return "number"
    return "string"


def _check_item(i: int, item: Any) -> tuple[str, int | None, Any]:
    where = f"feedback item {i}"
    if not isinstance(item, Mapping):
        raise FeedbackError(
            f"{where} is a {type(item).__name__}, not an object: send "
            '{"request_id": "...", "label": ..., "row": 0} (row is optional)'
        )
    unknown = sorted(str(k) for k in item if k not in _KEYS)
    if unknown:
        raise FeedbackError(
            f"{where} has unknown field(s) {', '.join(unknown)}: only request_id, label and row"
        )
    request_id = item.get("request_id")
    if not isinstance(request_id, str) or not request_id.strip():
        raise FeedbackError(
            f"{where}: request_id {request_id!r} is not a non-empty string: send the "
            "request_id the prediction answer carried"
        )
    if "label" not in item or item["label"] is None:
        raise FeedbackError(f"{where} (request {request_id}) has no label: send the outcome")
    label = item["label"]
    if not isinstance(label, str | int | float) or (
        isinstance(label, float) and not math.isfinite(label)
    ):
        raise FeedbackError(
            f"{where} (request {request_id}): label {label!r} is not a JSON scalar: send a "
            "string, a finite number or a boolean"
        )
    if isinstance(label, int) and not isinstance(label, bool) and abs(label) > _MAX_INT:
        raise FeedbackError(f"{where} (request {request_id}): label {label} is beyond int64")
    row = item.get("row")
    if row is not None and (
        isinstance(row, bool) or not isinstance(row, int) or not 0 <= row <= _MAX_ROW
    ):
        raise FeedbackError(
            f"{where} (request {request_id}): row {row!r} is not an entity index: send the "
            "0-based index of the entity in its request, or leave row out for all of them"
        )
    return request_id, row, label


def validate_feedback(items: Sequence[Mapping[str, Any]]) -> pa.Table:
    """The items as a table (without ``timestamp``); a :class:`FeedbackError` naming the first
    bad item, when there is one.

    >>> validate_feedback([{"request_id": "r1", "label": 1}]).column("label").to_pylist()
    [1]
    """
    if isinstance(items, str | bytes | Mapping) or not isinstance(items, Sequence):
        raise FeedbackError(
            f"feedback must be a list of items, got {type(items).__name__}: send "
            '[{"request_id": "...", "label": ...}]'
        )
    checked = [_check_item(i, item) for i, item in enumerate(items)]
    kinds = {_kind(label) for _, _, label in checked}
    if len(kinds) > 1:
        raise FeedbackError(
            f"the labels of one feedback call mix {' and '.join(sorted(kinds))} values: send "
            "labels of one kind (all numbers, all strings or all booleans)"
        )
    labels = [label for _, _, label in checked]
    if kinds == {"number"} and any(isinstance(v, float) for v in labels):
        labels = [float(v) for v in labels]
    return pa.table(
        {
            "request_id": pa.array([r for r, _, _ in checked], pa.string()),
            "row": pa.array([row for _, row, _ in checked], pa.int32()),
            "label": pa.array(labels),
        }
    )


def record_feedback(
    root: Path, name: str, items: Sequence[Mapping[str, Any]], now: datetime | None = None
) -> int:
    """Record outcomes against the log ``name``; how many items were recorded.

    The items are validated first (nothing is written when one is bad), then written as one
    file, on disk when this returns. Feedback for a request the log does not hold (yet) is
    kept; it joins once the request's rows are there.

    Raises:
        FeedbackError: an item lacks a request id, names a bad row or a non-scalar label.

    Example:
        >>> import tempfile
        >>> root = Path(tempfile.mkdtemp())
        >>> record_feedback(root, "churn", [{"request_id": "r1", "label": 1, "row": 0}])
        1
        >>> read_feedback(root, "churn").column("label").to_pylist()
        [1]
    """
    table = validate_feedback(items)
    if table.num_rows == 0:
        return 0
    moment = to_utc(now or utc_now())
    stamps = pa.array([moment] * table.num_rows, pa.timestamp("us", tz="UTC"))
    table = table.append_column("timestamp", stamps)
    directory = feedback_dir(Path(root), name) / partition_name(moment.date())
    publish_parquet(table, directory, "part", moment)
    return table.num_rows


class FeedbackWriter:
    """Records feedback against one log (what ``POST /feedback`` uses).

    Attributes:
        recorded: items recorded through this writer.
    """

    def __init__(self, root: Path, name: str) -> None:
        self.root = Path(root)
        self.name = name
        feedback_dir(self.root, name)  # the name is checked now
        self.recorded = 0

    def record(self, items: Sequence[Mapping[str, Any]], now: datetime | None = None) -> int:
        """:func:`record_feedback` for this writer's log."""
        count = record_feedback(self.root, self.name, items, now)
        self.recorded += count
        return count


def _empty_feedback() -> pa.Table:
    return pa.table(
        {
            "request_id": pa.array([], pa.string()),
            "row": pa.array([], pa.int32()),
            "label": pa.array([], pa.null()),
            "timestamp": pa.array([], pa.timestamp("us", tz="UTC")),
        }
    )


def _run(sql: str, params: list[Any], tables: Mapping[str, pa.Table]) -> pa.Table:
    with duckdb_connection() as conn:
        for table_name, table in tables.items():
            conn.register(table_name, table)
        return conn.sql(sql, params=params).to_arrow_table()


def read_feedback(
    root: Path,
    name: str,
    since: TimeBound = None,
    until: TimeBound = None,
    *,
    now: datetime | None = None,
) -> pa.Table:
    """The feedback recorded against the log ``name`` from ``since`` to ``until`` (by when it
    was recorded), oldest first: ``request_id``, ``row``, ``label``, ``timestamp``."""
    start, stop = resolve_bound(since, now), resolve_bound(until, now)
    where, params = window_sql(start, stop)
    directory = feedback_dir(Path(root), name)

    def read() -> pa.Table:
        files = files_between(
            directory, start.date() if start else None, stop.date() if stop else None
        )
        if not files:
            return _empty_feedback()
        sql = (
            f'SELECT request_id, "row", label, "timestamp" FROM {parquet_scan(files)}{where} '
            'ORDER BY "timestamp", request_id'
        )
        return _run(sql, params, {})

    return reread_on_removal(read)


def labelled_predictions(
    root: Path,
    name: str,
    since: TimeBound = None,
    until: TimeBound = None,
    *,
    now: datetime | None = None,
) -> pa.Table:
    """The logged rows of ``name`` (answered from ``since`` to ``until``) that have feedback,
    with ``label`` and ``label_timestamp`` (when it was recorded) added.

    A row takes the latest feedback recorded for it (``row`` given), else the latest recorded
    for its whole request. Feedback may be recorded at any time after the prediction.

    Raises:
        PredictionLogError: there is no log ``name``.
    """
    log_directory = existing_log_dir(Path(root), name)
    start, stop = resolve_bound(since, now), resolve_bound(until, now)
    where, params = window_sql(start, stop)

    def read() -> pa.Table:
        tables: dict[str, pa.Table] = {}
        log_files = files_between(
            log_directory, start.date() if start else None, stop.date() if stop else None
        )
        if log_files:
            log_scan = f"(SELECT * EXCLUDE (date) FROM {parquet_scan(log_files)}{where})"
        else:
            tables["empty_log"], log_scan = empty_log(), f"(SELECT * FROM empty_log{where})"
        feedback_files = files_between(feedback_dir(Path(root), name), None, None)
        if feedback_files:
            feedback_scan = parquet_scan(feedback_files, positions=True)
        else:
            tables["empty_feedback"] = (
                _empty_feedback()
                .append_column("filename", pa.array([], pa.string()))
                .append_column("file_row_number", pa.array([], pa.int64()))
            )
            feedback_scan = "empty_feedback"
        sql = (
            f"WITH log AS {log_scan}, "
            f'feedback AS (SELECT request_id, "row" AS feedback_row, label, '
            f'"timestamp" AS label_timestamp, filename, file_row_number FROM {feedback_scan}) '
            "SELECT log.*, feedback.label, feedback.label_timestamp FROM log JOIN feedback "
            "ON feedback.request_id = log.request_id "
            'AND (feedback.feedback_row IS NULL OR feedback.feedback_row = log."row") '
            'QUALIFY row_number() OVER (PARTITION BY log.request_id, log."row" '
            "ORDER BY feedback.feedback_row IS NULL, feedback.label_timestamp DESC, "
            "feedback.filename DESC, feedback.file_row_number DESC) = 1 "
            'ORDER BY log."timestamp", log.request_id, log."row"'
        )
        return _run(sql, params, tables)

    return reread_on_removal(read)
