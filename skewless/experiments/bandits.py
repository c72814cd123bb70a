"""Multi-armed bandits for experiments that shift traffic while they learn, with boolean rewards
(a conversion or not).

Every policy has the same API: ``select_arm()`` picks the arm of the next user,
``update(arm, reward)`` records that user's outcome, ``allocation()`` is the share of traffic
each arm gets from the policy now, ``get_allocation()`` the normalized estimated conversion
rates, and ``to_dict()`` / ``from_dict()`` persist the whole state (counts and the random
generator's position) as JSON-ready data, so a server can store a bandit between requests and
resume it exactly where it stopped.

============================ ====================================== ===========================
policy                       ``select_arm``                         ``allocation()``
============================ ====================================== ===========================
:class:`ThompsonSampling`    the arm of the highest draw from each  P(arm is best) under the
                             arm's Beta(1 + successes, 1 +          posteriors, by Monte Carlo
                             failures) posterior                    (10,000 draws)
:class:`EpsilonGreedy`       a uniformly random arm with            (1 - epsilon) split over
                             probability epsilon, else the arm of   the best arms, plus
                             the best observed rate                 epsilon / n_arms each
:class:`UCB1`                each arm once, then the highest        1 split over the arms it
                             ``rate + sqrt(2 ln(pulls) / n_arm)``   would pick now
============================ ====================================== ===========================

Ties between arms are broken uniformly at random with the bandit's own generator.
"""

from __future__ import annotations

import math
import numbers
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt

from skewless.errors import ExperimentInputError
from skewless.experiments._bandit import Bandit, FloatArray, IntArray

__all__ = ["UCB1", "EpsilonGreedy", "ThompsonSampling", "bandit_from_dict"]


class ThompsonSampling(Bandit):
    """Thompson sampling with Beta(1, 1) priors: each user goes to the arm whose draw from its
    Beta(1 + successes, 1 + failures) posterior is highest.

    Args:
        n_arms: the number of arms (at least 2).
        seed: seeds the selections and the Monte Carlo of :meth:`allocation`; None for fresh
            randomness.

    Raises:
        ExperimentInputError: n_arms is not a whole number of at least 2, or seed is not a
            non-negative int.

    Example:
        >>> bandit = ThompsonSampling(2, seed=7)
        >>> for _ in range(20):
        ...     bandit.update(0, False)
        ...     bandit.update(1, True)
        >>> bandit.allocation()
        (0.0, 1.0)
        >>> [round(share, 3) for share in bandit.get_allocation()]
        [0.045, 0.955]
    """

    policy: ClassVar[str] = "thompson"

    def _posteriors(self) -> tuple[IntArray, IntArray]:
        return 1 + self._successes, 1 + self._pulls - self._successes

    def select_arm(self) -> int:
        """The arm of the next user: the highest of one draw from each posterior.

        Returns:
            The arm's index.
        """
        a, b = self._posteriors()
        draws = self._rng.beta(a, b)
        return self._pick(draws == draws.max())

    def allocation(self, draws: int = 10_000) -> tuple[float, ...]:
        """The probability that each arm is the best, estimated from ``draws`` joint draws of
        the posteriors (seeded by the bandit's seed, so the same state gives the same shares).

        Args:
            draws: the number of Monte Carlo draws (the error is at most 0.5 / sqrt(draws)).

        Returns:
            One share per arm, summing to 1.

        Raises:
            ExperimentInputError: draws is not a positive int.
        """
        if isinstance(draws, bool) or not isinstance(draws, numbers.Integral) or draws < 1:
            raise ExperimentInputError(f"draws must be a positive int such as 10000, got {draws!r}")
        a, b = self._posteriors()
        samples = np.random.default_rng(self.seed).beta(a, b, size=(int(draws), self.n_arms))
        wins = np.bincount(samples.argmax(axis=1), minlength=self.n_arms)
        return tuple(float(w) for w in wins / int(draws))

    def _estimates(self) -> FloatArray:
        a, b = self._posteriors()
        return a / (a + b)

    def get_allocation(self) -> tuple[float, ...]:
        """The posterior means ``(1 + successes) / (2 + pulls)``, normalized to sum to 1.

        Returns:
            One share per arm.
        """
        return super().get_allocation()


class EpsilonGreedy(Bandit):
    """Epsilon-greedy: a random arm with probability ``epsilon``, else the arm with the best
    observed conversion rate (an arm never pulled counts as 0).

    Args:
        n_arms: the number of arms (at least 2).
        epsilon: the share of users sent to a uniformly random arm, in [0, 1].
        seed: seeds the exploration and the ties; None for fresh randomness.

    Raises:
        ExperimentInputError: n_arms or seed invalid, or epsilon outside [0, 1].
    """

    policy: ClassVar[str] = "epsilon_greedy"
    epsilon: float

    def __init__(self, n_arms: int, epsilon: float = 0.1, seed: int | None = None) -> None:
        super().__init__(n_arms, seed)
        if (
            isinstance(epsilon, bool)
            or not isinstance(epsilon, numbers.Real)
            or not 0.0 <= epsilon <= 1.0
        ):
            raise ExperimentInputError(f"epsilon must be in [0, 1] (e.g. 0.1), got {epsilon!r}")
        self.epsilon = float(epsilon)

    def _best(self) -> npt.NDArray[np.bool_]:
        rates = self._rates()
        return rates == rates.max()

    def select_arm(self) -> int:
        """The arm of the next user.

        Returns:
            The arm's index.
        """
        if self._rng.random() < self.epsilon:
            return int(self._rng.integers(self.n_arms))
        return self._pick(self._best())

    def allocation(self) -> tuple[float, ...]:
        """The share of users each arm gets from the policy now: ``epsilon / n_arms`` each,
        plus ``1 - epsilon`` split equally over the arms of the best observed rate.

        Returns:
            One share per arm, summing to 1.
        """
        best = self._best()
        shares = self.epsilon / self.n_arms + (1.0 - self.epsilon) * best / best.sum()
        return tuple(float(s) for s in shares)

    def _settings(self) -> dict[str, Any]:
        return {"epsilon": self.epsilon}

    @classmethod
    def _from_settings(cls, data: dict[str, Any]) -> Bandit:
        return cls(data["n_arms"], epsilon=data["epsilon"], seed=data["seed"])


class UCB1(Bandit):
    """UCB1 (Auer et al. 2002): every arm once, then the arm of the highest upper confidence
    bound ``rate + sqrt(2 ln(total pulls) / pulls of the arm)``.

    Args:
        n_arms: the number of arms (at least 2).
        seed: seeds the choice between tied arms; None for fresh randomness.

    Raises:
        ExperimentInputError: n_arms is not a whole number of at least 2, or seed invalid.
    """

    policy: ClassVar[str] = "ucb1"

    def _chosen(self) -> npt.NDArray[np.bool_]:
        """The arms the policy would pick now (ties included)."""
        untried = self._pulls == 0
        if untried.any():
            return untried
        bounds = self._rates() + np.sqrt(2.0 * math.log(float(self._pulls.sum())) / self._pulls)
        return bounds == bounds.max()

    def select_arm(self) -> int:
        """The arm of the next user.

        Returns:
            The arm's index.
        """
        return self._pick(self._chosen())

    def allocation(self) -> tuple[float, ...]:
        """The share of users each arm gets from the policy now: 1 split equally over the arms
        it would pick (the untried arms first, then those of the highest bound).

        Returns:
            One share per arm, summing to 1.
        """
        chosen = self._chosen()
        return tuple(float(s) for s in chosen / chosen.sum())


_POLICIES: dict[str, type[Bandit]] = {
    cls.policy: cls for cls in (ThompsonSampling, EpsilonGreedy, UCB1)
}


def bandit_from_dict(data: dict[str, Any]) -> ThompsonSampling | EpsilonGreedy | UCB1:
    """The bandit of any policy saved by ``to_dict()``.

    Args:
        data: the dict a bandit's ``to_dict`` returned.

    Returns:
        The bandit, resumed where it stopped.

    Raises:
        ExperimentInputError: the policy is unknown or the state malformed.
    """
    policy = data.get("policy") if isinstance(data, dict) else None
    if policy not in _POLICIES:
        raise ExperimentInputError(
            f"unknown bandit policy {policy!r}: saved state names one of {sorted(_POLICIES)}"
        )
    bandit: ThompsonSampling | EpsilonGreedy | UCB1 = _POLICIES[policy].from_dict(data)
    return bandit
