"""Sticky assignment by weighted rendezvous hashing, and the experiment file
(docs/experiments.md, "Assignment" and "Experiment files")."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from skewless.errors import ExperimentInputError
from skewless.experiments.assignment import Assigner, entity_key
from skewless.experiments.spec import load_experiment, parse_canary_step

KEYS = [entity_key({"user_id": i}) for i in range(20_000)]


def test_shares_follow_the_weights() -> None:
    for weights in ({"a": 0.8, "b": 0.2}, {"a": 0.5, "b": 0.3, "c": 0.2}, {"a": 1, "b": 1, "c": 2}):
        arms = Assigner("exp", weights).assign_many(KEYS)
        names = list(weights)
        counts = np.array([arms.count(n) for n in names])
        total = sum(weights.values())
        expected = np.array([weights[n] / total for n in names]) * len(KEYS)
        # a chi-square goodness-of-fit test of the counts against the weights
        assert stats.chisquare(counts, expected).pvalue > 1e-4, (weights, counts)


def test_the_same_key_keeps_its_arm_and_salts_reshuffle() -> None:
    one = Assigner("exp", {"a": 0.5, "b": 0.5})
    assert one.assign_many(KEYS[:500]) == Assigner("exp", {"a": 0.5, "b": 0.5}).assign_many(
        KEYS[:500]
    )
    other = Assigner("exp-2", {"a": 0.5, "b": 0.5}).assign_many(KEYS)
    same = np.mean([x == y for x, y in zip(one.assign_many(KEYS), other, strict=True)])
    assert 0.47 < same < 0.53  # independent of the first experiment's assignment


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.floats(0.05, 1.0), min_size=2, max_size=4),
    st.integers(0, 3),
    st.floats(1.05, 4.0),
)
def test_a_weight_change_moves_keys_only_into_the_arm_that_gained(
    weights: list[float], gainer: int, factor: float
) -> None:
    names = [f"arm{i}" for i in range(len(weights))]
    gainer %= len(weights)
    before = dict(zip(names, weights, strict=True))
    after = dict(before)
    after[names[gainer]] *= factor  # the others shrink in proportion once normalized
    old = Assigner("exp", before).assign_many(KEYS[:3000])
    new = Assigner("exp", after).assign_many(KEYS[:3000])
    moved = [(o, n) for o, n in zip(old, new, strict=True) if o != n]
    assert all(n == names[gainer] for _, n in moved)


def test_experiment_files(tmp_path: Path) -> None:
    path = tmp_path / "exp.yaml"
    path.write_text(
        "name: churn-v4\nmodel: churn\narms:\n"
        "  - {name: control, model: churn@production, weight: 0.8}\n"
        "  - {name: challenger, model: churn/4, weight: 0.2}\n"
        "  - {name: next, model: churn/5, shadow: true}\n"
    )
    spec = load_experiment(path)
    assert spec.champion.name == "control" and [a.name for a in spec.shadow_arms] == ["next"]
    assert spec.weights() == {"control": 0.8, "challenger": 0.2}
    assert spec.assignment_salt == "churn-v4" and spec.analysis == "sequential"
    assert load_experiment(spec.to_dict()) == spec
    bad = [
        ("weights of the arms that answer must sum to 1, got 0.9",
         {"arms": [{"name": "a", "model": "m/1", "weight": 0.5},
                   {"name": "b", "model": "m/2", "weight": 0.4}]}),
        ("arm names must be unique",
         {"arms": [{"name": "a", "model": "m/1", "weight": 0.5},
                   {"name": "a", "model": "m/2", "weight": 0.5}]}),
        ("at least one arm that is not a shadow",
         {"arms": [{"name": "a", "model": "m/1", "shadow": True}]}),
        ("weight -0.1 must be a number of at least 0",
         {"arms": [{"name": "a", "model": "m/1", "weight": -0.1}]}),
        ("exactly two", {"arms": [{"name": "a", "model": "m/1"}], "canary": ["100%"]}),
    ]  # fmt: skip
    for says, fields in bad:
        with pytest.raises(ExperimentInputError, match=says) as caught:
            load_experiment({"name": "e", "model": "m", **fields})
        assert "\n" not in str(caught.value)
    with pytest.raises(ExperimentInputError, match="does not exist"):
        load_experiment(tmp_path / "missing.yaml")


def test_canary_steps() -> None:
    spec = load_experiment(
        {"name": "c", "model": "m", "arms": [{"name": "a", "model": "m/1"},
         {"name": "b", "model": "m/2"}], "canary": {"steps": ["10% for 5m", "50% for 1h", "100%"]}}
    )  # fmt: skip
    assert [s.share for s in spec.canary or ()] == [0.1, 0.5, 1.0]
    assert [s.hold.total_seconds() if s.hold else None for s in spec.canary or ()] == [
        300, 3600, None,
    ]  # fmt: skip
    assert load_experiment(spec.to_dict()) == spec
    for text in ("10", "0% for 5m", "150%", "10% for five minutes"):
        with pytest.raises(ExperimentInputError, match="is not 'N% for DURATION'"):
            parse_canary_step(text)
