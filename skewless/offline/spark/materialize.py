"""Materialization written by Spark's executors straight to the Redis online store.

With the Spark offline engine and the Redis online store, the winning row of each key never
travels through the driver: the engine's latest-per-key plan runs as one Spark job whose
tasks each open their own connection to Redis and write their partition in bounded batches
(:func:`write_from_executors`). Every row is encoded exactly as the driver path encodes it
(:class:`skewless.online.codec.ViewCodec` over Arrow batches of the same column layout) and
written by the same server-side script, so the monotonic write rule of docs/semantics.md holds:
reruns, retried tasks and overlapping ranges are harmless.

The watermark is the caller's business (:mod:`skewless.materialize` moves it only after this
function returned); a failed job raises :class:`~skewless.errors.MaterializationError`, and
rows a failed job already wrote are newer-or-equal rows that a rerun writes again anyway.

Window-aggregation views (``BatchFeatureView``) are not written here: their state is rebuilt
per key on the driver from the engine's window events.

Neither pyspark nor redis is imported until a Spark engine and a Redis store are in use, so
importing this module costs nothing on the embedded path.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import pyarrow as pa

from skewless._contracts import OfflineEngine, OnlineStore
from skewless.definitions import BatchFeatureView, FeatureView
from skewless.errors import MaterializationError, SkewlessError
from skewless.offline.checks import cast_batch
from skewless.offline.entity import UTC_MICROS

if TYPE_CHECKING:
    from skewless.online.redis.connection import RedisAddress

__all__ = ["PartitionWriter", "can_write_from_executors", "write_from_executors"]

_SPARK_ENGINE = "skewless.offline.spark.engine"
_REDIS_STORE = "skewless.online.redis.store"
_COUNT_SCHEMA = "rows long"


def can_write_from_executors(engine: OfflineEngine, online_store: OnlineStore) -> bool:
    """True when ``engine`` is a Spark engine and ``online_store`` the Redis store.

    Imports neither pyspark nor redis: an engine or store of those kinds means their modules
    are loaded already.
    """
    spark = sys.modules.get(_SPARK_ENGINE)
    redis_store = sys.modules.get(_REDIS_STORE)
    if spark is None or redis_store is None:
        return False
    return isinstance(engine, spark.SparkEngine) and isinstance(
        online_store, redis_store.RedisOnlineStore
    )


def write_from_executors(
    engine: OfflineEngine,
    online_store: OnlineStore,
    view: FeatureView,
    table: str,
    start: datetime | None,
    end: datetime,
    late_after: datetime | None = None,
    *,
    batch_rows: int = 100_000,
) -> int:
    """Write the winning row per key of ``view`` in ``[start, end]`` to Redis from the
    executors, one task per partition; returns the rows written (as the driver path counts
    them: rows offered to the store, null keys left out).

    Args:
        engine: a Spark engine (see :func:`can_write_from_executors`).
        online_store: the Redis online store; its connection string, key expiry margin and
            the TTL given to ``table`` with ``set_table_ttl`` travel to the executors.
        view: a plain feature view (window-aggregation views go through the driver).
        table: the view's online table.
        start: the range's first instant (None: all history).
        end: the range's last instant.
        late_after: also take rows before ``start`` created after this (late arrivals).
        batch_rows: the most rows a task encodes and writes at once.

    Raises:
        MaterializationError: the Spark job failed (an unreadable source, Redis unreachable
            from an executor, ...); what the message names is what to fix.
    """
    if isinstance(view, BatchFeatureView):
        raise MaterializationError(
            f"feature view {view.name!r} aggregates windows: its state is rebuilt on the "
            "driver from the engine's window events, not written from the executors"
        )
    if not can_write_from_executors(engine, online_store):
        raise MaterializationError(
            f"writing feature view {view.name!r} from the executors needs the Spark offline "
            f"engine and the Redis online store, got {type(engine).__name__} and "
            f"{type(online_store).__name__}: materialize through the driver instead"
        )
    store: Any = online_store
    writer = PartitionWriter(
        connection_string=connection_url(store.address),
        key_ttl_seconds=store.key_ttl_seconds,
        table=table,
        table_ttl_seconds=store.table_ttls.get(table),
        view_spec=view.to_spec(),
        batch_rows=max(1, batch_rows),
    )
    frame = engine.latest_per_key_frame(  # type: ignore[attr-defined]
        view, start, end, late_created_after=late_after
    )
    try:
        counts = frame.mapInArrow(writer, _COUNT_SCHEMA).collect()
    except SkewlessError:
        raise
    except Exception as exc:
        raise MaterializationError(
            f"the Spark job writing feature view {view.name!r} to the Redis online store at "
            f"{store.address.where} failed: {job_failure(exc)}. Its watermark did not move; "
            "fix the cause and rerun the same command (rows already written are kept, and "
            "writing them again changes nothing)"
        ) from exc
    return sum(int(row[0]) for row in counts)


@dataclass(frozen=True)
class PartitionWriter:
    """What each Spark task runs: writes its partition's rows to Redis, yields their count.

    Holds only plain, picklable configuration; the store and the codec are built inside the
    task. Given to ``DataFrame.mapInArrow``: it receives the partition as Arrow record batches
    (join keys, ``__event_ts``, ``__created_ts``, then the view's features in schema order)
    and yields one batch with one ``rows`` value.

    Attributes:
        connection_string: the Redis server, as ``online_store.connection_string`` takes it.
        key_ttl_seconds: the store's key expiry margin (None: keys never expire).
        table: the online table to write.
        table_ttl_seconds: the view's TTL used for key expiry (None: none).
        view_spec: the view's :meth:`~skewless.FeatureView.to_spec`.
        batch_rows: the most rows encoded and written at once.
    """

    connection_string: str
    key_ttl_seconds: float | None
    table: str
    table_ttl_seconds: float | None
    view_spec: Mapping[str, Any]
    batch_rows: int = 100_000

    def __call__(self, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        from skewless.config import RedisOnlineConfig
        from skewless.online.codec import ViewCodec
        from skewless.online.redis.store import RedisOnlineStore

        view = FeatureView.from_spec(self.view_spec)
        codec = ViewCodec(view)
        block = RedisOnlineConfig(
            connection_string=self.connection_string, key_ttl_seconds=self.key_ttl_seconds
        )
        store = RedisOnlineStore(block, Path("."))
        store.set_table_ttl(self.table, self.table_ttl_seconds)
        target = [None] * len(view.join_keys) + [UTC_MICROS, UTC_MICROS]
        target += [f.dtype.to_arrow() for f in view.features]
        written = 0
        try:
            for batch in batches:
                for offset in range(0, batch.num_rows, self.batch_rows):
                    part = cast_batch(batch.slice(offset, self.batch_rows), target)
                    written += store.write(self.table, codec.encode_rows(part))
        finally:
            store.close()
        yield pa.record_batch([pa.array([written], pa.int64())], names=["rows"])


def connection_url(address: RedisAddress) -> str:
    """A ``redis://`` (or ``rediss://``) URL naming the same server, database and credentials.

    >>> from skewless.online.redis.connection import parse_connection_string
    >>> connection_url(parse_connection_string("10.0.0.5:6380,db=2,password=p@ss"))
    'redis://:p%40ss@10.0.0.5:6380/2'
    """
    scheme = "rediss" if address.ssl else "redis"
    credentials = ""
    if address.username is not None or address.password is not None:
        user = quote(address.username or "", safe="")
        password = f":{quote(address.password, safe='')}" if address.password is not None else ""
        credentials = f"{user}{password}@"
    host = f"[{address.host}]" if ":" in address.host else address.host
    return f"{scheme}://{credentials}{host}:{address.port}/{address.db}"


_ERROR_LINE = re.compile(r"^\s*(?:[\w.]+\.)?(\w*(?:Error|Exception)): (.+)$", re.M)


def job_failure(exc: BaseException) -> str:
    """The most telling line of a failed Spark job's error (a skewless error raised in a task
    when there is one, else the first exception line), for a one-line message."""
    text = str(exc)
    lines = _ERROR_LINE.findall(text)
    ours = [(kind, msg) for kind, msg in lines if kind in _SKEWLESS_ERRORS]
    first = text.strip().splitlines()[0] if text.strip() else "no message"
    kind, message = (ours or lines or [(type(exc).__name__, first)])[0]
    message = message.strip()
    if len(message) > 600:
        message = message[:600] + " ..."
    return f"{kind}: {message}"


def _error_names(cls: type[BaseException]) -> set[str]:
    names = {cls.__name__}
    for sub in cls.__subclasses__():
        names |= _error_names(sub)
    return names


_SKEWLESS_ERRORS = _error_names(SkewlessError)
