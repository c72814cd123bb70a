"""Stored profiles: beside saved datasets (and rebuilt by the CLI), and per prediction-log day
partition (cached, and built again when the partition's files change)."""

from __future__ import annotations

import sys
from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from typer.testing import CliRunner

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "datasets"))

from datasets_repo import REFS, build, entity_frame, write_yaml

from skewless.cli.main import app
from skewless.errors import ProfileError
from skewless.monitoring import profile_logs
from skewless.monitoring.profile import Profile, profile_file
from skewless.monitoring.profile_build import DATASET_BINS, build_profile
from skewless.monitoring.profile_logs import (
    log_partition_profile,
    log_window_profile,
)
from skewless.monitoring.profile_store import dataset_profile
from skewless.serving.log_files import log_dir, partition_name, publish_parquet

from .test_profile import assert_same


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    with build(tmp_path) as store:
        store.get_historical_features(entity_frame(), REFS).save_dataset("train")
    write_yaml(tmp_path)
    return tmp_path


def test_saving_a_dataset_writes_its_profile(repo: Path) -> None:
    with build(repo) as store:
        saved = store.get_dataset("train")
        stored = dataset_profile(store.datasets, "train")
    assert profile_file(saved.path).exists() and stored.format_version == 2
    assert_same(stored, build_profile(saved.to_arrow(), bins=DATASET_BINS))
    score = stored["score"]
    assert score.histogram is not None and len(score.histogram.counts) == DATASET_BINS
    assert score.count == saved.stats["score"]["count"]


def test_a_dataset_without_a_profile_reads_as_format_1_until_re_profiled(repo: Path) -> None:
    with build(repo) as store:
        saved = store.get_dataset("train")
    profile_file(saved.path).unlink()
    with build(repo) as store:
        old = dataset_profile(store.datasets, "train")
    assert old.format_version == 1 and old["score"].count == saved.stats["score"]["count"]
    with pytest.raises(ProfileError, match="re-profile the dataset with `skewless datasets"):
        old["score"].quantiles([0.42])
    result = CliRunner().invoke(app, ["-r", str(repo), "datasets", "profile", "train"])
    assert result.exit_code == 0, result.stdout + result.stderr
    assert "profiled dataset train: 24 rows" in result.stdout and "format 2" in result.stdout
    with build(repo) as store:
        new = dataset_profile(store.datasets, "train")
    assert new.format_version == 2 and len(new["score"].quantiles([0.42])) == 1


def test_re_profiling_an_unknown_dataset_is_one_line(repo: Path) -> None:
    result = CliRunner().invoke(app, ["-r", str(repo), "datasets", "profile", "nope"])
    assert result.exit_code != 0
    assert "no dataset named 'nope'" in result.stderr and len(result.stderr.splitlines()) == 1


def test_replacing_a_dataset_removes_the_old_profile(repo: Path) -> None:
    with build(repo) as store:
        old = store.get_dataset("train").path
        job = store.get_historical_features(entity_frame(12), REFS)
        new = job.save_dataset("train", overwrite=True).path
    assert not profile_file(old).exists() and profile_file(new).exists()
    assert Profile.load(profile_file(new)).rows == 12


# -- prediction logs --------------------------------------------------------------------------
DAY = date(2024, 1, 1)


def log_rows(rng: np.random.Generator, n: int, extra: bool = False) -> pa.Table:
    columns = {
        "request_id": [f"r{i}" for i in range(n)],
        "timestamp": pa.array([datetime(2024, 1, 1, tzinfo=UTC)] * n, pa.timestamp("us", "UTC")),
        "amount": rng.gamma(2.0, 3.0, n),
        "prediction": rng.integers(0, 2, n),
    }
    if extra:
        columns["new_feature"] = rng.normal(size=n)
    return pa.table(columns)


def write_part(root: Path, day: date, table: pa.Table) -> Path:
    directory = log_dir(root, "churn") / partition_name(day)
    return publish_parquet(table, directory, "part", datetime(2024, 1, 1, tzinfo=UTC))


def test_a_partition_profile_is_its_files_merged_and_cached(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = np.random.default_rng(0)
    first, second = log_rows(rng, 500), log_rows(rng, 300, extra=True)
    write_part(tmp_path, DAY, first)
    write_part(tmp_path, DAY, second)
    bins = {"amount": [0.0, 2.0, 5.0, 10.0, 50.0]}
    day = log_partition_profile(tmp_path, "churn", DAY, bins=bins)
    assert "request_id" not in day.columns
    whole = pa.concat_tables([first, second], promote_options="default").drop(["request_id"])
    assert_same(day, build_profile(whole, bins=bins))
    assert day["new_feature"].nulls == 500
    cache = log_dir(tmp_path, "churn") / "_profiles" / f"{partition_name(DAY)}.json"
    assert cache.exists()

    def refuse(*args: object, **kwargs: object) -> Profile:
        raise AssertionError("the cached profile should have been used")

    monkeypatch.setattr(profile_logs, "build_profile", refuse)
    assert_same(log_partition_profile(tmp_path, "churn", DAY, bins=bins), day)
    with pytest.raises(AssertionError, match="cached profile"):  # other bins: not the cache's
        log_partition_profile(tmp_path, "churn", DAY)
    monkeypatch.undo()
    third = log_rows(rng, 200)
    write_part(tmp_path, DAY, third)  # a new part invalidates the cache
    again = log_partition_profile(tmp_path, "churn", DAY, bins=bins)
    assert again.rows == 1000 and again["amount"].count == 1000


def test_a_window_is_the_merge_of_its_days(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    days = [date(2024, 1, d) for d in (1, 2, 4)]
    tables = [log_rows(rng, 100 * (i + 1)) for i in range(3)]
    for day, table in zip(days, tables, strict=True):
        write_part(tmp_path, day, table)
    window = log_window_profile(tmp_path, "churn", date(2024, 1, 1), date(2024, 1, 4))
    whole = pa.concat_tables(tables).drop(["request_id"])
    assert_same(window, build_profile(whole))
    assert log_partition_profile(tmp_path, "churn", date(2024, 1, 3)).rows == 0
    with pytest.raises(Exception, match="before it starts"):
        log_window_profile(tmp_path, "churn", date(2024, 1, 4), date(2024, 1, 1))
