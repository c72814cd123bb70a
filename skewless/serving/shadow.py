"""Shadow scoring: an arm that scores the requests another arm answered, off their path.

A :class:`ShadowScorer` has its own thread and a bounded queue. :meth:`ShadowScorer.offer`
only puts the answered requests on the queue (it never waits: when the queue is full the
requests are dropped and counted), so a slow or failing shadow adds nothing to the answers'
latency. The thread scores them with the shadow arm's service and logs the predictions with
``assignment="shadow"``; their ``latency_ms`` is the shadow's own scoring time.

The thread runs at the lowest CPU priority (nice 19, Linux schedules threads on their own),
so on a busy machine the answers' threads get the cores first, and it scores every batch
waiting in its queue in one call (up to :data:`SHADOW_MAX_REQUESTS` requests), so a shadow
that falls behind catches up with fewer, larger model calls.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import threading
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from skewless.serving.records import Prediction, PredictionRequest

if TYPE_CHECKING:
    from skewless.serving.service import PredictionService

__all__ = ["SHADOW_MAX_REQUESTS", "SHADOW_NICE", "SHADOW_QUEUE_BATCHES", "ShadowScorer"]

logger = logging.getLogger("skewless.serving")

SHADOW_QUEUE_BATCHES = 256
"""Batches of answered requests a shadow arm may be behind before new ones are dropped."""

SHADOW_MAX_REQUESTS = 512
"""The most requests a shadow arm scores in one call."""
SHADOW_NICE = 19

Logged = Callable[[Sequence[Prediction]], None]


class ShadowScorer:
    """Scores answered requests with one shadow arm, in the background.

    Args:
        arm: the shadow arm's name.
        service: the arm's prediction service (no sink of its own).
        log: where its predictions go (given the experiment and assignment first).
        experiment: the experiment's name.
        max_batches: the queue's bound, in batches.

    Attributes:
        scored: requests scored. dropped: requests dropped (queue full). failed: requests
        whose scoring raised.
    """

    def __init__(
        self,
        arm: str,
        service: PredictionService,
        log: Logged,
        experiment: str,
        max_batches: int = SHADOW_QUEUE_BATCHES,
    ) -> None:
        self.arm = arm
        self.service = service
        self.experiment = experiment
        self._log = log
        self.scored = 0
        self.dropped = 0
        self.failed = 0
        self._queue: queue.Queue[list[PredictionRequest] | None] = queue.Queue(max_batches)
        self._warned = False
        self._thread = threading.Thread(target=self._run, name=f"shadow-{arm}", daemon=True)
        self._thread.start()

    def offer(self, jobs: Sequence[PredictionRequest]) -> bool:
        """Queue ``jobs`` to be scored; False (and counted) when the queue is full."""
        try:
            self._queue.put_nowait(list(jobs))
        except queue.Full:
            self.dropped += len(jobs)
            if not self._warned:
                self._warned = True
                logger.warning(
                    "shadow arm %r is behind by %d batches: its requests are dropped",
                    self.arm,
                    self._queue.maxsize,
                )
            return False
        return True

    def close(self, timeout: float = 5.0) -> None:
        """Score what is queued (for at most ``timeout`` seconds) and stop the thread."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                self._queue.put(None, timeout=max(0.0, deadline - time.monotonic()))
                break
            except queue.Full:
                if time.monotonic() >= deadline:
                    return  # a stuck shadow: its daemon thread ends with the process
        self._thread.join(max(0.0, deadline - time.monotonic()))

    def _run(self) -> None:
        with contextlib.suppress(OSError, AttributeError):  # not on every platform
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), SHADOW_NICE)
        while True:
            jobs = self._queue.get()
            if jobs is None:
                return
            jobs, stop = self._drain(list(jobs))
            self._score(jobs)
            if stop:
                return

    def _drain(self, jobs: list[PredictionRequest]) -> tuple[list[PredictionRequest], bool]:
        """``jobs`` and the batches waiting behind them (up to the bound); whether the
        scorer was closed meanwhile."""
        while len(jobs) < SHADOW_MAX_REQUESTS:
            try:
                more = self._queue.get_nowait()
            except queue.Empty:
                break
            if more is None:
                return jobs, True
            jobs.extend(more)
        return jobs, False

    def _score(self, jobs: Sequence[PredictionRequest]) -> None:
        """Score ``jobs`` with the shadow arm and log its predictions."""
        started = time.perf_counter()
        copies = [
            PredictionRequest(j.entities, j.request, j.request_id, started, self.arm) for j in jobs
        ]
        try:
            outcomes = self.service.score(copies)
        except Exception:
            logger.exception("shadow arm %r failed on %d requests", self.arm, len(jobs))
            self.failed += len(jobs)
            return
        done = [o for o in outcomes if isinstance(o, Prediction)]
        self.failed += len(outcomes) - len(done)
        self.scored += len(done)
        for p in done:
            p.experiment, p.assignment = self.experiment, "shadow"
        if done:
            try:
                self._log(done)
            except Exception:  # a full or failed log never stops the shadow
                logger.exception("cannot log %d shadow predictions", len(done))
