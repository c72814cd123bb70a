"""What an experiment's analysis found: per arm, over time and overall, as JSON-ready records.

The shape of :meth:`ExperimentAnalysis.to_dict` (times are ISO-8601 UTC, intervals two-item
lists, an undefined figure ``null``)::

    {
      "experiment": "churn-v4", "model": "churn", "status": "running",
      "policy": "split",                  # split | thompson | epsilon_greedy | ucb1
      "method": "sequential",             # sequential | fixed | bayesian (bandits)
      "alpha": 0.05,                      # the experiment's
      "comparison_alpha": 0.05,           # each challenger's: alpha / number of challengers
      "window": {"start": "...", "end": "..."},
      "bucket": "hour",                   # hour | day: the series' step
      "decision": "promote challenger",   # see docs/experiments.md, "Analysis"
      "winner": "challenger",             # the arm to promote, or null
      "arms": [{                          # champion first, then challengers, then shadows
        "name": "challenger", "model": "churn/4", "role": "challenger",
        "logged": 10210,                  # answered rows in the window
        "n": 10003,                       # of them, rows with feedback: the users compared
        "conversions": 1412, "rate": 0.1412, "rate_ci": [0.134, 0.148],
        "fallbacks": 0,                   # rows answered by the champion (champion only)
        "versions": [4],                  # model versions that answered
        "difference": 0.0398, "lift": 0.392, "ci": [...], "lift_ci": [...],
        "p_value": 1.2e-17,               # null for bandits and shadows
        "probability_best": null, "expected_loss": null,   # bandits only
        "probability_beats_champion": null,
        "decision": "promote challenger"  # champion | shadow | not enough data | ...
      }, ...],
      "excluded": {"header": 120, "shadow": 10210, "other": 0},
      "series": [{"arm": "challenger", "points": [{
        "at": "...", "control_n": 410, "treatment_n": 395, "difference": 0.03,
        "lift": 0.31, "ci": [...], "lift_ci": [...], "p_value": 0.2}, ...]}],
      "record": {...},                    # ExperimentRecord.to_dict(): weights history, decisions
      "notes": ["..."]
    }
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson

__all__ = [
    "NOT_ENOUGH_DATA",
    "ArmResult",
    "ExperimentAnalysis",
    "SeriesPoint",
]

NOT_ENOUGH_DATA = "not enough data"


def plain(value: Any) -> Any:
    """``value`` as JSON-ready data: tuples as lists, non-finite floats as None, times ISO."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, tuple | list):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, datetime):
        return value.isoformat()
    return value


@dataclass(frozen=True)
class ArmResult:
    """One arm's counts and, for a challenger, its comparison with the champion.

    Attributes:
        name, model: the arm and the model version it answers with, as declared.
        role: ``champion``, ``challenger`` or ``shadow``.
        logged: answered rows in the window (for a shadow: rows it scored).
        n: of them, the rows with feedback, which are the users compared.
        conversions: rows whose label counts as a conversion.
        rate: conversions / n (None without rows).
        rate_ci: the rate's interval at level 1 - alpha (Wilson score interval for a split
            experiment, the posterior's credible interval for a bandit).
        fallbacks: rows the champion answered for a challenger that failed or was too slow
            (counted for the champion: its answer is what the user saw).
        versions: the model versions that answered, from the log.
        difference, lift, ci, lift_ci: rate minus the champion's rate, relative to it, the
            difference's interval and that interval over the champion's rate.
        p_value: the test's p-value (always-valid for a sequential analysis; None for a
            bandit, judged by its posterior).
        probability_best, expected_loss, probability_beats_champion: a bandit arm's posterior.
        decision: what this arm's figures say.
    """

    name: str
    model: str
    role: str
    logged: int = 0
    n: int = 0
    conversions: int = 0
    rate: float | None = None
    rate_ci: tuple[float, float] | None = None
    fallbacks: int = 0
    versions: tuple[int, ...] = ()
    difference: float | None = None
    lift: float | None = None
    ci: tuple[float, float] | None = None
    lift_ci: tuple[float, float] | None = None
    p_value: float | None = None
    probability_best: float | None = None
    expected_loss: float | None = None
    probability_beats_champion: float | None = None
    decision: str = ""

    def to_dict(self) -> dict[str, Any]:
        """The arm as JSON-ready data."""
        return {k: plain(v) for k, v in self.__dict__.items()}


@dataclass(frozen=True)
class SeriesPoint:
    """A challenger against the champion over every row answered up to ``at``."""

    at: datetime
    control_n: int
    treatment_n: int
    difference: float | None = None
    lift: float | None = None
    ci: tuple[float, float] | None = None
    lift_ci: tuple[float, float] | None = None
    p_value: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """The point as JSON-ready data."""
        return {k: plain(v) for k, v in self.__dict__.items()}


@dataclass(frozen=True)
class ExperimentAnalysis:
    """The analysis of one experiment (see the module docstring for its JSON shape).

    Attributes:
        experiment, model, status, policy: from the record.
        method: ``sequential``, ``fixed`` or ``bayesian``.
        alpha, comparison_alpha: the experiment's level, and each challenger's (Bonferroni).
        start, end: the window of prediction times read.
        bucket: ``hour`` or ``day``, the step of :attr:`series`.
        decision: the experiment's decision; :attr:`winner` the arm to promote, if any.
        arms: champion first, then the challengers, then the shadows.
        excluded: rows of the experiment left out, by why (``header``, ``shadow``, ``other``).
        series: per challenger, the cumulative comparison at the end of every bucket.
        record: the experiment's record as a dict (weights history, decisions).
        notes: what a reader should know about the figures.
    """

    experiment: str
    model: str
    status: str
    policy: str
    method: str
    alpha: float
    comparison_alpha: float
    start: datetime
    end: datetime
    bucket: str
    decision: str
    winner: str | None
    arms: tuple[ArmResult, ...]
    excluded: dict[str, int]
    series: dict[str, tuple[SeriesPoint, ...]] = field(default_factory=dict)
    record: dict[str, Any] = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    def arm(self, name: str) -> ArmResult:
        """The result of arm ``name``.

        Raises:
            KeyError: no arm of that name.
        """
        for result in self.arms:
            if result.name == name:
                return result
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        """The analysis as JSON-ready data (the module docstring shows its shape)."""
        return {
            "experiment": self.experiment,
            "model": self.model,
            "status": self.status,
            "policy": self.policy,
            "method": self.method,
            "alpha": self.alpha,
            "comparison_alpha": self.comparison_alpha,
            "window": {"start": self.start.isoformat(), "end": self.end.isoformat()},
            "bucket": self.bucket,
            "decision": self.decision,
            "winner": self.winner,
            "arms": [a.to_dict() for a in self.arms],
            "excluded": dict(self.excluded),
            "series": [
                {"arm": arm, "points": [p.to_dict() for p in points]}
                for arm, points in self.series.items()
            ],
            "record": self.record,
            "notes": list(self.notes),
        }

    def to_json(self) -> str:
        """:meth:`to_dict` as indented JSON text."""
        return orjson.dumps(self.to_dict(), option=orjson.OPT_INDENT_2).decode() + "\n"
