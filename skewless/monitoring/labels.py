"""Labelled predictions: labels joined to the prediction log by entity key and time (a
point-in-time join), and read as the metrics need them.

Labels that arrive through ``POST /feedback`` name their request and join by request id
(:func:`skewless.serving.feedback.labelled_predictions`). Labels that arrive later as a table
(churned customers, settled transactions) name an entity and a time instead; :func:`join_labels`
attributes each one to the prediction it judges:

- a label row joins the **latest prediction of the same entity key made at or before the
  label's time** (and, with ``max_delay``, no longer than ``max_delay`` before it);
  predictions of one key at the same instant count in the log's order, the later row winning;
- a label with no such prediction (or with a null key, time or value) is dropped, and counted;
- when several labels join one prediction, the latest label wins (the later row of the labels
  at equal times).

The join runs in DuckDB (``ASOF JOIN``). Its output has the shape ``labelled_predictions``
returns, the log's rows with ``label`` and ``label_timestamp`` added, so both paths feed
:func:`skewless.monitoring.performance.performance_report` alike.

The rest of the module reads such labelled rows as the metrics need them: the task
(:func:`resolve_task`), and labels, predictions and class probabilities as arrays
(:func:`labelled_rows`).
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from skewless.errors import MonitorInputError
from skewless.monitoring.tables import read_table
from skewless.serving.logs_read import duckdb_connection

__all__ = [
    "CLASSIFICATION_MAX_INTEGER_CLASSES",
    "COUNTS_KEY",
    "LabelledRows",
    "Task",
    "as_duration",
    "as_table",
    "infer_task",
    "join_labels",
    "label_counts",
    "labelled_rows",
    "resolve_task",
]

COUNTS_KEY = b"skewless.join_labels"
"""The schema metadata key of :func:`join_labels`'s output that holds its counts (JSON)."""

_UTC = pa.timestamp("us", tz="UTC")
_POS, _LPOS = "__skewless_pos", "__skewless_label_pos"
_LABEL, _LABEL_TS = "__skewless_label", "__skewless_label_ts"
_DURATION = re.compile(r"^\s*(\d+)\s*(s|m|h|d|w)\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def as_table(value: Any, what: str) -> pa.Table:
    """``value`` (a pandas or polars DataFrame, a pyarrow Table, a Parquet path or a CSV
    file) as Arrow.

    Raises:
        MonitorInputError: ``value`` is none of those, or the path does not exist.
    """
    return read_table(value, what, MonitorInputError)


def as_duration(value: timedelta | str, what: str, *, zero: bool = False) -> timedelta:
    """A positive duration (or zero, with ``zero``) from a timedelta or text: ``30s``,
    ``15m``, ``6h``, ``1d``, ``2w``.

    >>> as_duration("6h", "window")
    datetime.timedelta(seconds=21600)

    Raises:
        MonitorInputError: the value is not a duration, or is not positive.
    """
    if isinstance(value, str) and (found := _DURATION.match(value)):
        value = timedelta(seconds=int(found.group(1)) * _UNITS[found.group(2)])
    if (
        not isinstance(value, timedelta)
        or value < timedelta(0)
        or (value == timedelta(0) and not zero)
    ):
        shown = str(value) if isinstance(value, timedelta) else repr(value)
        kind = "a duration of 0 or more" if zero else "a positive duration"
        raise MonitorInputError(
            f"{what} {shown} is not {kind}: pass a timedelta or text such as '6h', '1d' or '7d'"
        )
    return value


def label_counts(joined: pa.Table) -> dict[str, int] | None:
    """What :func:`join_labels` did with the labels, from its output's schema metadata.

    ``labels`` (rows given) = ``joined`` (in the output) + ``unmatched`` (no prediction at or
    before them, within ``max_delay``; or a null key or time) + ``superseded`` (a later label
    joined the same prediction) + ``null`` (no label value). None for other tables.
    """
    raw = (joined.schema.metadata or {}).get(COUNTS_KEY)
    return {str(k): int(v) for k, v in json.loads(raw).items()} if raw else None


def _family(t: pa.DataType) -> str:
    if pa.types.is_dictionary(t):
        return _family(t.value_type)
    if pa.types.is_integer(t):
        return "integer"
    if pa.types.is_floating(t):
        return "float"
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t):
        return "string"
    if pa.types.is_boolean(t):
        return "boolean"
    if pa.types.is_timestamp(t):
        return "timestamp"
    if pa.types.is_date(t):
        return "date"
    return str(t)


def _normal(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """A key column in one type per family, so both sides compare equal values as equal."""
    t = column.type
    if pa.types.is_dictionary(t):
        column = column.cast(t.value_type)
    family = _family(column.type)
    target = {"integer": pa.int64(), "float": pa.float64(), "string": pa.string()}.get(family)
    if family == "timestamp":
        target = _UTC
    return pc.cast(column, target, safe=False) if target is not None else column


def _instants(column: pa.ChunkedArray, whose: str, name: str) -> pa.ChunkedArray:
    """A time column as UTC microseconds (naive times mean UTC, dates their midnight)."""
    if not (pa.types.is_timestamp(column.type) or pa.types.is_date(column.type)):
        raise MonitorInputError(
            f"{whose} time column {name!r} is {column.type}, not a time: parse it first, "
            f"e.g. pandas.to_datetime(frame[{name!r}], utc=True)"
        )
    return pc.cast(column, _UTC, safe=False)


def _require(table: pa.Table, columns: Sequence[str], what: str, hint: str) -> None:
    for column in columns:
        if column not in table.column_names:
            shown = ", ".join(table.column_names[:20]) or "none"
            raise MonitorInputError(
                f"the {what} have no column {column!r} (they have: {shown}): {hint}"
            )


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _key_columns(log: pa.Table, labels: pa.Table, keys: list[str]) -> list[pa.ChunkedArray]:
    """The labels' key columns, checked against and typed like the log's."""
    normal = []
    for key in keys:
        left, right = log.column(key), labels.column(key)
        if _family(left.type) != _family(right.type):
            raise MonitorInputError(
                f"key column {key!r} is {left.type} in the prediction log but {right.type} in "
                f"the labels: give both the same type, e.g. cast the labels' {key!r} to "
                f"{left.type}"
            )
        normal.append(_normal(right))
    return normal


def join_labels(
    log: Any,
    labels: Any,
    keys: str | Sequence[str],
    *,
    label: str = "label",
    timestamp: str = "event_timestamp",
    max_delay: timedelta | str | None = None,
) -> pa.Table:
    """The logged predictions that a label judges, with ``label`` and ``label_timestamp``.

    Each label row joins the latest prediction of the same entity key made at or before its
    time (within ``max_delay`` before it, when given); see the module docstring for ties.
    What happened to every label is in the output's schema metadata (:func:`label_counts`).

    Args:
        log: the prediction log rows (as ``read_prediction_logs`` returns them): a
            ``timestamp`` column and the key columns.
        labels: a pandas/polars DataFrame, pyarrow Table or Parquet path holding the key
            columns, a time column and a label column.
        keys: the entity key column(s), named alike in both.
        label: the labels' label column.
        timestamp: the labels' time column (naive times mean UTC).
        max_delay: the longest a label may come after its prediction (a timedelta or text
            such as ``"7d"``); None means any delay.

    Returns:
        The log's columns, in the log's row order, for the rows a label joined, then
        ``label`` and ``label_timestamp`` (UTC).

    Raises:
        MonitorInputError: a column is missing, a key has another type in each table, the
            time column is not a time, or ``max_delay`` is not a positive duration.

    Example:
        >>> from datetime import UTC, datetime
        >>> log = pa.table({"request_id": ["a", "b"], "user_id": [1, 1],
        ...                 "timestamp": [datetime(2024, 1, 1, tzinfo=UTC),
        ...                               datetime(2024, 1, 3, tzinfo=UTC)],
        ...                 "prediction": [0, 1]})
        >>> labels = pa.table({"user_id": [1], "churned": [1],
        ...                    "event_timestamp": [datetime(2024, 1, 2, tzinfo=UTC)]})
        >>> joined = join_labels(log, labels, "user_id", label="churned")
        >>> joined.column("request_id").to_pylist(), joined.column("label").to_pylist()
        (['a'], [1])
        >>> label_counts(joined)
        {'labels': 1, 'joined': 1, 'unmatched': 0, 'superseded': 0, 'null': 0}
    """
    key_list = [keys] if isinstance(keys, str) else list(keys)
    if not key_list:
        raise MonitorInputError("keys is empty: name the entity key column(s), e.g. 'user_id'")
    delay = None if max_delay is None else as_duration(max_delay, "max_delay", zero=True)
    log_table = as_table(log, "prediction log")
    label_table = as_table(labels, "labels")
    _require(
        log_table,
        ["timestamp", *key_list],
        "prediction log rows",
        "pass the table read_prediction_logs returns, and keys= as the log names them",
    )
    for taken in ("label", "label_timestamp", _POS):
        if taken in log_table.column_names:
            raise MonitorInputError(
                f"the prediction log already has a column {taken!r}: drop or rename it before "
                "joining labels"
            )
    _require(
        label_table,
        [*key_list, timestamp, label],
        "labels",
        "name the key columns with keys=, the time with timestamp= and the label with label=",
    )
    right_keys = _key_columns(log_table, label_table, key_list)
    label_values = label_table.column(label)
    prepared_labels = pa.table(
        [
            *right_keys,
            _instants(label_table.column(timestamp), "the labels'", timestamp),
            label_values,
            pa.array(range(label_table.num_rows), pa.int64()),
        ],
        names=[*key_list, _LABEL_TS, _LABEL, _LPOS],
    )
    prepared_log = log_table
    for key in key_list:
        i = prepared_log.column_names.index(key)
        prepared_log = prepared_log.set_column(i, key, _normal(prepared_log.column(key)))
    i = prepared_log.column_names.index("timestamp")
    ts = _instants(prepared_log.column("timestamp"), "the prediction log's", "timestamp")
    prepared_log = prepared_log.set_column(i, "timestamp", ts)
    prepared_log = prepared_log.append_column(_POS, pa.array(range(log_table.num_rows), pa.int64()))
    joined, counts = _join(prepared_log, prepared_labels, key_list, delay, log_table.schema)
    counts["null"] = label_values.null_count
    counts = {"labels": label_table.num_rows, "joined": joined.num_rows, **counts}
    metadata = {**(joined.schema.metadata or {}), COUNTS_KEY: json.dumps(counts).encode()}
    return joined.replace_schema_metadata(metadata)


def _join(
    log: pa.Table,
    labels: pa.Table,
    keys: list[str],
    delay: timedelta | None,
    schema: pa.Schema,
) -> tuple[pa.Table, dict[str, int]]:
    on = " AND ".join(f"l.{_quoted(k)} = i.{_quoted(k)}" for k in keys)
    not_null = " AND ".join(f"{_quoted(k)} IS NOT NULL" for k in keys)
    key_list = ", ".join(_quoted(k) for k in keys)
    within = ""
    params: list[Any] = []
    if delay is not None:
        within = f" AND epoch_us({_LABEL_TS}) - epoch_us(__t) <= ?"
        params.append(delay // timedelta(microseconds=1))
    # One instant per key and time (the log's last row of it), so that the ASOF join's choice
    # among predictions made at the same instant is the log's order, not DuckDB's.
    found = (
        f'WITH instants AS (SELECT {key_list}, "timestamp" AS __t, max({_POS}) AS {_POS} '
        f'FROM log WHERE {not_null} AND "timestamp" IS NOT NULL GROUP BY ALL) '
        f"SELECT l.{_LPOS}, l.{_LABEL}, l.{_LABEL_TS}, i.__t, i.{_POS} FROM labels l "
        f"ASOF JOIN instants i ON {on} AND l.{_LABEL_TS} >= i.__t "
        f"WHERE l.{_LABEL} IS NOT NULL{within}"
    )
    kept = (
        f"SELECT * FROM found QUALIFY row_number() OVER (PARTITION BY {_POS} "
        f"ORDER BY {_LABEL_TS} DESC, {_LPOS} DESC) = 1"
    )
    select = (
        f"SELECT log.* EXCLUDE ({_POS}), kept.{_LABEL} AS label, kept.{_LABEL_TS} AS "
        f"label_timestamp FROM log JOIN kept USING ({_POS}) ORDER BY log.{_POS}"
    )
    with duckdb_connection() as conn:
        conn.register("log", log)
        conn.register("labels", labels)
        conn.execute(f"CREATE TEMP TABLE found AS {found}", params)
        conn.execute(f"CREATE TEMP TABLE kept AS {kept}")
        joined = conn.sql(select).to_arrow_table()
        matched = conn.execute("SELECT count(*) FROM found").fetchone()
        non_null = labels.num_rows - labels.column(_LABEL).null_count
    found_rows = int(matched[0]) if matched else 0
    counts = {"unmatched": non_null - found_rows, "superseded": found_rows - joined.num_rows}
    return _restore_types(joined, schema), counts


def _restore_types(joined: pa.Table, schema: pa.Schema) -> pa.Table:
    """The log's columns in their own types (the keys and time were normalized to join)."""
    for i, f in enumerate(schema):
        if joined.schema.field(i).type != f.type:
            # a type DuckDB returns differently that does not cast back is kept as it is
            with contextlib.suppress(pa.ArrowInvalid, pa.ArrowNotImplementedError):
                joined = joined.set_column(i, f.name, joined.column(i).cast(f.type))
    return joined


# -- labelled predictions, as the metrics read them ------------------------------------------------
Task = Literal["classification", "regression"]

CLASSIFICATION_MAX_INTEGER_CLASSES = 10
"""Integer labels with at most this many distinct values (and integer predictions) are
inferred to be classes."""
_TASK_NAMES = {
    "classification": "classification",
    "classifier": "classification",
    "regression": "regression",
    "regressor": "regression",
}


def _kind(t: pa.DataType) -> str:
    """``text``, ``number``, ``integer``, ``boolean`` or the type's name."""
    if pa.types.is_dictionary(t):
        return _kind(t.value_type)
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t):
        return "text"
    if pa.types.is_boolean(t):
        return "boolean"
    if pa.types.is_integer(t):
        return "integer"
    if pa.types.is_floating(t):
        return "number"
    return str(t)


def _values(column: pa.ChunkedArray) -> np.ndarray:
    if pa.types.is_dictionary(column.type):
        column = column.cast(column.type.value_type)
    return np.asarray(column.to_numpy(zero_copy_only=False))


def _has_probabilities(table: pa.Table) -> bool:
    if "probabilities" not in table.column_names:
        return False
    column = table.column("probabilities")
    if not (pa.types.is_list(column.type) or pa.types.is_large_list(column.type)):
        return False
    lengths = pc.list_value_length(column)
    return bool(pc.max(lengths).as_py() or 0)


def infer_task(table: pa.Table) -> Task:
    """The task the labelled predictions look like: ``classification`` when any row carries
    probabilities, or the label or prediction column holds text or booleans, or both are
    integers and the labels take at most :data:`CLASSIFICATION_MAX_INTEGER_CLASSES` distinct
    values; ``regression`` otherwise."""
    label, prediction = _kind(table.column("label").type), _kind(table.column("prediction").type)
    if _has_probabilities(table) or {label, prediction} & {"text", "boolean"}:
        return "classification"
    if prediction == "integer" and label == "integer":
        distinct = len(pc.unique(table.column("label").drop_null()))
        if distinct <= CLASSIFICATION_MAX_INTEGER_CLASSES:
            return "classification"
    return "regression"


def _check_types(task: Task, table: pa.Table) -> None:
    label, prediction = _kind(table.column("label").type), _kind(table.column("prediction").type)
    numeric = {"integer", "number", "boolean"}
    if task == "regression" and not ({label, prediction} <= {"integer", "number"}):
        raise MonitorInputError(
            f"a regression needs numeric labels and predictions, got {label} labels and "
            f"{prediction} predictions: pass task='classification' or send numeric labels"
        )
    if task == "classification" and (label in numeric) != (prediction in numeric):
        raise MonitorInputError(
            f"the labels are {label} but the predictions are {prediction}, so none would "
            "match: send labels of the predictions' type (as the model was trained on)"
        )
    if task == "classification" and not {label, prediction} <= numeric | {"text"}:
        raise MonitorInputError(
            f"cannot compare {label} labels with {prediction} predictions: send scalar labels"
        )


def _probabilities(table: pa.Table, classes: tuple[Any, ...]) -> np.ndarray:
    """One row of class probabilities per row (NaN for a row that carries none)."""
    out = np.full((table.num_rows, len(classes)), np.nan)
    if not _has_probabilities(table):
        return out
    column = table.column("probabilities").combine_chunks()
    lengths = np.asarray(pc.fill_null(pc.list_value_length(column), 0).to_numpy())
    wrong = sorted({int(v) for v in lengths if v not in (0, len(classes))})
    if wrong:
        raise MonitorInputError(
            f"rows carry {wrong[0]} probabilities but there are {len(classes)} classes "
            f"({', '.join(map(str, classes))}): pass classes= in the model's class order"
        )
    has = lengths > 0
    flat = pc.list_flatten(column.filter(pa.array(has))).to_numpy(zero_copy_only=False)
    out[has] = np.asarray(flat, dtype=np.float64).reshape(-1, len(classes))
    return out


def _resolve_classes(
    y: np.ndarray, pred: np.ndarray, classes: Sequence[Any] | None
) -> tuple[Any, ...]:
    if classes is not None:
        return tuple(classes)
    return tuple(v.item() if isinstance(v, np.generic) else v for v in np.unique(np.r_[y, pred]))


def resolve_task(task: str | None, table: pa.Table) -> Task:
    """``task`` as a :data:`Task` (inferred when None), checked against the label and
    prediction types of ``table``.

    Raises:
        MonitorInputError: an unknown task, or labels and predictions that cannot be compared.
    """
    if task is None:
        resolved: Task = infer_task(table)
    else:
        name = _TASK_NAMES.get(str(task).lower())
        if name is None:
            raise MonitorInputError(
                f"task {task!r} is not a task: pass 'classification' or 'regression' (or None "
                "to infer it)"
            )
        resolved = "classification" if name == "classification" else "regression"
    _check_types(resolved, table)
    return resolved


@dataclass(frozen=True)
class LabelledRows:
    """Labelled predictions as arrays the metrics read.

    Attributes:
        task: ``classification`` or ``regression``.
        y, pred: the labels and predictions (float64 for a regression).
        proba: one row of class probabilities per row, NaN where a row carries none (no
            columns for a regression).
        classes: the classes of ``proba``'s columns (None for a regression).
    """

    task: Task
    y: np.ndarray
    pred: np.ndarray
    proba: np.ndarray
    classes: tuple[Any, ...] | None


def labelled_rows(table: pa.Table, task: Task, classes: Sequence[Any] | None) -> LabelledRows:
    """The arrays of ``table`` (without null labels or predictions) for ``task``.

    Raises:
        MonitorInputError: rows carry another number of probabilities than there are classes.
    """
    y, pred = _values(table.column("label")), _values(table.column("prediction"))
    if task == "regression":
        y, pred = y.astype(np.float64), pred.astype(np.float64)
        return LabelledRows(task, y, pred, np.empty((len(y), 0)), None)
    resolved = _resolve_classes(y, pred, classes)
    return LabelledRows(task, y, pred, _probabilities(table, resolved), resolved)
