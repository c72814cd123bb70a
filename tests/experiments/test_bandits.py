"""The bandit policies: seeded simulations, allocations against numerical integration, and
their state through JSON."""

from __future__ import annotations

import json
import math

import numpy as np
import orjson
import pytest
from scipy import integrate, stats

from skewless.errors import ExperimentInputError
from skewless.experiments import UCB1, EpsilonGreedy, ThompsonSampling, bandit_from_dict

POLICIES = (
    lambda seed: ThompsonSampling(3, seed=seed),
    lambda seed: EpsilonGreedy(3, epsilon=0.1, seed=seed),
    lambda seed: UCB1(3, seed=seed),
)
NAMES = ("thompson", "epsilon_greedy", "ucb1")


def run(bandit: ThompsonSampling | EpsilonGreedy | UCB1, rates: list[float], users: int) -> None:
    rng = np.random.default_rng(99)
    for _ in range(users):
        arm = bandit.select_arm()
        bandit.update(arm, bool(rng.random() < rates[arm]))


@pytest.mark.parametrize(
    ("make", "share"), list(zip(POLICIES, (0.95, 0.9, 0.85), strict=True)), ids=NAMES
)
def test_a_clearly_best_arm_gets_most_users(make: object, share: float) -> None:
    bandit = make(seed=1)  # type: ignore[operator]
    run(bandit, [0.10, 0.20, 0.40], users=3_000)
    pulls = bandit.pulls
    assert sum(pulls) == 3_000
    assert pulls[2] / 3_000 > share, pulls
    assert bandit.successes[2] / pulls[2] == pytest.approx(0.40, abs=0.05)
    allocation = bandit.allocation()
    assert math.isclose(sum(allocation), 1.0) and max(allocation) == allocation[2]


@pytest.mark.parametrize("make", POLICIES, ids=NAMES)
def test_allocations_sum_to_one_in_every_state(make: object) -> None:
    bandit = make(seed=4)  # type: ignore[operator]
    rng = np.random.default_rng(5)
    for _ in range(50):
        for shares in (bandit.allocation(), bandit.get_allocation()):
            assert len(shares) == 3 and all(0.0 <= s <= 1.0 for s in shares)
            assert math.isclose(sum(shares), 1.0, rel_tol=1e-12)
        bandit.update(int(rng.integers(3)), bool(rng.random() < 0.3))


def p_first_beats_second(a1: int, b1: int, a2: int, b2: int) -> float:
    """P(X1 > X2) for X1 ~ Beta(a1, b1), X2 ~ Beta(a2, b2): the integral of f1(x) F2(x)."""
    value, _ = integrate.quad(lambda x: stats.beta.pdf(x, a1, b1) * stats.beta.cdf(x, a2, b2), 0, 1)
    return float(value)


@pytest.mark.parametrize(
    "outcomes", [((3, 10), (5, 10)), ((0, 0), (1, 1)), ((40, 400), (52, 400)), ((7, 7), (0, 9))]
)
def test_thompson_allocation_is_the_probability_of_being_best(
    outcomes: tuple[tuple[int, int], tuple[int, int]],
) -> None:
    bandit = ThompsonSampling(2, seed=12)
    for arm, (successes, pulls) in enumerate(outcomes):
        for i in range(pulls):
            bandit.update(arm, i < successes)
    (s0, n0), (s1, n1) = outcomes
    exact = p_first_beats_second(1 + s1, 1 + n1 - s1, 1 + s0, 1 + n0 - s0)
    allocation = bandit.allocation(draws=10_000)
    error = math.sqrt(exact * (1 - exact) / 10_000)
    assert abs(allocation[1] - exact) <= 4 * error + 1e-9, (allocation, exact)
    assert allocation[0] == pytest.approx(1 - allocation[1])
    means = [(1 + s0) / (2 + n0), (1 + s1) / (2 + n1)]
    assert bandit.get_allocation() == pytest.approx([m / sum(means) for m in means])


def test_thompson_allocation_of_three_arms_against_integration() -> None:
    bandit = ThompsonSampling(3, seed=3)
    for arm, (successes, pulls) in enumerate([(2, 20), (4, 20), (5, 20)]):
        for i in range(pulls):
            bandit.update(arm, i < successes)
    a = np.array([3, 5, 6])
    b = np.array([19, 17, 16])

    def best(arm: int) -> float:
        def density(x: float) -> float:
            others = [stats.beta.cdf(x, a[j], b[j]) for j in range(3) if j != arm]
            return float(stats.beta.pdf(x, a[arm], b[arm]) * np.prod(others))

        return float(integrate.quad(density, 0, 1)[0])

    exact = [best(arm) for arm in range(3)]
    assert sum(exact) == pytest.approx(1.0, abs=1e-8)
    got = bandit.allocation(draws=20_000)
    for share, p in zip(got, exact, strict=True):
        assert abs(share - p) <= 4 * math.sqrt(p * (1 - p) / 20_000)


def test_thompson_allocation_is_seeded_and_leaves_selection_alone() -> None:
    first, second = ThompsonSampling(3, seed=8), ThompsonSampling(3, seed=8)
    for bandit in (first, second):
        bandit.update(0, True)
        bandit.update(1, False)
    assert first.allocation() == second.allocation()
    first.allocation()
    assert [first.select_arm() for _ in range(20)] == [second.select_arm() for _ in range(20)]


def test_epsilon_greedy_allocation_is_its_policy() -> None:
    bandit = EpsilonGreedy(4, epsilon=0.2, seed=0)
    assert bandit.allocation() == pytest.approx([0.25] * 4)  # all tied at 0
    bandit.update(1, True)
    bandit.update(3, True)
    bandit.update(3, False)
    assert bandit.allocation() == pytest.approx([0.05, 0.85, 0.05, 0.05])
    bandit.update(1, False)
    assert bandit.allocation() == pytest.approx([0.05, 0.45, 0.05, 0.45])
    picks = [bandit.select_arm() for _ in range(4_000)]
    shares = np.bincount(picks, minlength=4) / 4_000
    assert shares == pytest.approx([0.05, 0.45, 0.05, 0.45], abs=0.03)
    greedy = EpsilonGreedy(2, epsilon=0.0, seed=0)
    greedy.update(0, True)
    assert {greedy.select_arm() for _ in range(50)} == {0}


def test_ucb1_tries_every_arm_first_then_follows_the_bound() -> None:
    bandit = UCB1(3, seed=2)
    tried = []
    for _ in range(3):
        assert bandit.allocation() == pytest.approx(
            [1 / (3 - len(tried)) if arm not in tried else 0.0 for arm in range(3)]
        )
        arm = bandit.select_arm()
        assert arm not in tried
        tried.append(arm)
        bandit.update(arm, arm == 2)
    assert bandit.allocation() == (0.0, 0.0, 1.0)  # 1 + sqrt(2 ln 3) beats 0 + sqrt(2 ln 3)
    assert bandit.select_arm() == 2


@pytest.mark.parametrize("make", POLICIES, ids=NAMES)
def test_state_survives_json_and_resumes_the_same_stream(make: object) -> None:
    original = make(seed=21)  # type: ignore[operator]
    run(original, [0.2, 0.3, 0.5], users=200)
    saved = original.to_dict()
    through_json = json.loads(json.dumps(saved))
    assert orjson.loads(orjson.dumps(saved)) == through_json
    restored = bandit_from_dict(through_json)
    assert type(restored) is type(original)
    assert restored.pulls == original.pulls and restored.successes == original.successes
    assert restored.allocation() == original.allocation()
    assert [restored.select_arm() for _ in range(30)] == [original.select_arm() for _ in range(30)]
    assert type(original).from_dict(through_json).to_dict() == through_json


def test_epsilon_is_kept_in_the_state() -> None:
    restored = bandit_from_dict(EpsilonGreedy(2, epsilon=0.3).to_dict())
    assert isinstance(restored, EpsilonGreedy) and restored.epsilon == 0.3


@pytest.mark.parametrize("arm", [-1, 3, 1.0, True, "0", None])
def test_unknown_arms_are_errors(arm: object) -> None:
    bandit = ThompsonSampling(3)
    with pytest.raises(ExperimentInputError, match=r"arm .*(0 to 2|does not exist)"):
        bandit.update(arm, True)  # type: ignore[arg-type]
    assert bandit.pulls == (0, 0, 0)


@pytest.mark.parametrize("reward", [0.5, 2, -1, "yes", None, 1.0])
def test_rewards_must_be_booleans(reward: object) -> None:
    bandit = UCB1(2)
    with pytest.raises(ExperimentInputError, match="reward must be a boolean"):
        bandit.update(0, reward)  # type: ignore[arg-type]
    bandit.update(0, 1)
    bandit.update(1, np.bool_(False))
    assert bandit.successes == (1, 0)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: ThompsonSampling(1), "n_arms must be a whole number of at least 2"),
        (lambda: UCB1(2.5), "n_arms must be"),  # type: ignore[arg-type]
        (lambda: EpsilonGreedy(2, epsilon=1.5), r"epsilon must be in \[0, 1\]"),
        (lambda: ThompsonSampling(2, seed=-3), "seed must be None or a non-negative int"),
        (lambda: ThompsonSampling(2).allocation(draws=0), "draws must be a positive int"),
    ],
)
def test_bad_settings_are_errors(make: object, message: str) -> None:
    with pytest.raises(ExperimentInputError, match=message):
        make()  # type: ignore[operator]


def test_bad_saved_states_are_errors() -> None:
    saved = ThompsonSampling(2, seed=1).to_dict()
    with pytest.raises(ExperimentInputError, match="unknown bandit policy 'softmax'"):
        bandit_from_dict({**saved, "policy": "softmax"})
    with pytest.raises(ExperimentInputError, match="use bandit_from_dict"):
        UCB1.from_dict(saved)
    with pytest.raises(ExperimentInputError, match="incomplete or malformed"):
        bandit_from_dict({k: v for k, v in saved.items() if k != "rng"})
    with pytest.raises(ExperimentInputError, match="successes <= pulls"):
        bandit_from_dict({**saved, "pulls": [1, 0], "successes": [2, 0]})
