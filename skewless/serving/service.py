"""The prediction path: entity keys in, features fetched by lineage, the model, answers out.

:class:`PredictionService` answers a list of :class:`~skewless.serving.records.PredictionRequest`
with one feature read and one ``predict`` call for all of them (the server's micro-batcher
hands it the requests that arrived together). A request that cannot be answered (keys of the
wrong type, missing entities under ``--missing error``, rows the model refuses) fails alone:
the others in its batch are answered. Answers go to the prediction log, when one is attached.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from skewless.errors import (
    ConfigError,
    MissingEntitiesError,
    ModelPredictionError,
    StoreUnavailableError,
)
from skewless.serving.cache import PredictionCache, cache_key
from skewless.serving.features import (
    MISSING_POLICIES,
    FeatureFetcher,
    FetchedFeatures,
    OnlineRead,
)
from skewless.serving.records import Prediction, PredictionRequest, utc_now
from skewless.serving.stats import ServingStats

if TYPE_CHECKING:
    from skewless.serving.model import ServedModel

__all__ = ["PredictionService", "PredictionSink"]

logger = logging.getLogger("skewless.serving")

_MAX_NAMED_KEYS = 10
RETRY_DELAYS_S = (0.05, 0.2)
"""Waits before the retries of a feature read that found the online store unreachable."""


class PredictionSink(Protocol):
    """Where answered predictions go (the prediction log); ``submit`` must not block."""

    def submit(self, predictions: Sequence[Prediction]) -> None: ...

    def close(self) -> None: ...


class _Scorer:
    """One model version with the fetcher of its features (swapped whole on a promotion)."""

    __slots__ = ("fetcher", "model")

    def __init__(self, model: ServedModel, read: OnlineRead) -> None:
        self.model = model
        self.fetcher = FeatureFetcher(read, model.lineage)


Outcome = Prediction | BaseException


class PredictionService:
    """Answers prediction requests for one served model.

    Args:
        model: the model version to serve first (see :meth:`swap`).
        read: the online read (``OnlineReader.read``) features come from.
        missing: ``error`` (422 naming the keys) or ``null`` (null predictions for them).
        cache: a prediction cache, or None.
        sink: the prediction log, or None.
        log_errors: log each request the model fails (an experiment arm's failures are
            reported by the router instead, once per change).

    Thread safety: :meth:`score` may run in several threads; :meth:`swap` replaces the model
    for the batches that start after it, and a batch in flight finishes on the model it
    started with.
    """

    def __init__(
        self,
        model: ServedModel,
        read: OnlineRead,
        missing: str = "error",
        cache: PredictionCache | None = None,
        sink: PredictionSink | None = None,
        log_errors: bool = True,
    ) -> None:
        if missing not in MISSING_POLICIES:
            raise ConfigError(
                f"--missing {missing!r} is not a policy: use {' or '.join(MISSING_POLICIES)}"
            )
        self._read = read
        self.missing = missing
        self.cache = cache
        self.sink = sink
        self.log_errors = log_errors
        self.stats = ServingStats()
        self.retry_delays: tuple[float, ...] = RETRY_DELAYS_S
        self._scorer = _Scorer(model, read)
        self._swap_lock = threading.Lock()

    @property
    def model(self) -> ServedModel:
        """The model new batches are scored with."""
        return self._scorer.model

    def swap(self, model: ServedModel) -> None:
        """Serve ``model`` from the next batch on."""
        with self._swap_lock:
            self._scorer = _Scorer(model, self._read)

    def predict(
        self,
        entities: Mapping[str, Sequence[Any]],
        request: Mapping[str, Sequence[Any]] | None = None,
    ) -> Prediction:
        """Answer one request (raises what it fails with).

        Example:
            >>> service.predict({"user_id": [1001, 1002]}).predictions  # doctest: +SKIP
            [0, 1]
        """
        job = PredictionRequest(
            {k: list(v) for k, v in entities.items()},
            {k: list(v) for k, v in request.items()} if request else None,
        )
        outcome = self.score([job])[0]
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    # -- one batch -------------------------------------------------------------------------
    def score(self, jobs: Sequence[PredictionRequest]) -> list[Outcome]:
        """One outcome per request, in order: a :class:`Prediction` or the error it failed
        with. Requests with the same columns share one feature read and one predict call."""
        scorer = self._scorer
        outcomes: list[Outcome | None] = [None] * len(jobs)
        groups: dict[tuple[tuple[str, ...], tuple[str, ...]], list[int]] = {}
        for i, job in enumerate(jobs):
            shape = (tuple(job.entities), tuple(job.request or ()))
            groups.setdefault(shape, []).append(i)
        for indexes in groups.values():
            for i, outcome in zip(
                indexes, self._score_group(scorer, [jobs[i] for i in indexes]), strict=True
            ):
                outcomes[i] = outcome
        done = [o for o in outcomes if isinstance(o, Prediction)]
        if done and self.sink is not None:
            try:
                self.sink.submit(done)
            except Exception:  # a full or failed log never fails the answer
                logger.exception("cannot log %d predictions", len(done))
        return outcomes  # type: ignore[return-value]

    def _score_group(self, scorer: _Scorer, jobs: list[PredictionRequest]) -> list[Outcome]:
        started = time.perf_counter()
        try:
            fetched = self._fetch(scorer, jobs)
        except Exception as exc:
            if len(jobs) == 1 or isinstance(exc, StoreUnavailableError):
                for _ in jobs:
                    self.stats.failed()
                return [exc] * len(jobs)
            return [self._score_group(scorer, [job])[0] for job in jobs]  # each its own error
        fetched_at = time.perf_counter()
        missing = set(fetched.missing)
        outcomes: list[Outcome | None] = [None] * len(jobs)
        spans: list[tuple[int, int]] = []
        start = 0
        for i, job in enumerate(jobs):
            stop = start + job.rows
            spans.append((start, stop))
            absent = [r - start for r in range(start, stop) if r in missing]
            if absent and self.missing == "error":
                outcomes[i] = _missing_error(job, absent)
                self.stats.failed()
                self.stats.answered(0, len(absent))
            start = stop
        rows = [
            r
            for i, (a, b) in enumerate(spans)
            if outcomes[i] is None
            for r in range(a, b)
            if r not in missing
        ]
        try:
            answers, cached = self._answers(scorer.model, fetched, rows)
        except ModelPredictionError as exc:
            if len(jobs) == 1:
                if self.log_errors:
                    logger.error("request %s: %s", jobs[0].request_id, exc)
                self.stats.failed(model_error=True)
                return [exc]
            return [self._score_group(scorer, [job])[0] for job in jobs]
        model_done = time.perf_counter()
        self.stats.batch(len(jobs), len(rows), fetched_at - started, model_done - fetched_at)
        now = utc_now()
        columns = fetched.table.to_pydict()
        for i, job in enumerate(jobs):
            if outcomes[i] is not None:
                continue
            a, b = spans[i]
            outcomes[i] = self._prediction(scorer.model, job, columns, answers, cached, a, b, now)
        return outcomes  # type: ignore[return-value]

    def _fetch(self, scorer: _Scorer, jobs: list[PredictionRequest]) -> Any:
        """The batch's features; an unreachable online store is retried with backoff."""
        entities, request = _merged(jobs)
        for delay in (*self.retry_delays, None):
            try:
                return scorer.fetcher.fetch(entities, request)
            except StoreUnavailableError:
                if delay is None:
                    raise
                time.sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    def _answers(
        self, model: ServedModel, fetched: FetchedFeatures, rows: list[int]
    ) -> tuple[dict[int, tuple[Any, list[float] | None]], set[int]]:
        """Row index -> (prediction, probabilities), from the cache or the model."""
        answers: dict[int, tuple[Any, list[float] | None]] = {}
        todo = rows
        keys: list[bytes] = []
        cached: set[int] = set()
        if self.cache is not None and rows:
            table = fetched.table
            columns = [table.column(i).to_pylist() for i in range(table.num_columns)]
            keys = [cache_key(model.name, model.version, [c[r] for c in columns]) for r in rows]
            todo = []
            for r, hit in zip(rows, self.cache.get_many(keys), strict=True):
                if hit is None:
                    todo.append(r)
                else:
                    answers[r] = (hit[0], hit[1])
                    cached.add(r)
        if todo:
            predictions, probabilities = model.predict(fetched.frame(todo))
            for j, r in enumerate(todo):
                answers[r] = (predictions[j], probabilities[j] if probabilities else None)
            if self.cache is not None:
                key_of = dict(zip(rows, keys, strict=True))
                self.cache.put_many([(key_of[r], list(answers[r])) for r in todo])
        return answers, cached

    def _prediction(
        self,
        model: ServedModel,
        job: PredictionRequest,
        columns: dict[str, list[Any]],
        answers: dict[int, tuple[Any, list[float] | None]],
        cached: set[int],
        a: int,
        b: int,
        now: Any,
    ) -> Prediction:
        predictions = [answers[r][0] if r in answers else None for r in range(a, b)]
        probabilities = (
            [answers[r][1] if r in answers else None for r in range(a, b)]
            if model.is_classifier and any(answers[r][1] is not None for r in answers)
            else None
        )
        missing = [r - a for r in range(a, b) if r not in answers]
        self.stats.answered(b - a, len(missing))
        features = {
            name: (values if a == 0 and b == len(values) else values[a:b])
            for name, values in columns.items()
        }
        for i in missing:
            for values in features.values():
                if values is not None:
                    values[i] = None
        return Prediction(
            request_id=job.request_id,
            time=now,
            model_name=model.name,
            model_version=model.version,
            entities=job.entities,
            features=features,
            predictions=predictions,
            probabilities=probabilities,
            missing=missing,
            latency_ms=(time.perf_counter() - job.received) * 1000.0,
            cached=sum(1 for r in range(a, b) if r in cached),
            cached_rows=[r - a for r in range(a, b) if r in cached],
            arm=job.arm,
        )


def _merged(
    jobs: list[PredictionRequest],
) -> tuple[dict[str, list[Any]], dict[str, list[Any]] | None]:
    if len(jobs) == 1:
        return jobs[0].entities, jobs[0].request
    entities: dict[str, list[Any]] = {name: [] for name in jobs[0].entities}
    request: dict[str, list[Any]] | None = (
        {name: [] for name in jobs[0].request} if jobs[0].request else None
    )
    for job in jobs:
        for name, values in job.entities.items():
            entities[name] += values
        if request is not None and job.request:
            for name, values in job.request.items():
                request[name] += values
    return entities, request


def _missing_error(job: PredictionRequest, absent: list[int]) -> MissingEntitiesError:
    keys = [{name: values[i] for name, values in job.entities.items()} for i in absent]
    shown = ", ".join(
        "{" + ", ".join(f"{k}={v!r}" for k, v in key.items()) + "}"
        for key in keys[:_MAX_NAMED_KEYS]
    )
    more = f" and {len(keys) - _MAX_NAMED_KEYS} more" if len(keys) > _MAX_NAMED_KEYS else ""
    return MissingEntitiesError(
        f"{len(keys)} of {job.rows} entities have no stored features (NOT_FOUND or "
        f"OUTSIDE_MAX_AGE): {shown}{more}; materialize or push them, or start the server with "
        "--missing null to answer null for them",
        keys,
    )
