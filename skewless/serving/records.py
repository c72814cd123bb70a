"""What one prediction request is, and what answering it produced.

These are the records the prediction path hands between its parts: the server builds a
:class:`PredictionRequest` per HTTP request, the service answers a list of them with one
:class:`Prediction` each, and the prediction log and the cache read those.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

__all__ = ["Prediction", "PredictionRequest", "new_request_id"]


def new_request_id() -> str:
    """A fresh request id (a UUID4 string)."""
    return str(uuid.uuid4())


@dataclass(slots=True)
class PredictionRequest:
    """One request: entity keys (``{join_key: [values]}``, one value per entity) and
    optional request data for on-demand features (``{column: [values]}``, same length).

    Attributes:
        request_id: the id the answer and the log carry.
        received: ``time.perf_counter()`` when the request arrived (for its latency).
        arm: the experiment arm that answers, when an experiment routes the request.
        override: the arm the ``x-experiment-group`` header asked for (the whole request
            goes to it).
    """

    entities: dict[str, list[Any]]
    request: dict[str, list[Any]] | None = None
    request_id: str = field(default_factory=new_request_id)
    received: float = field(default_factory=time.perf_counter)
    arm: str | None = None
    override: str | None = None

    @property
    def rows(self) -> int:
        return len(next(iter(self.entities.values()), ()))


@dataclass(slots=True)
class Prediction:
    """The answer to one :class:`PredictionRequest`.

    Attributes:
        request_id: the request's id.
        time: when it was answered (aware UTC).
        model_name: the model that answered.
        model_version: its version number.
        entities: the request's entity keys, ``{join_key: [values]}``.
        features: the feature values the model was given, ``{column: [values]}`` in the
            model's column order (None for an entity whose features were missing).
        predictions: one per entity (None for a missing entity under ``--missing null``).
        probabilities: one list per entity for a classifier with ``predict_proba``, else None.
        missing: indexes of the entities whose features were NOT_FOUND or OUTSIDE_MAX_AGE.
        latency_ms: from the request's arrival to its answer being ready.
        cached: how many of the entity predictions came from the prediction cache.
        arm: the experiment arm that answered (or, for a shadow, that scored).
        cached_rows: indexes of the entities answered from the cache.
        experiment: the experiment that routed the request.
        assignment: how the arm was chosen: ``sticky`` (the key's hash), ``header`` (the
            ``x-experiment-group`` override), ``bandit`` (the allocation policy), ``shadow``
            (scored and logged, never answered) or ``fallback`` (the champion answered for
            an arm that failed or timed out).
        rows: the index in its request of each entity of this record, when it holds only
            some of them (the entities of one request that different arms answered);
            None: all of them, in order.
    """

    request_id: str
    time: datetime
    model_name: str
    model_version: int
    entities: dict[str, list[Any]]
    features: dict[str, list[Any]]
    predictions: list[Any]
    probabilities: list[list[float] | None] | None
    missing: list[int]
    latency_ms: float
    cached: int = 0
    arm: str | None = None
    cached_rows: list[int] = field(default_factory=list)
    experiment: str | None = None
    assignment: str | None = None
    rows: list[int] | None = None

    def answer(self) -> dict[str, Any]:
        """The JSON body of ``POST /predict``."""
        out: dict[str, Any] = {"predictions": self.predictions}
        if self.probabilities is not None:
            out["probabilities"] = self.probabilities
        out["model"] = {"name": self.model_name, "version": str(self.model_version)}
        out["request_id"] = self.request_id
        if self.missing:
            out["missing"] = self.missing
        if self.arm is not None:
            out["arm"] = self.arm
        return out


def utc_now() -> datetime:
    return datetime.now(UTC)
