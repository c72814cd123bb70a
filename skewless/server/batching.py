"""Coalescing concurrent online reads into one store call.

Requests that arrive together (in one turn of the event loop, or while the previous store
call is in flight) and ask for the same features
with the same entity columns are answered by one ``get_online_features`` call over all their
entities; the answer is then cut back into one response per request. With a networked online
store (Redis) that turns N round trips into one pipelined round trip; with SQLite it saves
the per-call overhead. A request waits at most one extra turn of the event loop (plus the
store call in flight when it arrived).
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import orjson

from skewless.definitions import FeatureService

if TYPE_CHECKING:
    from skewless.feature_refs import FeatureRequest
    from skewless.store import FeatureStore

__all__ = ["EPOCH", "ReadBatcher", "encode_columns"]

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
DUMPS_OPTIONS = orjson.OPT_UTC_Z | orjson.OPT_NAIVE_UTC | orjson.OPT_SERIALIZE_NUMPY


def json_default(value: Any) -> Any:
    """orjson's fallback: bytes as base64 (as Feast's JSON), anything else as a string."""
    import base64
    from decimal import Decimal

    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, datetime):  # subclasses such as pandas.Timestamp
        return value.isoformat()
    if hasattr(value, "tolist"):
        return value.tolist()
    return str(value)


def encode_columns(
    columns: dict[str, list[Any]],
    statuses: dict[str, list[str]],
    times: dict[str, list[datetime | None]],
    start: int = 0,
    stop: int | None = None,
) -> bytes:
    """Feast's JSON shape for entity rows ``start:stop`` of an online read.

    Event timestamps are ISO-8601 UTC with ``Z``; ``1970-01-01T00:00:00Z`` where there is
    no stored row (and for join keys).

    >>> encode_columns({"id": [1]}, {"id": ["PRESENT"]}, {"id": [None]})
    b'{"metadata":{"feature_names":["id"]},"results":[{"values":[1],"statuses":["PRESENT"],"event_timestamps":["1970-01-01T00:00:00Z"]}]}'
    """
    whole = start == 0 and stop is None
    results = []
    for name, values in columns.items():
        stamps = times[name] if whole else times[name][start:stop]
        results.append(
            {
                "values": values if whole else values[start:stop],
                "statuses": statuses[name] if whole else statuses[name][start:stop],
                "event_timestamps": [EPOCH if t is None else t for t in stamps],
            }
        )
    body = {"metadata": {"feature_names": list(columns)}, "results": results}
    return orjson.dumps(body, default=json_default, option=DUMPS_OPTIONS)


@dataclass(slots=True)
class _Waiting:
    features: FeatureRequest
    entities: dict[str, list[Any]]
    rows: int
    future: asyncio.Future[bytes]


_Answer = tuple[_Waiting, bytes | None, BaseException | None]


class ReadBatcher:
    """Answers online reads, coalescing the ones that arrive together.

    Args:
        store: the feature store to read.
        offload: run store calls in one worker thread instead of on the event loop, so that
            the loop keeps accepting requests during a network round trip (worth it only
            when round trips take milliseconds: under load, the worker's answer waits for
            the busy event loop to hand over the GIL). One call is in flight at a time;
            requests arriving meanwhile form the next batch.
    """

    def __init__(self, store: FeatureStore, offload: bool = False) -> None:
        self.store = store
        self._pending: dict[tuple[Any, ...], list[_Waiting]] = {}
        self._scheduled = False
        self._busy = False
        self._executor = ThreadPoolExecutor(1, "skewless-read") if offload else None
        self.calls = 0

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)

    async def read(
        self, features: FeatureRequest, entities: dict[str, list[Any]], full_feature_names: bool
    ) -> bytes:
        """The JSON answer to one read (raises what ``get_online_features`` raises)."""
        if isinstance(features, FeatureService):
            wanted: Any = ("service", features.name)
        elif isinstance(features, str):
            wanted = features
        else:
            wanted = tuple(features)
        key = (wanted, full_feature_names, tuple(entities))
        loop = asyncio.get_running_loop()
        future: asyncio.Future[bytes] = loop.create_future()
        rows = len(next(iter(entities.values()))) if entities else 0
        self._pending.setdefault(key, []).append(_Waiting(features, entities, rows, future))
        if not self._scheduled and not self._busy:
            self._scheduled = True
            loop.call_soon(self._flush)
        return await future

    def _flush(self) -> None:
        pending, self._pending, self._scheduled = self._pending, {}, False
        groups = [
            (full, names, waiting)
            for (_, full, names), group in pending.items()
            if (waiting := [w for w in group if not w.future.done()])  # done: client went away
        ]
        if not groups:
            return
        if self._executor is None:
            _deliver(self._answer(groups))
            return
        self._busy = True
        loop = asyncio.get_running_loop()
        done = loop.run_in_executor(self._executor, self._answer, groups)
        done.add_done_callback(self._delivered)

    def _delivered(self, done: asyncio.Future[list[_Answer]]) -> None:
        self._busy = False
        if not done.cancelled():
            _deliver(done.result())
        if self._pending and not self._scheduled:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)

    def _answer(self, groups: list[tuple[bool, tuple[str, ...], list[_Waiting]]]) -> list[_Answer]:
        answers: list[_Answer] = []
        for full, names, waiting in groups:
            if len(waiting) == 1:
                answers.append(self._answer_one(waiting[0], full))
            else:
                answers += self._answer_group(waiting, full, names)
        return answers

    def _answer_one(self, w: _Waiting, full: bool) -> _Answer:
        self.calls += 1
        try:
            response = self.store.get_online_features(w.features, w.entities, full)
            body = encode_columns(response.to_dict(), response.statuses, response.event_timestamps)
        except Exception as exc:
            return (w, None, exc)
        return (w, body, None)

    def _answer_group(
        self, group: list[_Waiting], full: bool, names: tuple[str, ...]
    ) -> list[_Answer]:
        merged: dict[str, list[Any]] = {name: [] for name in names}
        for w in group:
            for name in names:
                merged[name] += w.entities[name]
        try:
            response = self.store.get_online_features(group[0].features, merged, full)
            columns, statuses = response.to_dict(), response.statuses
            times = response.event_timestamps
        except Exception:  # answer each on its own, so each gets its own error
            return [self._answer_one(w, full) for w in group]
        self.calls += 1
        answers: list[_Answer] = []
        start = 0
        for w in group:
            try:
                body = encode_columns(columns, statuses, times, start, start + w.rows)
            except Exception as exc:
                answers.append((w, None, exc))
            else:
                answers.append((w, body, None))
            start += w.rows
        return answers


def _deliver(answers: list[_Answer]) -> None:
    for w, body, exc in answers:
        if w.future.done():
            continue
        if exc is not None:
            w.future.set_exception(exc)
        else:
            w.future.set_result(body)  # type: ignore[arg-type]
