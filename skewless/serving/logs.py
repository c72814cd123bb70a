"""The prediction log: every answered prediction, one Parquet row per entity.

:class:`PredictionLogWriter` is the prediction service's sink. ``submit`` only queues (it never
blocks on disk); a background thread writes what is queued every ``flush_ms`` (sooner when
``max_rows`` rows wait) as new files under ``data/prediction_logs/NAME/date=YYYY-MM-DD/`` (see
:mod:`skewless.serving.log_files` for the layout and why a file appears whole or not at all).
A process killed at any moment loses at most what was queued since the last flush.

Reading, summaries and compaction are in :mod:`skewless.serving.logs_read` and
:mod:`skewless.serving.logs_compact`; docs/prediction-logs.md describes the whole.
"""

from __future__ import annotations

import json
import logging
import threading
from collections import deque
from collections.abc import Iterable, Sequence
from datetime import date
from pathlib import Path
from typing import Any

import pyarrow as pa

from skewless._time import to_utc
from skewless.errors import ConfigError
from skewless.serving.log_files import log_dir, partition_name, publish_parquet
from skewless.serving.records import Prediction, utc_now

__all__ = ["BASE_COLUMNS", "MAX_QUEUED_ROWS", "PredictionLogWriter", "prediction_table"]

logger = logging.getLogger("skewless.serving.logs")

MAX_QUEUED_ROWS = 1_000_000

# The columns every log file has; key and feature columns sit between model_version and
# prediction. A key or feature named like one of these (or ``date``, the partition column)
# is stored as ``key_<name>`` / ``feature_<name>``.
BASE_COLUMNS: dict[str, pa.DataType] = {
    "request_id": pa.string(),
    "row": pa.int32(),
    "timestamp": pa.timestamp("us", tz="UTC"),
    "model_name": pa.string(),
    "model_version": pa.int64(),
    "prediction": pa.null(),
    "probabilities": pa.list_(pa.float64()),
    "missing": pa.bool_(),
    "latency_ms": pa.float64(),
    "cached": pa.bool_(),
    "arm": pa.string(),
    "experiment": pa.string(),
    "assignment": pa.string(),
}
_RESERVED = frozenset(BASE_COLUMNS) | {"date"}
_HEAD = ("request_id", "row", "timestamp", "model_name", "model_version")
_TAIL = (
    "prediction",
    "probabilities",
    "missing",
    "latency_ms",
    "cached",
    "arm",
    "experiment",
    "assignment",
)


def _stored_names(prediction: Prediction) -> tuple[tuple[str, ...], tuple[str, ...]]:
    keys = tuple(f"key_{k}" if k in _RESERVED else k for k in prediction.entities)
    taken = _RESERVED | set(keys)
    features = tuple(f"feature_{c}" if c in taken else c for c in prediction.features)
    return keys, features


def _column(name: str, values: list[Any], dtype: pa.DataType | None = None) -> pa.Array:
    """The values as Arrow, their own type inferred; values Arrow cannot hold in one type
    (an int beside a string) are stored as JSON text rather than lost."""
    try:
        return pa.array(values, type=dtype)
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError, OverflowError):
        _warn_once(
            f"type:{name}",
            "prediction log column %r holds values of several types; it is stored as JSON text",
            name,
        )
        return pa.array(
            [None if v is None else json.dumps(v, default=str) for v in values], pa.string()
        )


def _cached(prediction: Prediction, rows: int) -> list[bool | None]:
    """Per entity, whether its answer came from the cache (``cached_rows``); a record that
    only counts its cached entities says which when all or none were, else null."""
    if prediction.cached_rows or prediction.cached <= 0:
        hits = set(prediction.cached_rows)
        return [r in hits for r in range(rows)]
    return [True if prediction.cached >= rows else None] * rows


def prediction_table(predictions: Sequence[Prediction]) -> pa.Table:
    """The log rows of predictions that share their key and feature columns, one per entity.

    Example:
        >>> from datetime import UTC, datetime
        >>> p = Prediction("r1", datetime(2024, 1, 2, tzinfo=UTC), "churn", 3, {"user_id": [7]},
        ...                {"age": [31]}, [1], [[0.2, 0.8]], [], 4.5)
        >>> prediction_table([p]).column_names[:7]
        ['request_id', 'row', 'timestamp', 'model_name', 'model_version', 'user_id', 'age']
        >>> prediction_table([p]).column("prediction").to_pylist()
        [1]
    """
    keys, features = _stored_names(predictions[0])
    data: dict[str, list[Any]] = {n: [] for n in (*_HEAD, *keys, *features, *_TAIL)}
    for p in predictions:
        rows = len(p.predictions)
        missing = set(p.missing)
        cached = _cached(p, rows)
        data["request_id"] += [p.request_id] * rows
        data["row"] += p.rows if p.rows is not None else range(rows)
        data["timestamp"] += [to_utc(p.time)] * rows
        data["model_name"] += [p.model_name] * rows
        data["model_version"] += [int(p.model_version)] * rows
        for stored, values in zip(keys, p.entities.values(), strict=True):
            data[stored] += _fit(values, rows)
        for stored, values in zip(features, p.features.values(), strict=True):
            data[stored] += _fit(values, rows)
        data["prediction"] += p.predictions
        probabilities = p.probabilities or [None] * rows
        data["probabilities"] += _fit(probabilities, rows)
        data["missing"] += [r in missing for r in range(rows)]
        data["latency_ms"] += [float(p.latency_ms)] * rows
        data["cached"] += cached
        data["arm"] += [p.arm] * rows
        data["experiment"] += [p.experiment] * rows
        data["assignment"] += [p.assignment] * rows
    arrays = [
        _column(name, values, None if name in keys or name in features else _fixed(name))
        for name, values in data.items()
    ]
    return pa.Table.from_arrays(arrays, names=list(data))


def _fixed(name: str) -> pa.DataType | None:
    dtype = BASE_COLUMNS.get(name)
    return None if dtype is None or pa.types.is_null(dtype) else dtype


def _fit(values: list[Any] | None, rows: int) -> list[Any]:
    values = list(values) if values is not None else []
    if len(values) == rows:
        return values
    return (values + [None] * rows)[:rows]


_WARNED: set[str] = set()
_WARNED_LOCK = threading.Lock()


def _warn_once(kind: str, message: str, *args: object) -> None:
    with _WARNED_LOCK:
        first = kind not in _WARNED
        _WARNED.add(kind)
    logger.log(logging.WARNING if first else logging.DEBUG, message, *args)


class PredictionLogWriter:
    """Writes answered predictions to the log ``model_name`` of the repository ``root``.

    Args:
        root: the repository directory (the log goes under ``data/prediction_logs``).
        model_name: the log's name, usually the served model's.
        flush_ms: how often the queue is written; a killed process loses at most this much.
        max_rows: queued rows that trigger a write before ``flush_ms`` is up.
        max_queued_rows: the bound of the queue while writes fail; the oldest predictions are
            dropped past it (counted in :attr:`dropped`, logged).

    Attributes:
        written_rows: rows written so far.
        dropped: rows dropped (queue over its bound, or submitted after :meth:`close`).
        files: files written so far.

    A write that fails is logged (once per kind of failure) and retried at the next flush;
    ``submit`` never raises for it.

    Example:
        >>> import tempfile
        >>> from datetime import UTC, datetime
        >>> root = Path(tempfile.mkdtemp())
        >>> writer = PredictionLogWriter(root, "churn", flush_ms=50)
        >>> writer.submit([Prediction("r1", datetime.now(UTC), "churn", 1, {"user_id": [7]},
        ...                           {"age": [31]}, [0], None, [], 2.0)])
        >>> writer.close()
        >>> writer.written_rows, writer.files
        (1, 1)
    """

    def __init__(
        self,
        root: Path,
        model_name: str,
        flush_ms: int = 1000,
        max_rows: int = 50_000,
        max_queued_rows: int = MAX_QUEUED_ROWS,
    ) -> None:
        if flush_ms <= 0 or max_rows <= 0 or max_queued_rows <= 0:
            raise ConfigError(
                f"prediction log {model_name}: flush_ms ({flush_ms}), max_rows ({max_rows}) and "
                f"max_queued_rows ({max_queued_rows}) must be positive, e.g. flush_ms=1000"
            )
        self.directory = log_dir(Path(root), model_name)
        self.name = model_name
        self.flush_ms = flush_ms
        self.max_rows = max_rows
        self.max_queued_rows = max_queued_rows
        self.written_rows = 0
        self.dropped = 0
        self.files = 0
        self._queue: deque[Prediction] = deque()
        self._queued_rows = 0
        self._in_flight = 0
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._closed = False
        self._failing: str | None = None
        self._failures_seen: set[str] = set()
        self._write_lock = threading.Lock()
        self._thread = threading.Thread(
            target=self._run, name=f"prediction-log-{model_name}", daemon=True
        )
        self._thread.start()

    # -- the service's side ----------------------------------------------------------------
    def submit(self, predictions: Sequence[Prediction]) -> None:
        """Queue predictions for the next write (never blocks on disk, never raises for it)."""
        rows = sum(len(p.predictions) for p in predictions)
        with self._lock:
            if self._closed:
                self.dropped += rows
                late = True
            else:
                late = False
                self._queue.extend(predictions)
                self._queued_rows += rows
                self._bound()
                full = self._queued_rows >= self.max_rows
        if late:
            _warn_once(
                f"closed:{id(self)}",
                "prediction log %s is closed: %d rows dropped",
                self.name,
                rows,
            )
        elif full:
            self._wake.set()

    @property
    def queued_rows(self) -> int:
        """Rows not written yet (queued, or being written)."""
        with self._lock:
            return self._queued_rows + self._in_flight

    def flush(self) -> bool:
        """Write what is queued now, in the calling thread; whether it all was written."""
        return self._write_queued()

    def close(self) -> None:
        """Write what is queued and stop the thread (idempotent)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._wake.set()
        self._thread.join()
        if not self._write_queued() and self._queued_rows:
            logger.error(
                "prediction log %s: %d rows could not be written before closing (%s)",
                self.name,
                self._queued_rows,
                self._failing,
            )

    def __enter__(self) -> PredictionLogWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the writing thread ----------------------------------------------------------------
    def _bound(self) -> None:
        """Drop the oldest predictions while the queue is over its bound (lock held)."""
        lost = 0
        while self._queued_rows + self._in_flight > self.max_queued_rows and len(self._queue) > 1:
            rows = len(self._queue.popleft().predictions)
            self._queued_rows -= rows
            lost += rows
        if lost:
            self.dropped += lost
            logger.warning(
                "prediction log %s: queue over %d rows, dropped the oldest %d (%d in all)",
                self.name,
                self.max_queued_rows,
                lost,
                self.dropped,
            )

    def _run(self) -> None:
        while not self._closed:
            self._wake.wait(self.flush_ms / 1000.0)
            self._wake.clear()
            if self._closed:
                return
            self._write_queued()

    def _take(self) -> list[Prediction]:
        with self._lock:
            taken = list(self._queue)
            self._queue.clear()
            self._in_flight, self._queued_rows = self._queued_rows, 0
        return taken

    def _give_back(self, predictions: list[Prediction]) -> None:
        with self._lock:
            self._queue.extendleft(reversed(predictions))
            self._queued_rows += sum(len(p.predictions) for p in predictions)
            self._in_flight = 0
            self._bound()

    def _write_queued(self) -> bool:
        with self._write_lock:
            taken = self._take()
            if not taken:
                return True
            unwritten: list[Prediction] = []
            for group in _groups(taken):
                if unwritten:  # an earlier group failed: keep the order, retry them all
                    unwritten += group
                    continue
                try:
                    self._write_group(group)
                except Exception as exc:
                    self._failed(exc)
                    unwritten += group
            if unwritten:
                self._give_back(unwritten)
                return False
            with self._lock:
                self._in_flight = 0
            if self._failing is not None:
                logger.warning("prediction log %s: writing again", self.name)
                self._failing = None
            return True

    def _write_group(self, group: list[Prediction]) -> None:
        table = prediction_table(group)
        day = to_utc(group[0].time).date()
        publish_parquet(table, self.directory / partition_name(day), "part", utc_now())
        self.files += 1
        self.written_rows += table.num_rows

    def _failed(self, exc: Exception) -> None:
        kind = f"{type(exc).__name__}: {exc}"
        if kind not in self._failures_seen:
            self._failures_seen.add(kind)
            logger.warning(
                "prediction log %s: cannot write to %s (%s); retrying at the next flush",
                self.name,
                self.directory,
                kind,
            )
        self._failing = kind


def _groups(predictions: Iterable[Prediction]) -> list[list[Prediction]]:
    """Predictions grouped by (day, key columns, feature columns), in first-seen order."""
    groups: dict[tuple[date, tuple[str, ...], tuple[str, ...]], list[Prediction]] = {}
    for p in predictions:
        day = to_utc(p.time).date()
        groups.setdefault((day, tuple(p.entities), tuple(p.features)), []).append(p)
    return list(groups.values())
