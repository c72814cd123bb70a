"""What a routing server counts and learns about its experiment: per-arm counters and the
bandit's allocation.

The unit of every count is one arm's share of one request (the entities of a request that
one arm answered): a request whose entities were split between two arms counts once for
each. Feedback is counted the same way, the first time it names that share.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from typing import TYPE_CHECKING, Any

from skewless.experiments.bandits import UCB1, EpsilonGreedy, ThompsonSampling
from skewless.serving.recent import Outcome, is_reward

if TYPE_CHECKING:
    import pyarrow as pa

Policy = ThompsonSampling | EpsilonGreedy | UCB1

__all__ = ["ANALYSED", "BanditAllocation", "ExperimentCounters"]

logger = logging.getLogger("skewless.serving")

ANALYSED = frozenset({"sticky", "bandit"})
"""The assignments an experiment's analysis counts: header-routed answers, fallbacks and
shadows are left out (they are not the allocation's choice)."""


class ExperimentCounters:
    """Counts per experiment and arm, for ``/metrics`` (thread-safe).

    Attributes:
        requests: ``(experiment, arm, assignment)`` -> answers (shadow scorings included).
        conversions: ``(experiment, arm)`` -> feedback that was a reward, on analysed answers.
        fallbacks: ``(experiment, arm)`` -> answers of an arm that failed or timed out, which
            the champion gave instead.
    """

    def __init__(self) -> None:
        self.requests: Counter[tuple[str, str, str]] = Counter()
        self.conversions: Counter[tuple[str, str]] = Counter()
        self.fallbacks: Counter[tuple[str, str]] = Counter()
        self.lock = threading.Lock()

    def answered(self, experiment: str, arm: str, assignment: str, n: int = 1) -> None:
        with self.lock:
            self.requests[(experiment, arm, assignment)] += n

    def fell_back(self, experiment: str, arm: str, n: int = 1) -> None:
        with self.lock:
            self.fallbacks[(experiment, arm)] += n

    def observed(self, outcome: Outcome) -> None:
        experiment, arm = outcome.experiment, outcome.arm
        if outcome.reward and outcome.assignment in ANALYSED and experiment and arm:
            with self.lock:
                self.conversions[(experiment, arm)] += 1

    def snapshot(self) -> dict[str, dict[Any, int]]:
        with self.lock:
            return {
                "requests": dict(self.requests),
                "conversions": dict(self.conversions),
                "fallbacks": dict(self.fallbacks),
            }


def _bandit(policy: str, n_arms: int, seed: int | None) -> Policy:
    if policy == "thompson":
        return ThompsonSampling(n_arms, seed=seed)
    if policy == "epsilon_greedy":
        return EpsilonGreedy(n_arms, seed=seed)
    if policy == "ucb1":
        return UCB1(n_arms, seed=seed)
    raise ValueError(
        f"policy {policy!r} is not a bandit policy: use thompson, epsilon_greedy or ucb1"
    )


class BanditAllocation:
    """A bandit over named arms: chooses the arm of each request and learns from rewards.

    Args:
        policy: ``thompson``, ``epsilon_greedy`` or ``ucb1``.
        arms: the answering arms, champion first (the bandit's arm order).
        seed: seeds the bandit (None: fresh randomness).

    Example:
        >>> allocation = BanditAllocation("thompson", ["a", "b"], seed=1)
        >>> for _ in range(50):
        ...     allocation.update("a", False)
        ...     allocation.update("b", True)
        >>> allocation.choose()
        'b'
    """

    def __init__(self, policy: str, arms: list[str], seed: int | None = None) -> None:
        self.policy = policy
        self.arms = list(arms)
        self._index = {name: i for i, name in enumerate(self.arms)}
        self._bandit = _bandit(policy, len(self.arms), seed)
        self._lock = threading.Lock()

    def choose(self) -> str:
        """The arm of the next request."""
        with self._lock:
            return self.arms[self._bandit.select_arm()]

    def update(self, arm: str, reward: bool) -> None:
        """Learn that an answer of ``arm`` was (or was not) rewarded."""
        index = self._index.get(arm)
        if index is None:
            return
        with self._lock:
            self._bandit.update(index, bool(reward))

    def allocation(self) -> dict[str, float]:
        """The share of traffic each arm gets from the policy now."""
        with self._lock:
            shares = self._bandit.allocation()
        return dict(zip(self.arms, shares, strict=True))

    def describe(self) -> dict[str, Any]:
        """The posteriors' counts and the allocation, as ``GET /model`` shows them."""
        with self._lock:
            pulls, successes = self._bandit.pulls, self._bandit.successes
        return {
            "policy": self.policy,
            "allocation": self.allocation(),
            "rewards": {a: pulls[i] for i, a in enumerate(self.arms)},
            "conversions": {a: successes[i] for i, a in enumerate(self.arms)},
        }

    def learn_from(self, labelled: pa.Table, experiment: str) -> int:
        """Replay the feedback of earlier answers (``labelled_predictions`` rows): one reward
        per (request, arm) routed by the bandit in ``experiment``, from its latest label.

        Returns:
            How many rewards were replayed.
        """
        needed = {"request_id", "arm", "experiment", "assignment", "label", "label_timestamp"}
        if labelled.num_rows == 0 or not needed <= set(labelled.column_names):
            return 0
        rows = labelled.select(sorted(needed)).to_pylist()
        latest: dict[tuple[str, str], tuple[Any, Any]] = {}
        for row in rows:
            if row["experiment"] != experiment or row["assignment"] != "bandit":
                continue
            key = (row["request_id"], row["arm"])
            seen = latest.get(key)
            if seen is None or row["label_timestamp"] > seen[0]:
                latest[key] = (row["label_timestamp"], row["label"])
        for (_, arm), (_, label) in latest.items():
            self.update(arm, is_reward(label))
        return len(latest)
