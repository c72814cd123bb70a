"""Adaptive micro-batching: concurrent prediction requests share one feature read and one
``predict`` call.

A request arriving while no batch is being scored is scored at once (after the current turn
of the event loop, so requests that arrived together go together). While batches are being
scored, arrivals wait in the next batch, which is sent when a scoring thread is free and
either ``max_batch`` requests have gathered or the oldest has waited ``max_wait_ms``, or as
soon as a batch in flight finishes. So an idle server adds no delay, a busy one batches, and
the batcher itself never holds a lone request longer than ``max_wait_ms`` while a scoring
thread is free. A request whose client went away is dropped before it is scored.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from skewless.errors import ConfigError
from skewless.serving.records import Prediction, PredictionRequest

__all__ = ["DEFAULT_MAX_BATCH", "DEFAULT_MAX_WAIT_MS", "PredictionBatcher"]

DEFAULT_MAX_BATCH = 64
DEFAULT_MAX_WAIT_MS = 2.0

Score = Callable[[Sequence[PredictionRequest]], list[Prediction | BaseException]]


@dataclass(slots=True)
class _Waiting:
    job: PredictionRequest
    future: asyncio.Future[Prediction]


class PredictionBatcher:
    """Coalesces concurrent requests into batches scored in worker threads.

    Args:
        score: answers a batch (``PredictionService.score``), one outcome per request.
        max_batch: the most requests in one batch.
        max_wait_ms: the longest the batcher holds a request back to fill a batch.
        threads: batches scored at once. One (the default) scores while the next batch
            forms; more only help a model whose native code runs without the interpreter
            lock, on a machine with cores to spare.
    """

    def __init__(
        self,
        score: Score,
        max_batch: int = DEFAULT_MAX_BATCH,
        max_wait_ms: float = DEFAULT_MAX_WAIT_MS,
        threads: int = 1,
    ) -> None:
        if max_batch < 1:
            raise ConfigError(f"--max-batch must be at least 1, got {max_batch}")
        if max_wait_ms < 0:
            raise ConfigError(f"--max-wait-ms must be 0 or more, got {max_wait_ms}")
        if threads < 1:
            raise ConfigError(f"scoring threads must be at least 1, got {threads}")
        self._score = score
        self.max_batch = max_batch
        self.max_wait_s = max_wait_ms / 1000.0
        self.threads = threads
        self._executor = ThreadPoolExecutor(threads, "skewless-predict")
        self._pending: list[_Waiting] = []
        self._in_flight = 0
        self._soon: asyncio.Handle | None = None
        self._timer: asyncio.TimerHandle | None = None
        self.batches = 0

    @property
    def in_flight(self) -> int:
        """Batches being scored now."""
        return self._in_flight

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)

    async def submit(self, job: PredictionRequest) -> Prediction:
        """The answer to ``job`` (raises what scoring it raised)."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Prediction] = loop.create_future()
        self._pending.append(_Waiting(job, future))
        if self._in_flight == 0 or len(self._pending) >= self.max_batch:
            self._flush_soon(loop)
        elif self._timer is None and self._in_flight < self.threads:
            self._timer = loop.call_later(self.max_wait_s, self._on_timer)
        return await future

    def _flush_soon(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._soon is None:
            self._soon = loop.call_soon(self._flush)

    def _on_timer(self) -> None:
        self._timer = None
        self._flush()

    def _flush(self) -> None:
        self._soon = None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        loop = asyncio.get_running_loop()
        while self._pending and self._in_flight < self.threads:
            batch = [w for w in self._pending[: self.max_batch] if not w.future.done()]
            del self._pending[: self.max_batch]
            if not batch:
                continue
            self._in_flight += 1
            self.batches += 1
            done = loop.run_in_executor(self._executor, self._score, [w.job for w in batch])
            done.add_done_callback(lambda d, b=batch: self._delivered(b, d))  # type: ignore[misc]
            if len(self._pending) < self.max_batch:
                break  # the rest waits to form a batch (or for the timer)
        if self._pending and self._timer is None and self._in_flight < self.threads:
            self._timer = loop.call_later(self.max_wait_s, self._on_timer)

    def _delivered(
        self, batch: list[_Waiting], done: asyncio.Future[list[Prediction | BaseException]]
    ) -> None:
        self._in_flight -= 1
        if done.cancelled():
            outcomes: list[Prediction | BaseException] = [
                RuntimeError("the server is shutting down")
            ] * len(batch)
        elif done.exception() is not None:
            outcomes = [done.exception()] * len(batch)  # type: ignore[list-item]
        else:
            outcomes = done.result()
        for w, outcome in zip(batch, outcomes, strict=True):
            if w.future.done():
                continue
            if isinstance(outcome, BaseException):
                w.future.set_exception(outcome)
            else:
                w.future.set_result(outcome)
        if self._pending:
            self._flush_soon(asyncio.get_running_loop())
