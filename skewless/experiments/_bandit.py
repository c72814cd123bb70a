"""What every bandit policy shares: the counts per arm, the checks of arms and rewards, random
tie-breaking, and the state a server persists (``to_dict`` / ``from_dict``), the random
generator's position included so that a resumed bandit continues exactly where it stopped.
"""

from __future__ import annotations

import numbers
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt

from skewless.errors import ExperimentInputError

__all__ = ["Bandit", "FloatArray", "IntArray"]

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]


def _rng_state(rng: np.random.Generator) -> dict[str, Any]:
    """The generator's PCG64 position, its 128-bit integers as decimal strings (JSON encoders
    such as orjson refuse integers past 64 bits)."""
    state = rng.bit_generator.state
    return {
        "state": str(state["state"]["state"]),
        "inc": str(state["state"]["inc"]),
        "has_uint32": int(state["has_uint32"]),
        "uinteger": int(state["uinteger"]),
    }


def _restore_rng(saved: dict[str, Any]) -> np.random.Generator:
    rng = np.random.default_rng()
    rng.bit_generator.state = {
        "bit_generator": "PCG64",
        "state": {"state": int(saved["state"]), "inc": int(saved["inc"])},
        "has_uint32": int(saved["has_uint32"]),
        "uinteger": int(saved["uinteger"]),
    }
    return rng


class Bandit:
    """The counts, checks, ties and persistence every policy shares."""

    policy: ClassVar[str]
    n_arms: int
    seed: int | None
    _rng: np.random.Generator

    def __init__(self, n_arms: int, seed: int | None = None) -> None:
        if isinstance(n_arms, bool) or not isinstance(n_arms, numbers.Integral) or n_arms < 2:
            raise ExperimentInputError(
                f"n_arms must be a whole number of at least 2, got {n_arms!r}"
            )
        if seed is not None and (
            isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0
        ):
            raise ExperimentInputError(f"seed must be None or a non-negative int, got {seed!r}")
        self.n_arms = int(n_arms)
        self.seed = None if seed is None else int(seed)
        self._rng = np.random.default_rng(self.seed)
        self._pulls: IntArray = np.zeros(self.n_arms, dtype=np.int64)
        self._successes: IntArray = np.zeros(self.n_arms, dtype=np.int64)

    @property
    def pulls(self) -> tuple[int, ...]:
        """How many rewards each arm has received."""
        return tuple(int(n) for n in self._pulls)

    @property
    def successes(self) -> tuple[int, ...]:
        """How many of those rewards were True, per arm."""
        return tuple(int(n) for n in self._successes)

    def _check_arm(self, arm: int) -> int:
        if isinstance(arm, bool) or not isinstance(arm, numbers.Integral):
            raise ExperimentInputError(
                f"arm must be an int from 0 to {self.n_arms - 1}, got {arm!r}"
            )
        if not 0 <= arm < self.n_arms:
            raise ExperimentInputError(
                f"arm {arm} does not exist: this bandit has arms 0 to {self.n_arms - 1}"
            )
        return int(arm)

    def update(self, arm: int, reward: bool) -> None:
        """Record the outcome of one user shown ``arm``.

        Args:
            arm: the arm's index, from 0 to ``n_arms - 1``.
            reward: True for a conversion, False for none (1 and 0 are accepted too).

        Raises:
            ExperimentInputError: the arm does not exist, or the reward is not a boolean.
        """
        index = self._check_arm(arm)
        if isinstance(reward, bool | np.bool_):
            success = bool(reward)
        elif isinstance(reward, numbers.Integral) and reward in (0, 1):
            success = reward == 1
        else:
            raise ExperimentInputError(
                f"reward must be a boolean (True for a conversion), got {reward!r}"
            )
        self._pulls[index] += 1
        self._successes[index] += success

    def _pick(self, candidates: npt.NDArray[np.bool_]) -> int:
        """One of the candidate arms, uniformly at random."""
        indices = np.flatnonzero(candidates)
        if indices.size == 1:
            return int(indices[0])
        return int(indices[self._rng.integers(indices.size)])

    def _rates(self) -> FloatArray:
        """The observed conversion rate of each arm (0 for an arm never pulled)."""
        return np.divide(
            self._successes,
            self._pulls,
            out=np.zeros(self.n_arms, dtype=np.float64),
            where=self._pulls > 0,
        )

    def get_allocation(self) -> tuple[float, ...]:
        """The estimated conversion rates, normalized to sum to 1 (equal shares while every
        estimate is 0).

        Returns:
            One share per arm.
        """
        rates = self._estimates()
        total = float(rates.sum())
        if total == 0.0:
            return tuple([1.0 / self.n_arms] * self.n_arms)
        return tuple(float(r) for r in rates / total)

    def _estimates(self) -> FloatArray:
        return self._rates()

    def _settings(self) -> dict[str, Any]:
        return {}

    def to_dict(self) -> dict[str, Any]:
        """The whole state as JSON-ready data: the policy, its settings, the counts and the
        random generator's position.

        Returns:
            A dict :meth:`from_dict` (or :func:`bandit_from_dict`) turns back into the bandit.
        """
        return {
            "policy": self.policy,
            "n_arms": self.n_arms,
            "seed": self.seed,
            **self._settings(),
            "pulls": self._pulls.tolist(),
            "successes": self._successes.tolist(),
            "rng": _rng_state(self._rng),
        }

    @classmethod
    def _from_settings(cls, data: dict[str, Any]) -> Bandit:
        return cls(data["n_arms"], seed=data["seed"])

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Any:
        """The bandit saved by :meth:`to_dict`, resumed where it stopped.

        Args:
            data: the dict :meth:`to_dict` returned (possibly through JSON).

        Returns:
            A bandit of this class with the saved counts and generator position.

        Raises:
            ExperimentInputError: the data is of another policy, misses a key or holds counts
                that do not fit together.
        """
        if not isinstance(data, dict) or data.get("policy") != cls.policy:
            got = data.get("policy") if isinstance(data, dict) else type(data).__name__
            raise ExperimentInputError(
                f"{cls.__name__}.from_dict needs a dict saved with policy {cls.policy!r}, "
                f"got {got!r}: use bandit_from_dict to load any policy"
            )
        try:
            bandit = cls._from_settings(data)
            pulls = np.asarray(data["pulls"], dtype=np.int64)
            successes = np.asarray(data["successes"], dtype=np.int64)
            rng = _restore_rng(data["rng"])
        except (KeyError, TypeError, ValueError) as error:
            raise ExperimentInputError(
                f"saved {cls.policy} bandit state is incomplete or malformed ({error}): pass "
                "the dict to_dict returned"
            ) from None
        shape_ok = pulls.shape == successes.shape == (bandit.n_arms,)
        if not shape_ok or (pulls < 0).any() or (successes < 0).any() or (successes > pulls).any():
            raise ExperimentInputError(
                f"saved {cls.policy} bandit counts do not fit together: pulls and successes "
                f"need {bandit.n_arms} non-negative entries each, successes <= pulls"
            )
        bandit._pulls, bandit._successes, bandit._rng = pulls, successes, rng
        return bandit

    def __repr__(self) -> str:
        return f"{type(self).__name__}(n_arms={self.n_arms}, pulls={list(self.pulls)})"
