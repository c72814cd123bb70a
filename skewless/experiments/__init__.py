"""The statistics of A/B experiments: fixed-horizon tests, always-valid sequential tests,
sample sizes and power, and multi-armed bandits.

>>> from skewless.experiments import proportion_test
>>> proportion_test(100, 1000, 130, 1000).recommendation
'promote challenger'

See ``docs/experiments.md`` for the formulas and the libraries each statistic agrees with.
"""

from __future__ import annotations

from skewless.experiments.bandits import UCB1, EpsilonGreedy, ThompsonSampling, bandit_from_dict
from skewless.experiments.fixed import mean_test, proportion_test
from skewless.experiments.results import (
    MeanResult,
    PowerResult,
    ProportionResult,
    SampleSize,
    SequentialResult,
)
from skewless.experiments.sequential import sequential_mean_test, sequential_test
from skewless.experiments.sizing import power, sample_size

__all__ = [
    "UCB1",
    "EpsilonGreedy",
    "MeanResult",
    "PowerResult",
    "ProportionResult",
    "SampleSize",
    "SequentialResult",
    "ThompsonSampling",
    "bandit_from_dict",
    "mean_test",
    "power",
    "proportion_test",
    "sample_size",
    "sequential_mean_test",
    "sequential_test",
]
