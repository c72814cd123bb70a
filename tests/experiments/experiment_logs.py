"""A simulated population answered by an experiment's arms, written to a real prediction log with
``PredictionLogWriter`` and labelled with ``record_feedback``, as a server and its users would."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np

from skewless.serving.feedback import record_feedback
from skewless.serving.logs import PredictionLogWriter
from skewless.serving.records import Prediction

__all__ = ["Row", "Traffic", "write_traffic"]

_IDS = itertools.count()


@dataclass(frozen=True)
class Row:
    """One written row: when, its arm and assignment, and its outcome (None: no feedback)."""

    time: datetime
    arm: str
    assignment: str
    outcome: bool | None


@dataclass(frozen=True)
class Traffic:
    """Rows of one arm: ``n`` users converting at ``rate`` (exactly ``round(rate * n)`` of
    them when ``exact``), answered by model ``version`` with ``assignment``."""

    arm: str
    n: int
    rate: float
    version: int = 1
    assignment: str = "sticky"
    exact: bool = False
    labelled: float = 1.0  # the share of rows that get feedback


def write_traffic(
    root: Path,
    experiment: str,
    traffic: list[Traffic],
    start: datetime,
    span: timedelta,
    *,
    model: str = "churn",
    seed: int = 0,
) -> list[Row]:
    """Write every arm's rows at uniform times in ``[start, start + span)`` and their feedback;
    the rows written."""
    rng = np.random.default_rng(seed)
    predictions: list[Prediction] = []
    feedback: list[dict[str, object]] = []
    written: list[Row] = []
    for part in traffic:
        if part.exact:
            outcomes = np.zeros(part.n, dtype=bool)
            outcomes[: round(part.rate * part.n)] = True
            rng.shuffle(outcomes)
        else:
            outcomes = rng.random(part.n) < part.rate
        labelled = rng.random(part.n) < part.labelled
        offsets = rng.random(part.n) * span.total_seconds()
        for outcome, has_label, offset in zip(outcomes, labelled, offsets, strict=True):
            request_id = f"req-{next(_IDS)}"
            when = start + timedelta(seconds=float(offset))
            user = int(rng.integers(0, 10**9))
            predictions.append(
                Prediction(
                    request_id,
                    when,
                    model,
                    part.version,
                    {"user_id": [user]},
                    {"x1": [float(offset % 1)]},
                    [0],
                    None,
                    [],
                    1.5,
                    arm=part.arm,
                    experiment=experiment,
                    assignment=part.assignment,
                )
            )
            if has_label:
                feedback.append({"request_id": request_id, "label": int(outcome)})
            written.append(
                Row(when, part.arm, part.assignment, bool(outcome) if has_label else None)
            )
    with PredictionLogWriter(root, model, max_rows=10**7) as writer:
        writer.submit(predictions)
    if feedback:
        record_feedback(root, model, feedback)
    return written
