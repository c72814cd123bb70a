"""drift_report from a stored profile: the same answers as from the rows while the sketch holds
every value, within the documented bounds beyond, by dataset name without reading its file."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "datasets"))

from datasets_repo import REFS, build, entity_frame

from skewless.errors import DriftInputError, ProfileError
from skewless.monitoring import ColumnDrift, DriftReport, Profile, build_profile, drift_report
from skewless.monitoring.profile import SKETCH_K, profile_file
from skewless.monitoring.profile_drift import ProfileSample
from skewless.monitoring.stat_tests import TEST_NAMES, sturges_edges

NUMERIC_TESTS = ("ks", "wasserstein")


def close(a: float | None, b: float | None, rel: float = 1e-9) -> bool:
    if a is None or b is None:
        return a is b
    if np.isinf(a) or np.isinf(b):
        return a == b
    return abs(a - b) <= rel * max(abs(a), abs(b), 1e-300)


def assert_same_column(exact: ColumnDrift, got: ColumnDrift) -> None:
    where = f"{exact.column} ({exact.test})"
    assert (got.test, got.kind, got.threshold) == (exact.test, exact.kind, exact.threshold), where
    assert close(got.statistic, exact.statistic), (where, got.statistic, exact.statistic)
    assert close(got.p_value, exact.p_value), (where, got.p_value, exact.p_value)
    assert got.drifted == exact.drifted, where
    assert (got.reference_rows, got.reference_nulls) == (
        exact.reference_rows,
        exact.reference_nulls,
    ), where
    assert (got.current_rows, got.current_nulls) == (exact.current_rows, exact.current_nulls)
    assert set(got.new_categories) == set(exact.new_categories), where
    assert set(got.missing_categories) == set(exact.missing_categories), where
    assert got.distribution is not None and exact.distribution is not None
    if exact.kind == "numerical":
        assert got.distribution.bins == exact.distribution.bins, where
        for side in ("reference", "current"):
            mine, theirs = getattr(got.distribution, side), getattr(exact.distribution, side)
            np.testing.assert_allclose(mine, theirs, rtol=1e-12, atol=1e-15, err_msg=where)
        assert got.quantiles is not None and exact.quantiles is not None
        np.testing.assert_allclose(got.quantiles.reference, exact.quantiles.reference, rtol=1e-12)
        assert got.quantiles.current == exact.quantiles.current
    else:
        theirs_dist, mine_dist = exact.distribution, got.distribution
        shares = dict(zip(theirs_dist.categories or (), theirs_dist.reference, strict=True))
        mine = dict(zip(mine_dist.categories or (), mine_dist.reference, strict=True))
        for name in set(shares) & set(mine) - {"other"}:
            assert close(mine[name], shares[name]), (where, name)


# -- small references: the sketch holds every value, so every figure is the rows' ---------------
def small_frames(seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(30, SKETCH_K + 1))
    m = int(rng.choice([int(rng.integers(20, 3000)), 12_000]))  # 12k: the asymptotic KS
    shift = float(rng.choice([0.0, 0.05, 0.4]))

    def side(rows: int, s: float) -> dict[str, Any]:
        x = rng.normal(s, 1.0, rows)
        x[rng.random(rows) < 0.05] = np.nan
        x[rng.random(rows) < 0.01] = np.inf
        return {
            "normal": x,
            "lognormal": rng.lognormal(s, 0.7, rows),
            "ints": rng.integers(0, 40 + int(40 * s), rows),  # integers of many values
            "few": rng.integers(0, 3 + int(s > 0.1), rows).astype(np.float64),  # per value
            "grid": np.round(rng.normal(s, 1.0, rows), 1),  # about 20 distinct values
            "binary": (rng.random(rows) < 0.3 + s / 4).astype(np.int64),
            "city": rng.choice(["a", "b", "c", "d"] + (["new"] if s > 0.1 else []), rows),
            "flag": rng.random(rows) < 0.5 + s / 4,
        }

    ref = pd.DataFrame(side(n, 0.0))
    cur = pd.DataFrame(side(m, shift))
    ref.loc[ref.index[:3], "city"] = None
    return ref, cur


@pytest.mark.parametrize("seed", range(12))
def test_a_profile_whose_sketch_holds_every_value_gives_the_rows_answers(seed: int) -> None:
    ref, cur = small_frames(seed)
    profile = build_profile(ref)
    assert all(c.rank_error == 0.0 for c in profile.columns.values() if c.kind == "numeric")
    numbers = ["normal", "lognormal", "ints", "few", "grid", "binary"]
    for tests in (None, *TEST_NAMES):
        kwargs: dict[str, Any] = {"tests": tests}
        if tests in NUMERIC_TESTS:
            kwargs["numerical"] = numbers
        exact = drift_report(ref, cur, **kwargs)
        got = drift_report(profile, cur, **kwargs)
        assert list(got.columns) == list(exact.columns)
        for name, column in exact.columns.items():
            assert_same_column(column, got.columns[name])
        assert got.reference_rows == exact.reference_rows == len(ref)
        assert got.drifted_columns == exact.drifted_columns


def test_numbers_named_categorical_are_compared_per_value_from_the_profile() -> None:
    ref, cur = small_frames(3)
    exact = drift_report(ref, cur, categorical=["few", "ints", "city"])
    got = drift_report(build_profile(ref), cur, categorical=["few", "ints", "city"])
    for name, column in exact.columns.items():
        assert column.kind == "categorical"
        assert_same_column(column, got.columns[name])


# -- large references: within the bounds of docs/monitoring.md -----------------------------------
ROWS = 200_000


def large_column(shape: str, rng: np.random.Generator, rows: int, drift: float) -> np.ndarray:
    if shape == "normal":
        return rng.normal(10.0 + drift * 2.0, 2.0, rows)
    if shape == "lognormal":
        return rng.lognormal(drift, 0.8, rows)
    if shape == "gamma":
        return rng.gamma(2.0 + drift * 3.0, 1.5, rows)
    if shape == "discrete":
        p = np.linspace(1.0, 2.0, 8) if not drift else np.linspace(2.0, 1.0, 8)
        return rng.choice(8, rows, p=p / p.sum()).astype(np.float64)
    k = 40
    names = np.array([f"v{i}" for i in range(k)] + ["brand_new"])
    w = np.r_[np.linspace(1.0, 3.0, k), [0.0]]
    if drift:
        w = np.r_[w[:k][::-1] ** 2, [8.0]]
    return names[rng.choice(k + 1, rows, p=w / w.sum())]


SHAPES = ("normal", "lognormal", "gamma", "discrete", "city")


@pytest.fixture(scope="module")
def large() -> tuple[pd.DataFrame, Profile, pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(20)
    ref = pd.DataFrame({s: large_column(s, rng, ROWS, 0.0) for s in SHAPES})
    same = pd.DataFrame({s: large_column(s, rng, ROWS // 2, 0.0) for s in SHAPES})
    drifted = pd.DataFrame({s: large_column(s, rng, ROWS // 2, 0.5) for s in SHAPES})
    return ref, build_profile(ref, bins=100), same, drifted


@pytest.mark.parametrize("which", ["same", "drifted"])
def test_wasserstein_from_the_sketch_is_within_its_bound(large: Any, which: str) -> None:
    ref, profile, same, drifted = large
    cur = same if which == "same" else drifted
    exact = drift_report(ref, cur, numerical=["normal", "lognormal", "gamma"])
    got = drift_report(profile, cur, numerical=["normal", "lognormal", "gamma"])
    for name in exact.columns:
        column = profile[name]
        assert column.rank_error > 0  # the sketch summarizes here
        bound = column.wasserstein_bound() / column.std()
        e, g = exact.columns[name], got.columns[name]
        assert e.test == g.test == "wasserstein"
        assert abs(g.statistic - e.statistic) <= bound + 1e-12, (name, g.statistic, e.statistic)
        assert g.drifted == e.drifted == (which == "drifted"), name


@pytest.mark.parametrize("which", ["same", "drifted"])
def test_ks_from_the_sketch_is_within_the_rank_error(large: Any, which: str) -> None:
    ref, profile, same, drifted = large
    cur = same if which == "same" else drifted
    names = ["normal", "lognormal", "gamma"]
    exact = drift_report(ref, cur, numerical=names, tests="ks")
    got = drift_report(profile, cur, numerical=names, tests="ks")
    for name in names:
        e, g = exact.columns[name], got.columns[name]
        assert abs(g.statistic - e.statistic) <= profile[name].rank_error, name
        assert g.reference_rows == e.reference_rows == ROWS
        if which == "drifted":
            assert e.drifted and g.drifted, name


def test_few_values_and_categories_are_exact_on_large_data(large: Any) -> None:
    ref, profile, same, drifted = large
    for cur, drifts in ((same, False), (drifted, True)):
        for tests in (None, "psi", "chisquare"):
            exact = drift_report(
                ref, cur, numerical=["discrete"], categorical=["city"], tests=tests
            )
            got = drift_report(
                profile, cur, numerical=["discrete"], categorical=["city"], tests=tests
            )
            for name in ("discrete", "city"):
                assert_same_column(exact.columns[name], got.columns[name])
                if tests != "chisquare":  # at 100k rows chi-square flags sampling noise
                    assert got.columns[name].drifted == drifts, (name, tests)
        if drifts:
            assert got.columns["city"].new_categories == ("brand_new",)


def test_sturges_bins_from_the_sketch_are_within_the_pmf_error(large: Any) -> None:
    ref, profile, _, drifted = large
    for name in ("normal", "lognormal", "gamma"):
        column = profile[name]
        values, cur = np.sort(ref[name].to_numpy()), np.sort(drifted[name].to_numpy())
        first, last = min(values[0], cur[0]), max(values[-1], cur[-1])
        edges = sturges_edges(first, last, values.size + cur.size)
        exact = np.histogram(values, edges)[0] / values.size
        shares = ProfileSample(name, column).bin_shares(edges)
        assert column.pmf_error > 0
        assert np.max(np.abs(shares - exact)) <= column.pmf_error, name
        exact_report = drift_report(ref, drifted, numerical=[name], tests="jensenshannon")
        got_report = drift_report(profile, drifted, numerical=[name], tests="jensenshannon")
        assert got_report.columns[name].drifted == exact_report.columns[name].drifted is True


def test_an_integer_column_of_few_current_values_is_compared_per_value(large: Any) -> None:
    rng = np.random.default_rng(5)
    ref = pd.DataFrame({"amount": rng.integers(0, 5000, ROWS)})
    cur = pd.DataFrame({"amount": rng.integers(0, 8, 500)})
    profile = build_profile(ref)
    assert profile["amount"].value_counts is None  # past 100 values: counts from the sketch
    exact, got = drift_report(ref, cur), drift_report(profile, cur)
    e, g = exact.columns["amount"], got.columns["amount"]
    assert (g.kind, g.test) == (e.kind, e.test) == ("categorical", "jensenshannon")
    assert g.drifted and e.drifted


def test_categories_beyond_the_kept_ones_are_one_other_bucket() -> None:
    rng = np.random.default_rng(8)
    names = np.array([f"c{i}" for i in range(12)])
    ref = pd.DataFrame({"c": names[rng.choice(12, 3000, p=np.linspace(3, 1, 12) / 24)]})
    cur = pd.DataFrame({"c": np.r_[names[rng.choice(12, 2000)], ["fresh"] * 50]})
    profile = build_profile(ref, top_k=5)
    kept = set(profile["c"].categories or {})
    assert len(kept) == 5 and profile["c"].other > 0
    got = drift_report(profile, cur).columns["c"]
    lumped = [pd.DataFrame({"c": f.c.where(f.c.isin(kept), "other")}) for f in (ref, cur)]
    exact = drift_report(*lumped).columns["c"]
    assert close(got.statistic, exact.statistic) and got.test == exact.test
    assert got.new_categories == ()  # "fresh" cannot be told from the reference's rare ones
    assert got.distribution is not None and "other" in (got.distribution.categories or ())


# -- a saved dataset by name ---------------------------------------------------------------------
@pytest.fixture
def repo(tmp_path: Path) -> Path:
    with build(tmp_path) as store:
        store.get_historical_features(entity_frame(), REFS).save_dataset("train")
    return tmp_path


def shifted(table: pa.Table) -> pd.DataFrame:
    frame = table.to_pandas()
    return frame.assign(score=frame.score * 1.5 + 2.0, clicks=frame.clicks + 3)


def test_a_saved_dataset_by_name_is_compared_without_reading_its_file(repo: Path) -> None:
    with build(repo) as store:
        saved = store.get_dataset("train")
        rows = saved.to_arrow()
        current = shifted(rows)
        from_rows = drift_report(rows, current)
        moved = saved.path.with_name("elsewhere.bin")
        saved.path.rename(moved)  # the profile path must not open the Parquet file
        assert profile_file(saved.path).exists() and not saved.path.exists()
        report = drift_report("train", current, datasets=store.datasets)
    assert isinstance(report, DriftReport) and report.reference_name == "train"
    assert report.reference_rows == rows.num_rows
    assert list(report.columns) == list(from_rows.columns)
    for name, column in from_rows.columns.items():
        assert_same_column(column, report.columns[name])
    assert "score" in report.drifted_columns


def test_a_dataset_without_sketches_says_how_to_re_profile_it(repo: Path) -> None:
    with build(repo) as store:
        saved = store.get_dataset("train")
        current = shifted(saved.to_arrow())
        profile_file(saved.path).unlink()  # as saved before profiles: format 1
        with pytest.raises(ProfileError) as caught:
            drift_report("train", current, ["score"], ["label"], datasets=store.datasets)
        message = str(caught.value)
        assert "`skewless datasets profile train`" in message and "'score'" in message
        assert "\n" not in message
        text_only = drift_report("train", current, categorical=["label"], datasets=store.datasets)
        assert text_only.columns["label"].reference_rows == saved.stats["label"]["count"]


def test_a_name_without_datasets_says_both_forms(repo: Path) -> None:
    with pytest.raises(DriftInputError) as caught:
        drift_report("train", pd.DataFrame({"score": [1.0]}))
    message = str(caught.value)
    assert "not a Parquet file or directory" in message
    assert "pass datasets=store.datasets to compare with the saved dataset 'train'" in message
    assert "\n" not in message


def test_an_unknown_name_with_datasets_lists_the_saved_ones(repo: Path) -> None:
    with build(repo) as store, pytest.raises(DriftInputError) as caught:
        drift_report("nope", pd.DataFrame({"score": [1.0]}), datasets=store.datasets)
    message = str(caught.value)
    assert "'nope' is neither a Parquet file or directory nor a saved dataset" in message
    assert "saved: train" in message and "\n" not in message


def test_a_parquet_path_wins_over_a_dataset_of_the_same_name(repo: Path, tmp_path: Path) -> None:
    with build(repo) as store:
        saved = store.get_dataset("train")
        path = tmp_path / "train.parquet"
        shutil.copy(saved.path, path)
        report = drift_report(str(path), shifted(saved.to_arrow()), datasets=store.datasets)
    assert report.reference_name == str(path)


def test_a_profile_as_current_or_an_empty_profile_is_refused() -> None:
    frame = pd.DataFrame({"x": np.arange(50.0)})
    with pytest.raises(DriftInputError, match="current data is a Profile"):
        drift_report(frame, build_profile(frame))
    with pytest.raises(DriftInputError, match="reference profile is empty"):
        drift_report(build_profile(frame.head(0)), frame)
    with pytest.raises(DriftInputError, match="no column in common"):
        drift_report(build_profile(frame), frame.rename(columns={"x": "y"}))
    with pytest.raises(DriftInputError, match="cast one side"):
        drift_report(build_profile(frame), pd.DataFrame({"x": ["a"] * 50}))
