"""Routing between model versions: an experiment's arms answer the requests of one served model.

A :class:`Router` is what the micro-batcher scores with while an experiment routes the model.
Each arm has its own :class:`~skewless.serving.service.PredictionService` (its own model and
the features of its own lineage). For every entity of a batch the router chooses an arm:

- ``sticky``: policy ``split`` hashes the entity's key (:func:`~skewless.experiments.assignment.
  entity_key` of its join keys) by the weights in force, so the same entity gets the same arm
  for the experiment's life and a weight change moves the fewest entities;
- ``bandit``: a bandit policy chooses one arm per request (not sticky) and learns from the
  rewards ``POST /feedback`` brings;
- ``header``: the ``x-experiment-group`` header sends the whole request to the arm it names.

Each arm scores its entities of the batch in one call, the challengers in threads of their own
while the champion scores in the batch's thread; an answer is reassembled in the request's
order. A challenger that raises, or has not answered ``challenger_timeout_ms`` after the batch
started, is replaced by the champion for its entities (``fallback``, counted per failed arm,
logged once per change); its late answer is dropped. Shadow arms score the answered requests
afterwards in the background (:class:`~skewless.serving.shadow.ShadowScorer`) and are logged,
never answered. A stopped experiment routes every request to the champion, unlabelled.
"""

from __future__ import annotations

import concurrent.futures
import logging
import threading
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from skewless.experiments.assignment import Assigner, entity_key
from skewless.serving.experiment_state import BanditAllocation, ExperimentCounters
from skewless.serving.records import Prediction, PredictionRequest
from skewless.serving.shadow import ShadowScorer

if TYPE_CHECKING:
    from skewless.experiments.records import ExperimentRecord
    from skewless.serving.recent import Outcome
    from skewless.serving.service import PredictionService, PredictionSink

__all__ = ["MAX_BUSY_BATCHES", "RoutedPrediction", "Router"]

logger = logging.getLogger("skewless.serving")

MAX_BUSY_BATCHES = 2
"""Batches a challenger may have in hand (one late, one queued) before its entities go
straight to the champion."""

Outcome_ = Prediction | BaseException


@dataclass(slots=True)
class RoutedPrediction(Prediction):
    """The answer to a request whose entities different arms answered.

    Attributes:
        arms: the arm of each entity. versions: the model version of each entity.
    """

    arms: list[str | None] = field(default_factory=list)
    versions: list[int] = field(default_factory=list)

    def answer(self) -> dict[str, Any]:
        """The JSON body: ``arms`` and ``versions`` name each entity's arm and version;
        ``model`` is the first entity's."""
        out = Prediction.answer(self)
        out["arms"] = self.arms
        out["versions"] = [str(v) for v in self.versions]
        return out


@dataclass(slots=True)
class _Part:
    """The entities of one request that one arm answers."""

    job: int
    arm: str
    assignment: str
    rows: list[int]
    request: PredictionRequest
    outcome: Outcome_ | None = None


def _subset(job: PredictionRequest, rows: list[int], arm: str) -> PredictionRequest:
    if len(rows) == job.rows:
        return PredictionRequest(job.entities, job.request, job.request_id, job.received, arm)
    entities = {k: [v[r] for r in rows] for k, v in job.entities.items()}
    request = {k: [v[r] for r in rows] for k, v in job.request.items()} if job.request else None
    return PredictionRequest(entities, request, job.request_id, job.received, arm)


class Router:
    """Scores batches across the arms of one experiment (see the module docstring).

    Args:
        record: the experiment as the registry holds it (weights, status).
        services: arm name -> its service (arms of one model version may share one);
            the services have no sink: the router logs.
        sink: where answers (and shadow scorings) are logged, or None.
        bandit: the allocation of a bandit policy (None for ``split``).

    Attributes:
        counters: requests, conversions and fallbacks per arm.
    """

    def __init__(
        self,
        record: ExperimentRecord,
        services: Mapping[str, PredictionService],
        sink: PredictionSink | None = None,
        bandit: BanditAllocation | None = None,
    ) -> None:
        spec = record.spec
        self.name = spec.name
        self.spec = spec
        self.services = dict(services)
        self.champion_name = spec.champion.name
        self.champion = self.services[self.champion_name]
        self.sink = sink
        self.bandit = bandit
        self.counters = ExperimentCounters()
        self.timeout_s = spec.challenger_timeout_ms / 1000.0
        self._challengers = {a.name: a for a in spec.live_arms if a.name != self.champion_name}
        self._executors = {
            name: ThreadPoolExecutor(1, f"skewless-arm-{name}") for name in self._challengers
        }
        self._busy = dict.fromkeys(self._challengers, 0)
        self._busy_lock = threading.Lock()
        self._failing: dict[str, bool] = dict.fromkeys(self._challengers, False)
        self._blocked: dict[str, str] = {}
        self.shadows = {
            a.name: ShadowScorer(a.name, self.services[a.name], self._log_shadow, spec.name)
            for a in spec.shadow_arms
        }
        self.record = record
        self._assigner: Assigner | None = None
        self.apply(record)

    # -- the experiment's state ----------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self.record.status == "running"

    @property
    def live_arms(self) -> list[str]:
        return [a.name for a in self.spec.live_arms]

    def apply(self, record: ExperimentRecord) -> None:
        """Route new batches by ``record`` (new weights, or stopped: the champion answers)."""
        was_running = self.record.status == "running" and self._assigner is not None
        if record.status == "running" and record.weights:
            self._assigner = Assigner(record.spec.assignment_salt, record.weights)
        if record.status != "running" and was_running:
            logger.warning(
                "experiment %r stopped (%s): the champion answers every request",
                record.name,
                record.stop_reason,
            )
        elif was_running and record.weights != self.record.weights:
            logger.info("experiment %r: new weights %s", record.name, record.weights)
        self.record = record

    def block(self, arm: str, reason: str | None) -> None:
        """Send ``arm``'s entities to the champion (``reason``), or, with None, to it again."""
        if reason is None:
            self._blocked.pop(arm, None)
        else:
            self._blocked[arm] = reason

    def observe(self, outcomes: Sequence[Outcome]) -> None:
        """Feedback matched to answers: conversions counted, the bandit rewarded."""
        for outcome in outcomes:
            if outcome.experiment != self.name:
                continue
            self.counters.observed(outcome)
            if self.bandit is not None and outcome.assignment == "bandit" and outcome.arm:
                self.bandit.update(outcome.arm, outcome.reward)

    def describe(self) -> dict[str, Any]:
        """The experiment as ``GET /model`` shows it."""
        record, spec = self.record, self.spec
        arms = []
        for arm in spec.arms:
            model = self.services[arm.name].model
            arms.append(
                {
                    "name": arm.name,
                    "model": arm.model,
                    "version": str(model.version),
                    "weight": record.weights.get(arm.name) if not arm.shadow else None,
                    "shadow": arm.shadow,
                    "champion": arm.name == self.champion_name,
                }
            )
        out: dict[str, Any] = {
            "name": spec.name,
            "status": record.status,
            "policy": spec.policy,
            "weights": dict(record.weights),
            "challenger_timeout_ms": spec.challenger_timeout_ms,
            "arms": arms,
        }
        if self.bandit is not None:
            out["bandit"] = self.bandit.describe()
        return out

    def close(self) -> None:
        for shadow in self.shadows.values():
            shadow.close()
        for executor in self._executors.values():
            executor.shutdown(wait=False, cancel_futures=True)

    # -- one batch -----------------------------------------------------------------------------
    def score(self, jobs: Sequence[PredictionRequest]) -> list[Outcome_]:
        """One outcome per request, in order (the batcher's ``score``)."""
        if not self.running:
            outcomes = self.champion.score(jobs)
            self._log([o for o in outcomes if isinstance(o, Prediction)])
            return outcomes
        started = time.monotonic()
        parts = [part for i, job in enumerate(jobs) for part in self._plan(i, job)]
        by_arm: dict[str, list[_Part]] = {}
        for part in parts:
            by_arm.setdefault(part.arm, []).append(part)
        pending: dict[str, Future[list[Outcome_]]] = {}
        fallback: list[tuple[_Part, str]] = []
        own: list[_Part] = []
        for arm, arm_parts in by_arm.items():
            if self.services[arm] is self.champion:  # one version: one call for its arms
                own += arm_parts
                continue
            if arm in self._blocked or not self._take(arm):
                fallback += [(p, arm) for p in arm_parts]
                continue
            pending[arm] = self._executors[arm].submit(
                self._score_arm, arm, [p.request for p in arm_parts]
            )
        if own:
            self._fill(own, self.champion.score([p.request for p in own]))
        if pending:
            concurrent.futures.wait(
                pending.values(), timeout=max(0.0, started + self.timeout_s - time.monotonic())
            )
        for arm, future in pending.items():
            self._collect(arm, by_arm[arm], future, fallback)
        self._fall_back(fallback)
        outcomes = [
            self._assemble(job, [p for p in parts if p.job == i]) for i, job in enumerate(jobs)
        ]
        answered = [jobs[i] for i, o in enumerate(outcomes) if isinstance(o, Prediction)]
        if answered:
            for shadow in self.shadows.values():
                shadow.offer(answered)
        return outcomes

    def _plan(self, index: int, job: PredictionRequest) -> list[_Part]:
        """The parts of ``job``: its entities grouped by the arm chosen for each."""
        if job.override is not None:
            return [self._part(index, job, job.override, "header", list(range(job.rows)))]
        if self.bandit is not None:
            arm = self.bandit.choose()
            return [self._part(index, job, arm, "bandit", list(range(job.rows)))]
        assigner = self._assigner
        assert assigner is not None
        names = list(job.entities)
        columns = [job.entities[n] for n in names]
        rows_of: dict[str, list[int]] = {}
        for r in range(job.rows):
            key = entity_key({n: c[r] for n, c in zip(names, columns, strict=True)})
            rows_of.setdefault(assigner.assign(key), []).append(r)
        return [self._part(index, job, arm, "sticky", rows) for arm, rows in rows_of.items()]

    @staticmethod
    def _part(index: int, job: PredictionRequest, arm: str, how: str, rows: list[int]) -> _Part:
        return _Part(index, arm, how, rows, _subset(job, rows, arm))

    def _take(self, arm: str) -> bool:
        with self._busy_lock:
            if self._busy[arm] >= MAX_BUSY_BATCHES:
                return False
            self._busy[arm] += 1
            return True

    def _score_arm(self, arm: str, requests: list[PredictionRequest]) -> list[Outcome_]:
        try:
            return self.services[arm].score(requests)
        finally:
            with self._busy_lock:
                self._busy[arm] -= 1

    @staticmethod
    def _fill(parts: list[_Part], outcomes: Sequence[Outcome_]) -> None:
        for part, outcome in zip(parts, outcomes, strict=True):
            part.outcome = outcome

    def _collect(
        self,
        arm: str,
        parts: list[_Part],
        future: Future[list[Outcome_]],
        fallback: list[tuple[_Part, str]],
    ) -> None:
        if not future.done():
            fallback += [(p, arm) for p in parts]
            self._failed(arm, f"no answer within {self.timeout_s * 1000:g} ms")
            return
        try:
            outcomes = future.result()
        except Exception as exc:
            outcomes = [exc] * len(parts)
        self._fill(parts, outcomes)
        failures = [p for p in parts if isinstance(p.outcome, BaseException)]
        fallback += [(p, arm) for p in failures]
        if failures:
            self._failed(arm, f"{type(failures[0].outcome).__name__}: {failures[0].outcome}")
        elif self._failing.get(arm):
            self._failing[arm] = False
            logger.warning("arm %r of experiment %r answers again", arm, self.name)

    def _failed(self, arm: str, why: str) -> None:
        if not self._failing.get(arm):
            self._failing[arm] = True
            logger.warning(
                "arm %r of experiment %r failed (%s): the champion answers its requests",
                arm,
                self.name,
                why,
            )

    def _fall_back(self, fallback: list[tuple[_Part, str]]) -> None:
        """The champion answers the parts of arms that failed, timed out or are blocked."""
        if not fallback:
            return
        requests = [
            _subset(p.request, list(range(p.request.rows)), self.champion_name) for p, _ in fallback
        ]
        outcomes = self.champion.score(requests)
        for (part, failed), outcome in zip(fallback, outcomes, strict=True):
            part.arm, part.assignment, part.outcome = self.champion_name, "fallback", outcome
            if isinstance(outcome, Prediction):
                self.counters.fell_back(self.name, failed)

    def _assemble(self, job: PredictionRequest, parts: list[_Part]) -> Outcome_:
        """The request's answer from its parts (logged, one record per part)."""
        for part in parts:
            if isinstance(part.outcome, BaseException):
                return part.outcome
        done: list[tuple[_Part, Prediction]] = [
            (part, part.outcome) for part in parts if isinstance(part.outcome, Prediction)
        ]
        latency = (time.perf_counter() - job.received) * 1000.0
        for part, prediction in done:
            prediction.arm, prediction.experiment = part.arm, self.name
            prediction.assignment, prediction.latency_ms = part.assignment, latency
            prediction.rows = None if len(part.rows) == job.rows else part.rows
            self.counters.answered(self.name, part.arm, part.assignment)
        self._log([p for _, p in done])
        if len(done) == 1:
            return done[0][1]
        return _merged(job, done, latency)

    def _log_shadow(self, predictions: Sequence[Prediction]) -> None:
        for p in predictions:
            self.counters.answered(self.name, p.arm or "", "shadow")
        self._log(predictions)

    def _log(self, predictions: Sequence[Prediction]) -> None:
        if predictions and self.sink is not None:
            try:
                self.sink.submit(predictions)
            except Exception:  # a full or failed log never fails the answer
                logger.exception("cannot log %d predictions", len(predictions))


def _merged(
    job: PredictionRequest, done: list[tuple[_Part, Prediction]], latency: float
) -> RoutedPrediction:
    n = job.rows
    predictions: list[Any] = [None] * n
    probabilities: list[list[float] | None] = [None] * n
    arms: list[str | None] = [None] * n
    versions: list[int] = [0] * n
    missing: list[int] = []
    has_probabilities = False
    for part, p in done:
        for j, r in enumerate(part.rows):
            predictions[r] = p.predictions[j]
            arms[r] = part.arm
            versions[r] = p.model_version
            if p.probabilities is not None:
                has_probabilities = True
                probabilities[r] = p.probabilities[j]
        missing += [part.rows[m] for m in p.missing]
    first = next(p for part, p in done if 0 in part.rows)
    return RoutedPrediction(
        request_id=job.request_id,
        time=first.time,
        model_name=first.model_name,
        model_version=first.model_version,
        entities=job.entities,
        features={},
        predictions=predictions,
        probabilities=probabilities if has_probabilities else None,
        missing=sorted(missing),
        latency_ms=latency,
        cached=sum(p.cached for _, p in done),
        arms=arms,
        versions=versions,
    )
