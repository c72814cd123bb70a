"""rolling() and aggregations() build the Aggregation lists a BatchFeatureView takes."""

from __future__ import annotations

from datetime import timedelta

import pytest

from skewless import Aggregation, BatchFeatureView, Entity, Field, FileSource
from skewless.errors import DefinitionError
from skewless.transforms import DEFAULT_WINDOWS, aggregations, rolling
from skewless.types import Float64, String

DAY = timedelta(days=1)


def test_rolling_is_one_aggregation_per_function_and_window() -> None:
    got = rolling("amount", functions=("mean", "sum"), windows=(DAY, 7 * DAY, None))
    assert got == [
        Aggregation(column="amount", function=f, time_window=w)
        for f in ("mean", "sum")
        for w in (DAY, 7 * DAY, None)
    ]
    assert [a.name for a in got][:3] == ["mean_amount_1d", "mean_amount_7d", "mean_amount_lifetime"]
    assert DEFAULT_WINDOWS == (7 * DAY, 30 * DAY)
    assert rolling("amount", "max", timedelta(hours=1)) == [
        Aggregation(column="amount", function="max", time_window=timedelta(hours=1))
    ]


def test_name_templates_and_aliases() -> None:
    got = rolling("amount", windows=(DAY,), name_template="{column}_{function}_{window}")
    assert [a.name for a in got] == ["amount_mean_1d"]
    assert [a.function for a in aggregations("cat", ("nunique", "avg"))] == [
        "count_distinct",
        "mean",
    ]


def test_the_seed_summary_in_a_view() -> None:
    view = BatchFeatureView(
        name="user_summary",
        entities=[Entity(name="user", join_keys=["user_id"])],
        source=FileSource(path="events.parquet", timestamp_field="ts"),
        schema=[Field(name="amount", dtype=Float64), Field(name="category", dtype=String)],
        aggregations=[
            *aggregations("amount"),
            *aggregations("category", ("nunique",)),
            *rolling("amount"),
        ],
    )
    assert view.feature_names == (
        "count_amount_lifetime",
        "count_distinct_amount_lifetime",
        "sum_amount_lifetime",
        "mean_amount_lifetime",
        "max_amount_lifetime",
        "std_amount_lifetime",
        "count_distinct_category_lifetime",
        "mean_amount_7d",
        "mean_amount_30d",
    )


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: rolling("amount", functions=()), "no function"),
        (lambda: rolling("amount", functions=("median",)), "unknown function 'median'"),
        (lambda: rolling("amount", windows=()), "no window"),
        (lambda: rolling("amount", windows="7d"), "timedelta"),
        (lambda: rolling("amount", windows=(-DAY,)), "not positive"),
        (lambda: rolling("amount", windows=(DAY, DAY)), "several are named"),
        (lambda: rolling("amount", name_template="{col}_{window}"), "name_template"),
        (lambda: rolling("amount", windows=(DAY, 2 * DAY), name_template="m_{column}"), "several"),
    ],
)
def test_bad_arguments_fail_clearly(call, message: str) -> None:
    with pytest.raises(DefinitionError, match=message):
        call()
