"""The answers a server gave recently, so that feedback can be matched to the arm that answered.

:class:`RecentAnswers` is a prediction sink that remembers, for the last ``max_requests``
requests, which arm answered each entity and how that arm was chosen, then hands the
predictions on to the real sink (the prediction log). ``POST /feedback`` claims the items
it receives: each (request, arm) pair yields one :class:`Outcome` the first time feedback
names it; an item for a request this process did not answer (another worker's, one from
before a restart, or one older than the window) is unmatched. It is still recorded next to
the log, where :func:`~skewless.serving.feedback.labelled_predictions` joins it.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from skewless.serving.records import Prediction
    from skewless.serving.service import PredictionSink

__all__ = ["MAX_RECENT_REQUESTS", "Outcome", "RecentAnswers", "is_reward"]

MAX_RECENT_REQUESTS = 100_000
_TRUE_TEXT = frozenset({"1", "true", "yes", "y", "t"})


def is_reward(label: Any) -> bool:
    """Whether a feedback label counts as a conversion: ``true``, a non-zero number, or the
    text ``1``, ``true``, ``yes`` (any case).

    >>> [is_reward(v) for v in (True, 0, 2.5, "Yes", "no", "0")]
    [True, False, True, True, False, False]
    """
    if isinstance(label, bool):
        return label
    if isinstance(label, int | float):
        return label != 0
    return isinstance(label, str) and label.strip().lower() in _TRUE_TEXT


@dataclass(frozen=True)
class Outcome:
    """The first feedback on the entities one arm answered in one request."""

    experiment: str | None
    arm: str | None
    assignment: str | None
    reward: bool


@dataclass
class _Answered:
    experiment: str | None
    rows: dict[int, tuple[str | None, str | None]] = field(default_factory=dict)
    claimed: set[str | None] = field(default_factory=set)


class RecentAnswers:
    """A sink that remembers who answered the last ``max_requests`` requests.

    Args:
        sink: where the predictions go on to (the prediction log), or None.
        max_requests: how many requests are remembered (the oldest are forgotten).

    Attributes:
        unmatched: feedback items for requests this process does not remember.

    Example:
        >>> from datetime import UTC, datetime
        >>> from skewless.serving.records import Prediction
        >>> recent = RecentAnswers(None)
        >>> recent.submit([Prediction("r1", datetime.now(UTC), "churn", 1, {"user_id": [7]},
        ...                           {}, [0], None, [], 1.0, arm="a", experiment="e",
        ...                           assignment="sticky")])
        >>> recent.claim([{"request_id": "r1", "label": 1, "row": None}])
        ([Outcome(experiment='e', arm='a', assignment='sticky', reward=True)], 0)
        >>> recent.claim([{"request_id": "r9", "label": 1, "row": None}]), recent.unmatched
        (([], 1), 1)
    """

    def __init__(
        self, sink: PredictionSink | None, max_requests: int = MAX_RECENT_REQUESTS
    ) -> None:
        self.sink = sink
        self.max_requests = max_requests
        self.unmatched = 0
        self._answers: OrderedDict[str, _Answered] = OrderedDict()
        self._lock = threading.Lock()

    def submit(self, predictions: Sequence[Prediction]) -> None:
        """Remember who answered (shadow predictions never answered), then pass them on."""
        with self._lock:
            for p in predictions:
                if p.assignment == "shadow":
                    continue
                entry = self._answers.get(p.request_id)
                if entry is None:
                    entry = self._answers[p.request_id] = _Answered(p.experiment)
                rows = p.rows if p.rows is not None else range(len(p.predictions))
                for row in rows:
                    entry.rows[row] = (p.arm, p.assignment)
            while len(self._answers) > self.max_requests:
                self._answers.popitem(last=False)
        if self.sink is not None:
            self.sink.submit(predictions)

    def close(self) -> None:
        if self.sink is not None:
            self.sink.close()

    def claim(self, items: Sequence[Mapping[str, Any]]) -> tuple[list[Outcome], int]:
        """The outcomes feedback ``items`` (``request_id``, ``label``, ``row``) bring, one per
        (request, arm) named for the first time, and how many items name a request (or row)
        this process does not remember (added to :attr:`unmatched`).
        """
        outcomes: list[Outcome] = []
        missed = 0
        with self._lock:
            for item in items:
                entry = self._answers.get(str(item["request_id"]))
                row = item.get("row")
                if entry is None or (row is not None and row not in entry.rows):
                    missed += 1
                    continue
                chosen = entry.rows if row is None else {row: entry.rows[row]}
                for arm, assignment in dict.fromkeys(chosen.values()):
                    if arm in entry.claimed:
                        continue
                    entry.claimed.add(arm)
                    outcomes.append(
                        Outcome(entry.experiment, arm, assignment, is_reward(item["label"]))
                    )
            self.unmatched += missed
        return outcomes, missed
