"""Bayesian reads of conversion experiments: each arm's Beta posterior, the probability that it
is the best arm and the conversions expected to be lost by choosing it.

With a Beta(1, 1) prior (uniform) and ``c`` conversions out of ``n`` users, an arm's rate has the
Beta(1 + c, 1 + n - c) posterior. Its mean and equal-tailed credible interval are exact
(``scipy.special``); the probability of being the best arm, the expected loss
``E[max_j p_j - p_i]`` and the interval of each arm's difference (and lift) against the champion
are Monte Carlo over joint draws of the posteriors, seeded so that the same counts give the same
figures. These are the figures a bandit experiment is judged by: its allocation adapts to the
outcomes, which biases a z-test of the counts, while the posteriors stay exact.

Example:
    >>> arms = arm_posteriors([10, 40], [100, 100], alpha=0.05, draws=20_000, seed=1)
    >>> round(arms[1].mean, 4), arms[1].probability_best
    (0.402, 1.0)
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import special

from skewless.errors import ExperimentInputError
from skewless.experiments._inputs import check_alpha, check_count

__all__ = ["DEFAULT_DRAWS", "ArmPosterior", "arm_posteriors"]

DEFAULT_DRAWS = 100_000
"""Joint posterior draws: the Monte Carlo error of a probability is at most 0.5 / sqrt(draws)."""
_CHUNK = 50_000


@dataclass(frozen=True)
class ArmPosterior:
    """One arm's posterior, and its comparison with the champion (the first arm).

    Attributes:
        alpha, beta: the Beta posterior's parameters (1 + conversions, 1 + failures).
        mean: the posterior mean rate ``alpha / (alpha + beta)``.
        interval: the equal-tailed credible interval of the rate at level 1 - alpha.
        probability_best: the probability that this arm has the highest rate.
        expected_loss: ``E[max_j p_j - p_this]``, the rate lost by choosing this arm.
        probability_beats_champion: ``P(p_this > p_champion)`` (0.5 for the champion).
        difference: the posterior mean of ``p_this - p_champion``.
        difference_interval: its credible interval at level 1 - alpha.
        lift: the posterior mean of ``p_this / p_champion - 1``.
        lift_interval: its credible interval at level 1 - alpha.
    """

    alpha: float
    beta: float
    mean: float
    interval: tuple[float, float]
    probability_best: float
    expected_loss: float
    probability_beats_champion: float
    difference: float
    difference_interval: tuple[float, float]
    lift: float
    lift_interval: tuple[float, float]


def _check_draws(draws: int) -> int:
    if isinstance(draws, bool) or not isinstance(draws, numbers.Integral) or draws < 100:
        raise ExperimentInputError(f"draws must be an int of at least 100 (100000), got {draws!r}")
    return int(draws)


def arm_posteriors(
    conversions: Sequence[int],
    totals: Sequence[int],
    *,
    alpha: float = 0.05,
    draws: int = DEFAULT_DRAWS,
    seed: int = 0,
) -> list[ArmPosterior]:
    """The posterior of each arm, the first one the champion.

    Args:
        conversions: converted users per arm.
        totals: users per arm (an arm without users has the uniform prior as posterior).
        alpha: credible intervals have level 1 - alpha.
        draws: joint Monte Carlo draws for the probabilities, losses and comparisons.
        seed: seeds the draws (the same counts and seed give the same figures).

    Returns:
        One :class:`ArmPosterior` per arm, in the order given.

    Raises:
        ExperimentInputError: fewer than two arms, lengths that differ, a negative count,
            conversions above their total, alpha outside (0, 1), or fewer than 100 draws.
    """
    alpha = check_alpha(alpha)
    draws = _check_draws(draws)
    if len(conversions) != len(totals) or len(totals) < 2:
        raise ExperimentInputError(
            f"pass one conversion count and one total per arm, for at least 2 arms (got "
            f"{len(conversions)} and {len(totals)})"
        )
    conv = [check_count(c, "conversions") for c in conversions]
    tot = [check_count(n, "total") for n in totals]
    for c, n in zip(conv, tot, strict=True):
        if c > n:
            raise ExperimentInputError(f"conversions ({c}) exceed their total ({n})")
    a = np.array([1.0 + c for c in conv])
    b = np.array([1.0 + n - c for c, n in zip(conv, tot, strict=True)])
    rng = np.random.default_rng(seed)
    arms = len(a)
    wins = np.zeros(arms)
    loss = np.zeros(arms)
    beats = np.zeros(arms)
    differences: list[np.ndarray] = []
    lifts: list[np.ndarray] = []
    for start in range(0, draws, _CHUNK):
        size = min(_CHUNK, draws - start)
        samples = rng.beta(a, b, size=(size, arms))
        best = samples.max(axis=1)
        wins += np.bincount(samples.argmax(axis=1), minlength=arms)
        loss += (best[:, None] - samples).sum(axis=0)
        champion = samples[:, :1]
        beats += (samples > champion).sum(axis=0)
        differences.append(samples - champion)
        lifts.append(samples / champion - 1.0)
    difference = np.concatenate(differences)
    lift = np.concatenate(lifts)
    quantiles = [alpha / 2.0, 1.0 - alpha / 2.0]
    low_high_d = np.quantile(difference, quantiles, axis=0)
    low_high_l = np.quantile(lift, quantiles, axis=0)
    out = []
    for i in range(arms):
        low, high = special.betaincinv(a[i], b[i], quantiles)
        out.append(
            ArmPosterior(
                alpha=float(a[i]),
                beta=float(b[i]),
                mean=float(a[i] / (a[i] + b[i])),
                interval=(float(low), float(high)),
                probability_best=float(wins[i] / draws),
                expected_loss=float(loss[i] / draws),
                probability_beats_champion=0.5 if i == 0 else float(beats[i] / draws),
                difference=float(difference[:, i].mean()),
                difference_interval=(float(low_high_d[0, i]), float(low_high_d[1, i])),
                lift=float(lift[:, i].mean()) if math.isfinite(lift[:, i].mean()) else math.nan,
                lift_interval=(float(low_high_l[0, i]), float(low_high_l[1, i])),
            )
        )
    return out
