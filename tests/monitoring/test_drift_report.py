"""drift_report: the default test choice, inputs of every form, nulls, new categories, errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import orjson
import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from scipy import stats
from scipy.spatial import distance

from skewless.errors import DriftInputError, SkewlessError
from skewless.monitoring import DriftReport, drift_report


def numbers(rows: int, distinct: int, seed: int = 0, shift: float = 0.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if distinct == 0:
        return rng.normal(shift, 1.0, rows)
    return (rng.integers(0, distinct, rows) + shift).astype(np.float64)


# -- the default test, as Evidently 0.7's DataDriftPreset picks it ---------------------------------
@pytest.mark.parametrize(
    ("rows", "distinct", "expected"),
    [
        (1001, 0, "wasserstein"),
        (1001, 6, "wasserstein"),
        (1001, 5, "jensenshannon"),
        (1001, 2, "jensenshannon"),
        (1000, 0, "ks"),
        (1000, 6, "ks"),
        (1000, 5, "chisquare"),
        (1000, 3, "chisquare"),
        (1000, 2, "z"),
        (50, 1, "z"),
    ],
)
def test_default_test_of_a_float_column(rows: int, distinct: int, expected: str) -> None:
    ref = pd.DataFrame({"x": numbers(rows, distinct)})
    cur = pd.DataFrame({"x": numbers(700, distinct, seed=1)})
    assert drift_report(ref, cur).columns["x"].test == expected


def test_distinct_values_are_counted_over_both_sides() -> None:
    ref = pd.DataFrame({"x": numbers(2000, 4)})  # 0..3
    cur = pd.DataFrame({"x": numbers(2000, 4, shift=2.0)})  # 2..5: six values in all
    assert drift_report(ref, cur).columns["x"].test == "wasserstein"


def test_nulls_do_not_count_as_reference_rows() -> None:
    x = numbers(1500, 0)
    x[1000:] = np.nan  # 1000 non-null rows
    report = drift_report(pd.DataFrame({"x": x}), pd.DataFrame({"x": numbers(900, 0, seed=2)}))
    column = report.columns["x"]
    assert (column.test, column.reference_rows, column.reference_nulls) == ("ks", 1000, 500)


@pytest.mark.parametrize(
    ("rows", "categories", "expected"),
    [
        (1001, 3, "jensenshannon"),
        (1001, 2, "jensenshannon"),
        (1000, 3, "chisquare"),
        (1000, 2, "z"),
    ],
)
def test_default_test_of_a_text_column(rows: int, categories: int, expected: str) -> None:
    rng = np.random.default_rng(0)
    names = [f"c{i}" for i in range(categories)]
    ref = pd.DataFrame({"c": rng.choice(names, rows)})
    cur = pd.DataFrame({"c": rng.choice(names, 500)})
    column = drift_report(ref, cur).columns["c"]
    assert (column.test, column.kind) == (expected, "categorical")


def test_integers_with_few_values_are_categories_as_evidently_infers_them() -> None:
    rng = np.random.default_rng(0)
    few = pd.DataFrame({"n": rng.integers(0, 8, 3000)})
    many = pd.DataFrame({"n": rng.integers(0, 50, 3000)})
    assert drift_report(few, few).columns["n"].test == "jensenshannon"
    assert drift_report(many, many).columns["n"].test == "wasserstein"
    assert drift_report(few, few, numerical=["n"]).columns["n"].test == "wasserstein"


# -- statistics end to end -----------------------------------------------------------------------
def test_shifted_normal_drifts_and_the_same_distribution_does_not() -> None:
    rng = np.random.default_rng(7)
    ref = pd.DataFrame({"x": rng.normal(0, 1, 20_000), "c": rng.choice(list("abcd"), 20_000)})
    same = pd.DataFrame({"x": rng.normal(0, 1, 20_000), "c": rng.choice(list("abcd"), 20_000)})
    shifted = pd.DataFrame(
        {
            "x": rng.normal(0.5, 1, 20_000),
            "c": rng.choice(list("abcd"), 20_000, p=[0.55, 0.15, 0.15, 0.15]),
        }
    )
    assert drift_report(ref, same).drifted_columns == []
    report = drift_report(ref, shifted)
    assert report.drifted_columns == ["x", "c"] and report.dataset_drift
    expected = stats.wasserstein_distance(ref.x, shifted.x) / np.std(ref.x)
    assert report.columns["x"].statistic == pytest.approx(expected, rel=1e-9)
    small = drift_report(ref.iloc[:500], shifted.iloc[:500])
    assert small.columns["x"].test == "ks" and small.columns["x"].drifted
    assert small.columns["x"].p_value == pytest.approx(
        stats.ks_2samp(ref.x[:500], shifted.x[:500]).pvalue, rel=1e-9
    )


def test_every_test_is_selectable_by_name_with_its_threshold() -> None:
    rng = np.random.default_rng(3)
    ref = pd.DataFrame({"x": rng.normal(0, 1, 3000), "c": rng.choice(list("ab"), 3000)})
    cur = pd.DataFrame({"x": rng.normal(0.2, 1, 3000), "c": rng.choice(list("ab"), 3000)})
    for test in ("psi", "kl_div", "jensenshannon"):
        report = drift_report(ref, cur, tests=test, threshold={"x": 0.5})
        assert report.columns["x"].test == report.columns["c"].test == test
        assert report.columns["x"].threshold == 0.5 and report.columns["c"].threshold == 0.1
    report = drift_report(ref, cur, tests={"x": "ks", "c": "chisquare"}, threshold=0.01)
    assert report.columns["x"].p_value == pytest.approx(stats.ks_2samp(ref.x, cur.x).pvalue)
    assert report.columns["c"].test == "chisquare" and report.columns["c"].threshold == 0.01
    z = drift_report(ref, cur, tests={"c": "z"}).columns["c"]
    assert z.p_value is not None and 0 <= z.p_value <= 1


def test_new_categories_and_nulls_are_counted_and_shown() -> None:
    ref = pd.DataFrame({"c": ["a", "b", "a", None] * 400})
    cur = pd.DataFrame({"c": ["a", "new", None, None] * 400})
    column = drift_report(ref, cur).columns["c"]
    assert (column.reference_nulls, column.current_nulls) == (400, 800)
    assert (column.reference_rows, column.current_rows) == (1200, 800)
    assert column.new_categories == ("new",) and column.missing_categories == ("b",)
    shares = dict(zip(column.distribution.categories, column.distribution.current, strict=True))
    assert shares == {"a": 0.5, "new": 0.5, "b": 0.0}
    expected = distance.jensenshannon([2 / 3, 1 / 3, 0], [0.5, 0.0, 0.5])
    assert column.statistic == pytest.approx(expected, rel=1e-9) and column.drifted
    chi = drift_report(ref.iloc[:800], cur.iloc[:800]).columns["c"]
    assert chi.test == "chisquare" and chi.p_value == 0.0 and chi.drifted


def test_many_categories_are_cut_to_the_top_and_other() -> None:
    rng = np.random.default_rng(0)
    ref = pd.DataFrame({"c": [f"k{i}" for i in rng.integers(0, 60, 5000)]})
    column = drift_report(ref, ref).columns["c"]
    assert column.distribution is not None and column.distribution.categories is not None
    assert len(column.distribution.categories) == 21
    assert column.distribution.categories[-1] == "other"
    assert sum(column.distribution.reference) == pytest.approx(1.0)


def test_numerical_picture_and_quantiles() -> None:
    rng = np.random.default_rng(0)
    ref = pd.DataFrame({"x": rng.normal(0, 1, 4000)})
    cur = pd.DataFrame({"x": rng.normal(0, 3, 4000)})  # beyond the reference's range
    column = drift_report(ref, cur).columns["x"]
    dist, quantiles = column.distribution, column.quantiles
    assert dist is not None and dist.bins is not None and quantiles is not None
    assert len(dist.bins) == len(dist.reference) + 1 == 33
    assert sum(dist.reference) == pytest.approx(1.0) and sum(dist.current) == pytest.approx(1.0)
    assert dist.reference[0] == dist.reference[-1] == 0.0
    expected = np.quantile(cur.x, [0.05, 0.25, 0.5, 0.75, 0.95])
    assert quantiles.current == pytest.approx(tuple(expected), rel=1e-12)


# -- inputs --------------------------------------------------------------------------------------
def test_frames_of_every_kind_and_parquet_paths_agree(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    ref = pd.DataFrame({"x": rng.normal(0, 1, 2000), "c": rng.choice(list("abc"), 2000)})
    cur = pd.DataFrame({"x": rng.normal(0.1, 1, 2000), "c": rng.choice(list("abc"), 2000)})
    pq.write_table(pa.Table.from_pandas(cur, preserve_index=False), tmp_path / "cur.parquet")
    expected = drift_report(ref, cur).to_dict()
    for pair in (
        (pa.Table.from_pandas(ref), pa.Table.from_pandas(cur)),
        (pl.from_pandas(ref), pl.from_pandas(cur)),
        (ref, tmp_path / "cur.parquet"),
        (ref, str(tmp_path / "cur.parquet")),
    ):
        got = drift_report(*pair).to_dict()
        got["current"]["name"] = None
        assert got == expected


def test_to_dict_and_to_json_round_trip() -> None:
    rng = np.random.default_rng(2)
    ref = pd.DataFrame({"x": rng.normal(0, 1, 2000), "c": rng.choice(list("abc"), 2000)})
    report = drift_report(ref, ref.assign(x=ref.x * 2), drift_share=0.4)
    assert isinstance(report, DriftReport)
    data = orjson.loads(report.to_json())
    assert data == orjson.loads(orjson.dumps(report.to_dict()))
    assert data["drifted_columns"] == ["x"] and data["share_drifted"] == 0.5
    assert data["dataset_drift"] is True and data["drift_share"] == 0.4
    assert set(data["columns"]["x"]) == {
        "kind", "test", "statistic", "threshold", "p_value", "drifted", "reference_rows",
        "current_rows", "reference_nulls", "current_nulls", "new_categories",
        "missing_categories", "distribution", "quantiles",
    }  # fmt: skip
    assert data["columns"]["c"]["quantiles"] is None


# -- errors: each one clear line -----------------------------------------------------------------
@pytest.mark.parametrize(
    ("reference", "current", "kwargs", "says"),
    [
        ({"a": [1.0]}, {"b": [1.0]}, {}, "no column in common"),
        ({"a": [1.0, 2.0]}, {"a": ["x", "y"]}, {}, "cast one side"),
        ({"a": []}, {"a": [1.0]}, {}, "reference data is empty"),
        ({"a": [None, None]}, {"a": [1.0, 2.0]}, {}, "all null in the reference"),
        ({"a": [np.nan, np.nan]}, {"a": [1.0, 2.0]}, {}, "no values in the reference"),
        ({"a": [1.0]}, {"a": [1.0]}, {"tests": "t-test"}, "unknown drift test 't-test'"),
        ({"a": [1.0]}, {"a": [1.0]}, {"numerical": ["b"]}, "'b' is not in the reference"),
        ({"a": ["x"]}, {"a": ["y"]}, {"numerical": ["a"]}, "name it in categorical="),
        ({"a": ["x"]}, {"a": ["y"]}, {"tests": "ks"}, "needs numbers"),
        ({"a": [1.0]}, {"a": [1.0]}, {"threshold": {"b": 0.1}}, "not compared"),
    ],
)
def test_bad_inputs_raise_one_clear_line(
    reference: dict[str, list[object]],
    current: dict[str, list[object]],
    kwargs: dict[str, object],
    says: str,
) -> None:
    with pytest.raises(DriftInputError) as caught:
        drift_report(pd.DataFrame(reference), pd.DataFrame(current), **kwargs)  # type: ignore[arg-type]
    message = str(caught.value)
    assert says in message and "\n" not in message and ":" in message
    assert isinstance(caught.value, SkewlessError) and isinstance(caught.value, ValueError)


def test_a_name_that_is_not_a_path_says_what_to_pass() -> None:
    with pytest.raises(DriftInputError, match="not a Parquet file or directory"):
        drift_report("churn_train", pd.DataFrame({"a": [1.0]}))
    with pytest.raises(DriftInputError, match="cannot read"):
        drift_report([1, 2], pd.DataFrame({"a": [1.0]}))
