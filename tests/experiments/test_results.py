"""Every result is a frozen record whose ``to_dict`` is valid JSON."""

from __future__ import annotations

import dataclasses
import json
import math

import pytest

from skewless.experiments import (
    mean_test,
    power,
    proportion_test,
    sample_size,
    sequential_mean_test,
    sequential_test,
)

RESULTS = {
    "proportion": lambda: proportion_test(0, 100, 5, 100),
    "mean": lambda: mean_test([0.0, 0.0, 0.0], [1.0, 2.0, 3.0], covariate=([1, 2, 3], [2, 3, 5])),
    "sequential": lambda: sequential_test(0, 100, 5, 100),
    "sequential_mean": lambda: sequential_mean_test([1.0, 2.0], [2.0, 4.0]),
    "sample_size": lambda: sample_size(0.2, 0.1),
    "power": lambda: power(0.2, 0.1, 500, 700),
}


@pytest.mark.parametrize("make", RESULTS.values(), ids=RESULTS.keys())
def test_to_dict_is_json_and_the_record_is_frozen(make: object) -> None:
    result = make()  # type: ignore[operator]
    data = result.to_dict()
    assert json.loads(json.dumps(data, allow_nan=False)) == data
    assert list(data) == [field.name for field in dataclasses.fields(result)]
    for name, value in data.items():
        original = getattr(result, name)
        if isinstance(original, float) and math.isnan(original):
            assert value is None
        elif isinstance(original, tuple):
            assert value == list(original)
        else:
            assert value == original
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.alpha = 0.1


def test_an_undefined_lift_is_null() -> None:
    assert proportion_test(0, 100, 5, 100).to_dict()["lift"] is None
    assert proportion_test(1, 100, 5, 100).to_dict()["lift"] == pytest.approx(4.0)
