"""Counters of the prediction path, read by the server's ``/metrics``.

Each worker process keeps its own (they are not shared across ``--workers``).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

__all__ = ["BATCH_BUCKETS", "SECONDS_BUCKETS", "Histogram", "ServingStats"]

SECONDS_BUCKETS: tuple[float, ...] = (
    0.0001,
    0.00025,
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    1.0,
)
BATCH_BUCKETS: tuple[float, ...] = (1, 2, 4, 8, 16, 32, 64, 128, 256, 1024)


@dataclass
class Histogram:
    """Counts per upper bound (``+Inf`` implied), a sum and a total."""

    bounds: tuple[float, ...]
    counts: list[int] = field(default_factory=list)
    sum: float = 0.0
    total: int = 0

    def __post_init__(self) -> None:
        self.counts = [0] * (len(self.bounds) + 1)

    def observe(self, value: float) -> None:
        i = 0
        for bound in self.bounds:
            if value <= bound:
                break
            i += 1
        self.counts[i] += 1
        self.sum += value
        self.total += 1

    def cumulative(self) -> list[tuple[str, int]]:
        """``(le, count)`` pairs as Prometheus writes them."""
        out, running = [], 0
        for bound, n in zip((*self.bounds, None), self.counts, strict=True):
            running += n
            out.append(("+Inf" if bound is None else repr(float(bound)), running))
        return out


class ServingStats:
    """What the prediction path did: batches, their sizes, where the time went, misses."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.batch_requests = Histogram(BATCH_BUCKETS)
        self.batch_entities = Histogram(BATCH_BUCKETS)
        self.fetch_seconds = Histogram(SECONDS_BUCKETS)
        self.model_seconds = Histogram(SECONDS_BUCKETS)
        self.predictions = 0
        self.missing_entities = 0
        self.failed_requests = 0
        self.model_errors = 0

    def batch(self, requests: int, entities: int, fetch_s: float, model_s: float) -> None:
        with self.lock:
            self.batch_requests.observe(requests)
            self.batch_entities.observe(entities)
            self.fetch_seconds.observe(fetch_s)
            self.model_seconds.observe(model_s)

    def answered(self, entities: int, missing: int) -> None:
        with self.lock:
            self.predictions += entities
            self.missing_entities += missing

    def failed(self, model_error: bool = False) -> None:
        with self.lock:
            self.failed_requests += 1
            if model_error:
                self.model_errors += 1
