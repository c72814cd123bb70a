"""Stream ingestion: a Redis Stream consumed by a consumer group, written through ``push``.

Each entry is one row: either a field ``row`` holding a JSON object, or flat fields (one per
column, values as text, converted to the declared types). A batch of entries is pushed in one
call and acknowledged (``XACK``) only after the push returned, so a crash re-delivers instead
of losing. On start, the consumer first takes its own pending entries, then entries other
consumers left pending for longer than ``claim_idle`` (``XAUTOCLAIM``), then new ones.

Re-delivered entries are harmless online (the monotonic write rule). Offline, every pushed file
records the stream entry ids it holds in its Parquet metadata; a re-delivered entry that a file
already holds is written online only, so a crash between a push and its ``XACK`` adds no row
twice.

An entry that cannot become a valid row (bad JSON, a missing column, a value of the wrong
type) goes to the dead-letter stream ``STREAM:dead`` with the error, and is acknowledged in the
same transaction: one bad entry never blocks the stream.
"""

from __future__ import annotations

import logging
import re
import socket
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import unquote, urlsplit

import orjson
import pyarrow.parquet as pq

from skewless._types import Array, Bool, Bytes, DType, Float32, Float64, Int32, Int64
from skewless.definitions import BatchFeatureView
from skewless.errors import ConfigError, SkewlessError
from skewless.push import (
    PushContext,
    PushValidationError,
    prepare_push,
    push,
    push_views,
    pushed_columns,
)

if TYPE_CHECKING:
    import redis

    from skewless.store import FeatureStore

__all__ = [
    "EntryDecoder",
    "IngestStats",
    "PushSink",
    "StorePushSink",
    "StreamAddress",
    "StreamIngestor",
    "parse_stream_url",
]

logger = logging.getLogger("skewless")

ROW_FIELD = "row"
ERROR_FIELD = "skewless_error"
SOURCE_ID_FIELD = "skewless_source_id"
META_STREAM = "skewless.stream"
META_IDS = "skewless.stream_ids"
_INTEGER = re.compile(r"^-?\d+$")


# -- addresses -------------------------------------------------------------------------------
@dataclass(frozen=True)
class StreamAddress:
    """A stream on a Redis server, from ``redis://[user:password@]host:port/[DB/]STREAM``."""

    host: str
    port: int
    stream: str
    db: int = 0
    username: str | None = None
    password: str | None = None
    ssl: bool = False

    @property
    def dead_letter(self) -> str:
        """The stream invalid entries go to."""
        return f"{self.stream}:dead"

    def connect(self) -> redis.Redis:
        import redis

        return redis.Redis(
            host=self.host,
            port=self.port,
            db=self.db,
            username=self.username,
            password=self.password,
            ssl=self.ssl,
            socket_timeout=30,
        )


def parse_stream_url(url: str) -> StreamAddress:
    """Parse ``redis://host:port/STREAM`` (``rediss://`` for TLS, ``/DB/STREAM`` for a db).

    >>> parse_stream_url("redis://127.0.0.1:6380/events").stream
    'events'
    >>> parse_stream_url("redis://localhost/2/events").db
    2
    """
    parts = urlsplit(url)
    path = unquote(parts.path).strip("/")
    if parts.scheme not in ("redis", "rediss") or not parts.hostname or not path:
        raise ConfigError(
            f"stream {url!r} is not a Redis stream URL: write redis://host:port/STREAM"
        )
    db = 0
    head, _, rest = path.partition("/")
    if rest and head.isdigit():
        db, path = int(head), rest
    try:
        port = parts.port or 6379
    except ValueError:
        raise ConfigError(
            f"stream {url!r} has a bad port: write redis://host:port/STREAM"
        ) from None
    return StreamAddress(
        host=parts.hostname,
        port=port,
        stream=path,
        db=db,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
        ssl=parts.scheme == "rediss",
    )


# -- decoding --------------------------------------------------------------------------------
def _text_converter(dtype: DType | None) -> Callable[[bytes], Any]:
    if dtype in (Int32, Int64):
        return lambda raw: int(raw)
    if dtype in (Float32, Float64):
        return lambda raw: float(raw)
    if dtype == Bool:
        return _boolean
    if dtype == Bytes:
        return lambda raw: raw
    if isinstance(dtype, Array):
        return orjson.loads
    if dtype is None:
        return lambda raw: int(raw) if _INTEGER.match(raw.decode()) else raw.decode()
    return _decoded


def _decoded(raw: bytes) -> str:
    return raw.decode()


def _boolean(raw: bytes) -> bool:
    text = raw.decode().strip().lower()
    if text in ("true", "1"):
        return True
    if text in ("false", "0"):
        return False
    raise ValueError(f"{text!r} is not a boolean (true/false)")


class EntryDecoder:
    """Turns stream entries into rows for the views a push source feeds.

    A ``row`` field holds the whole row as a JSON object. Otherwise every field is a column;
    its text is converted to the declared type (integers, floats, ``true``/``false``, JSON for
    arrays, raw bytes for Bytes, ISO-8601 text for times). A column that is absent is null.
    """

    def __init__(self, dtypes: Mapping[str, DType | None], times: Iterable[str] = ()) -> None:
        self._convert = {name: _text_converter(dtype) for name, dtype in dtypes.items()}
        for name in times:
            self._convert[name] = _decoded

    def decode(self, fields: Mapping[bytes, bytes]) -> dict[str, Any]:
        """One entry's row; raises ``ValueError`` when it cannot be read."""
        if ROW_FIELD.encode() in fields:
            if len(fields) != 1:
                raise ValueError(f"an entry with a {ROW_FIELD!r} field must have no other field")
            row = orjson.loads(fields[ROW_FIELD.encode()])
            if not isinstance(row, dict):
                raise ValueError(f"field {ROW_FIELD!r} must hold a JSON object, got {row!r}")
            return row
        row = {}
        for raw_name, raw in fields.items():
            name = raw_name.decode()
            convert = self._convert.get(name)
            try:
                row[name] = convert(raw) if convert is not None else raw.decode()
            except (ValueError, orjson.JSONDecodeError) as exc:
                raise ValueError(f"field {name!r}: cannot read {raw[:40]!r} ({exc})") from None
        return row


# -- where rows go ---------------------------------------------------------------------------
class PushSink(Protocol):
    """Where ingested rows are written (the push path), as the ingestor sees it."""

    def decoder(self) -> EntryDecoder: ...

    def push(
        self, rows: list[dict[str, Any]], entry_ids: Sequence[str], *, online_only: bool
    ) -> None:
        """Write rows durably; raises ``PushValidationError`` when one is invalid."""
        ...

    def check(self, row: dict[str, Any]) -> None:
        """Raise ``PushValidationError`` if ``row`` alone would be rejected."""
        ...

    def already_written(self, entry_ids: Iterable[str]) -> set[str]:
        """The entry ids an offline file of this stream already holds."""
        ...


class StorePushSink:
    """Writes rows with :func:`skewless.push.push` through a :class:`FeatureStore`.

    Args:
        store: the repository's store.
        push_source: the push source's name.
        to: ``online``, ``offline`` or ``online_and_offline``.
        stream: recorded in pushed files, with the entry ids they hold.
    """

    def __init__(self, store: FeatureStore, push_source: str, to: str, stream: str) -> None:
        self.store = store
        self.push_source = push_source
        self.to = to
        self.stream = stream
        self.views = push_views(store.snapshot(), push_source)
        if to != "offline":
            for view in self.views:
                if isinstance(view, BatchFeatureView) and view.online and not view.event_id:
                    logger.warning(
                        "feature view %s aggregates the events of %s without an event_id: a "
                        "re-delivered stream entry counts twice in its online windows; name "
                        "the column identifying each event with BatchFeatureView(event_id=...)",
                        view.name,
                        push_source,
                    )

    def _context(self) -> PushContext:
        store = self.store
        return PushContext(
            engine=store.offline_engine if self.to != "online" else None,
            online=store.online_store if self.to != "offline" else None,
            snapshot=store.snapshot(),
            repo_path=store.repo_path,
            now=store.now(),
            max_clock_skew=store.config.push.max_clock_skew,
        )

    def decoder(self) -> EntryDecoder:
        source = self.views[0].batch_source
        dtypes = pushed_columns(self.views)
        mapping = source.field_mapping
        inverse = {dst: src for src, dst in mapping.items()}
        for name, dtype in list(dtypes.items()):
            if name in inverse:
                dtypes.setdefault(inverse[name], dtype)
        times = {source.timestamp_field, source.created_timestamp_column} - {""}
        times |= {mapping.get(t, t) for t in times}
        return EntryDecoder(dtypes, times)

    def push(
        self, rows: list[dict[str, Any]], entry_ids: Sequence[str], *, online_only: bool
    ) -> None:
        if online_only and self.to == "offline":
            return
        to = "online" if online_only else self.to
        metadata = {META_STREAM: self.stream, META_IDS: ",".join(entry_ids)}
        push(self._context(), self.push_source, rows, to, file_metadata=metadata)

    def check(self, row: dict[str, Any]) -> None:
        prepare_push(self._context(), self.push_source, [row], self.to)

    def already_written(self, entry_ids: Iterable[str]) -> set[str]:
        wanted = set(entry_ids)
        if self.to == "online" or not wanted:
            return set()
        from skewless.compact import is_pushed_file
        from skewless.offline.sources import resolve_files

        found: set[str] = set()
        try:
            files = resolve_files(self.views[0].source, self.store.repo_path)
        except SkewlessError:
            return found
        for path in reversed(files):
            if not is_pushed_file(path):
                continue
            metadata = pq.read_schema(path).metadata or {}
            if metadata.get(META_STREAM.encode()) != self.stream.encode():
                continue
            ids = metadata.get(META_IDS.encode(), b"").decode().split(",")
            found |= wanted & set(ids)
        return found


# -- the consumer ----------------------------------------------------------------------------
@dataclass
class IngestStats:
    """Counters of a running ingestion (read by the progress display).

    Attributes:
        entries: entries taken off the stream and acknowledged.
        rows: rows pushed.
        dead: entries sent to the dead-letter stream.
        batches: pushes made.
        redelivered: re-delivered entries already held offline (written online only).
        lag: entries of the stream the group has not read yet (``XINFO GROUPS``).
        pending: entries read but not acknowledged, over all consumers of the group.
        started: ``time.monotonic()`` at start.
    """

    entries: int = 0
    rows: int = 0
    dead: int = 0
    batches: int = 0
    redelivered: int = 0
    lag: int | None = None
    pending: int | None = None
    started: float = field(default_factory=time.monotonic)

    @property
    def per_second(self) -> float:
        """Entries per second since the start."""
        elapsed = time.monotonic() - self.started
        return self.entries / elapsed if elapsed > 0 else 0.0

    def render(self) -> str:
        lag = "?" if self.lag is None else f"{self.lag:,}"
        pending = "?" if self.pending is None else f"{self.pending:,}"
        return (
            f"{self.entries:,} entries ({self.per_second:,.0f}/s), {self.rows:,} rows, "
            f"{self.dead:,} dead, lag {lag}, pending {pending}"
        )


Entry = tuple[str, dict[bytes, bytes]]


class StreamIngestor:
    """Consumes a Redis Stream with a consumer group and writes each batch through a sink.

    Args:
        client: a redis-py client (bytes responses).
        address: the stream (and its dead-letter stream).
        sink: where rows go (the push path).
        group: the consumer group, created at the stream's start (with MKSTREAM) if missing.
        consumer: this consumer's name; keep it stable across restarts so that its pending
            entries are found again.
        batch: the most entries read and pushed at once.
        block_ms: how long one read waits for new entries.
        claim_idle_ms: entries pending at another consumer for this long are taken over (on
            start, then every ``claim_idle_ms``).
    """

    def __init__(
        self,
        client: redis.Redis,
        address: StreamAddress,
        sink: PushSink,
        *,
        group: str,
        consumer: str | None = None,
        batch: int = 500,
        block_ms: int = 1000,
        claim_idle_ms: int = 60_000,
    ) -> None:
        if batch < 1:
            raise ConfigError(f"--batch {batch} must be at least 1")
        self.client = client
        self.address = address
        self.sink = sink
        self.group = group
        self.consumer = consumer or socket.gethostname()
        self.batch = batch
        self.block_ms = block_ms
        self.claim_idle_ms = claim_idle_ms
        self.stats = IngestStats()
        self._decoder = sink.decoder()
        self._recovering = True
        self._claim_from = "0-0"
        self._last_claim = time.monotonic()

    def ensure_group(self) -> None:
        """Create the consumer group (reading from the stream's start) if it is missing."""
        import redis

        try:
            self.client.xgroup_create(self.address.stream, self.group, id="0", mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    def run(
        self,
        *,
        max_entries: int | None = None,
        idle_exit: float | None = None,
        on_progress: Callable[[IngestStats], None] | None = None,
        progress_every: float = 1.0,
        should_stop: Callable[[], bool] = lambda: False,
    ) -> IngestStats:
        """Consume until ``max_entries`` were handled, the stream was idle for ``idle_exit``
        seconds, or ``should_stop()`` is true; returns the counters."""
        self.ensure_group()
        last_entry = last_report = time.monotonic()
        while not should_stop():
            if max_entries is not None and self.stats.entries >= max_entries:
                break
            limit = self.batch
            if max_entries is not None:
                limit = min(limit, max_entries - self.stats.entries)
            handled = self.step(limit)
            now = time.monotonic()
            if handled:
                last_entry = now
            elif idle_exit is not None and now - last_entry >= idle_exit:
                break
            if on_progress is not None and now - last_report >= progress_every:
                self.refresh_lag()
                on_progress(self.stats)
                last_report = now
        self.refresh_lag()
        if on_progress is not None:
            on_progress(self.stats)
        return self.stats

    def step(self, limit: int | None = None) -> int:
        """Read one batch (pending first, then claimed, then new entries), push it, ack it.

        Returns the number of entries handled (0 when none arrived within ``block_ms``).
        """
        count = limit or self.batch
        entries: list[Entry] = []
        recovered = False
        now = time.monotonic()
        if now - self._last_claim >= self.claim_idle_ms / 1000:
            # Entries of a consumer that died meanwhile are taken over while running, too.
            self._recovering, self._claim_from, self._last_claim = True, "0-0", now
        if self._recovering:
            entries = self._read("0", count, block=False)
            if not entries:
                entries = self._claim(count)
            recovered = bool(entries)
            self._recovering = recovered
        if not entries:
            entries = self._read(">", count, block=True)
        if entries:
            self._handle(entries, recovered)
        return len(entries)

    def _read(self, start: str, count: int, *, block: bool) -> list[Entry]:
        reply: Any = self.client.xreadgroup(
            self.group,
            self.consumer,
            {self.address.stream: start},
            count=count,
            block=self.block_ms if block else None,
        )
        entries: list[Entry] = []
        for _stream, items in reply or []:
            for entry_id, fields in items:
                if fields is None:  # deleted from the stream while pending: nothing to write
                    self.client.xack(self.address.stream, self.group, entry_id)
                    continue
                entries.append((_id(entry_id), fields))
        return entries

    def _claim(self, count: int) -> list[Entry]:
        reply: Any = self.client.xautoclaim(
            self.address.stream,
            self.group,
            self.consumer,
            self.claim_idle_ms,
            start_id=self._claim_from,
            count=count,
        )
        self._claim_from = _id(reply[0])
        entries = [(_id(i), f) for i, f in reply[1] if f is not None]
        if not entries and self._claim_from != "0-0":
            return self._claim(count)
        return entries

    def _handle(self, entries: list[Entry], recovered: bool) -> None:
        good: list[tuple[str, dict[str, Any]]] = []
        dead: list[tuple[str, dict[bytes, bytes], str]] = []
        for entry_id, fields in entries:
            try:
                good.append((entry_id, self._decoder.decode(fields)))
            except (ValueError, orjson.JSONDecodeError) as exc:
                dead.append((entry_id, fields, f"cannot decode the entry: {exc}"))
        written = self.sink.already_written(i for i, _ in good) if recovered else set()
        fresh = [(i, r) for i, r in good if i not in written]
        again = [(i, r) for i, r in good if i in written]
        try:
            self._push(fresh, online_only=False)
        except PushValidationError:
            fresh, rejected = self._split(fresh, dict(entries))
            dead += rejected
            try:
                self._push(fresh, online_only=False)
            except PushValidationError:  # rows valid alone but not together (mixed types)
                for one in fresh:
                    self._push([one], online_only=False)
        self._push(again, online_only=True)
        self.stats.redelivered += len(again)
        self._acknowledge([i for i, _ in fresh + again], dead)

    def _push(self, rows: list[tuple[str, dict[str, Any]]], *, online_only: bool) -> None:
        if not rows:
            return
        self.sink.push([r for _, r in rows], [i for i, _ in rows], online_only=online_only)
        self.stats.rows += len(rows)
        self.stats.batches += 1

    def _split(
        self, rows: list[tuple[str, dict[str, Any]]], raw: Mapping[str, dict[bytes, bytes]]
    ) -> tuple[list[tuple[str, dict[str, Any]]], list[tuple[str, dict[bytes, bytes], str]]]:
        """Separate the rows the push path rejects on their own from the valid ones."""
        valid, rejected = [], []
        for entry_id, row in rows:
            try:
                self.sink.check(row)
            except PushValidationError as exc:
                rejected.append((entry_id, raw[entry_id], str(exc)))
            else:
                valid.append((entry_id, row))
        return valid, rejected

    def _acknowledge(self, ids: list[str], dead: list[tuple[str, dict[bytes, bytes], str]]) -> None:
        stream = self.address.stream
        pipe = self.client.pipeline(transaction=True)
        for entry_id, fields, error in dead:
            record: dict[Any, Any] = dict(fields)
            record[ERROR_FIELD] = error
            record[SOURCE_ID_FIELD] = entry_id
            pipe.xadd(self.address.dead_letter, record)
            logger.warning(
                "entry %s of %s is invalid, sent to %s: %s",
                entry_id,
                stream,
                self.address.dead_letter,
                error,
            )
        every = ids + [d[0] for d in dead]
        if every:
            pipe.xack(stream, self.group, *every)
        pipe.execute()
        self.stats.entries += len(every)
        self.stats.dead += len(dead)

    def refresh_lag(self) -> None:
        """Update ``stats.lag`` and ``stats.pending`` from ``XINFO GROUPS``."""
        try:
            groups = self.client.xinfo_groups(self.address.stream)
        except Exception:  # progress is best effort
            return
        for info in groups:
            name = info.get("name")
            if (name.decode() if isinstance(name, bytes) else name) == self.group:
                self.stats.lag = info.get("lag")
                self.stats.pending = info.get("pending")


def _id(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
