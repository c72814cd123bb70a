"""The quickstart: its synthetic data, and the whole run end to end as a real process."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from skewless.cli.main import app
from skewless.demo import (
    QUICKSTART_MARKER,
    churn_probability,
    generate_ecommerce,
    train_churn_model,
)

SCRIPT = Path(sys.executable).with_name("skewless")
END = datetime(2024, 6, 30, 18, 0, tzinfo=UTC)


# -- the synthetic data ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def data():
    return generate_ecommerce(n_users=2_000, n_days=40, end=END, seed=3)


def test_generation_is_deterministic(data):
    again = generate_ecommerce(n_users=2_000, n_days=40, end=END, seed=3)
    assert again.user_stats.equals(data.user_stats) and again.labels.equals(data.labels)
    other = generate_ecommerce(n_users=2_000, n_days=40, end=END, seed=4)
    assert not other.user_stats.equals(data.user_stats)


def test_snapshots_are_daily_per_user_and_end_at_the_end(data):
    stats = data.user_stats.to_pandas()
    assert str(stats["total_purchases"].dtype) == "int64"
    assert data.user_stats.schema.field("avg_purchase_amount").type == "float"
    assert str(data.user_stats.schema.field("event_timestamp").type) == "timestamp[us, tz=UTC]"
    per_user = stats.groupby("user_id")["event_timestamp"]
    assert (per_user.count() == 40).all()
    gaps = per_user.diff().dropna().unique()
    assert list(gaps) == [pd.Timedelta(days=1)]
    assert stats["event_timestamp"].max() <= END
    assert stats["event_timestamp"].max() >= END - timedelta(hours=2)
    assert (stats["created"] >= stats["event_timestamp"]).all()
    assert (stats["created"] <= END).all()
    assert set(stats["preferred_category"]) <= {
        "electronics",
        "fashion",
        "home",
        "books",
        "sports",
        "beauty",
    }
    # Purchases only accumulate.
    assert (per_user.size() > 0).all()
    ordered = stats.sort_values(["user_id", "event_timestamp"])
    assert (ordered.groupby("user_id")["total_purchases"].diff().dropna() >= 0).all()


def test_labels_fall_between_two_snapshots_of_their_user(data):
    stats = data.user_stats.to_pandas().sort_values("event_timestamp")
    labels = data.labels.to_pandas()
    assert labels["event_timestamp"].is_monotonic_increasing
    before = pd.merge_asof(
        labels,
        stats[["user_id", "event_timestamp"]].assign(prev=stats["event_timestamp"]),
        on="event_timestamp",
        by="user_id",
        direction="backward",
    )
    after = pd.merge_asof(
        labels,
        stats[["user_id", "event_timestamp"]].assign(next=stats["event_timestamp"]),
        on="event_timestamp",
        by="user_id",
        direction="forward",
    )
    since = labels["event_timestamp"] - before["prev"]
    until = after["next"] - labels["event_timestamp"]
    assert (since >= pd.Timedelta(hours=1)).all() and (since <= pd.Timedelta(hours=22)).all()
    assert (until > pd.Timedelta(0)).all()  # a later snapshot exists: the future is there to leak


def test_churn_depends_on_the_features_at_label_time(data):
    stats = data.user_stats.to_pandas().sort_values("event_timestamp")
    labels = data.labels.to_pandas()
    joined = pd.merge_asof(labels, stats, on="event_timestamp", by="user_id")
    assert 0.1 < labels["churned"].mean() < 0.5
    absent = joined["days_since_last_login"] >= 7
    assert joined.loc[absent, "churned"].mean() > joined.loc[~absent, "churned"].mean() + 0.3
    heavy = joined["total_purchases"] >= joined["total_purchases"].median()
    assert joined.loc[heavy, "churned"].mean() < joined.loc[~heavy, "churned"].mean()


def test_point_in_time_features_predict_churn_better_than_latest_ones(data):
    stats = data.user_stats.to_pandas().sort_values("event_timestamp")
    labels = data.labels.to_pandas()
    as_of_label = pd.merge_asof(labels, stats, on="event_timestamp", by="user_id")
    honest = train_churn_model(as_of_label, max_iter=50)
    assert honest.n_train + honest.n_test == len(labels)
    assert honest.cutoff.tzinfo is not None
    assert 0.2 <= honest.n_test / len(labels) <= 0.3
    assert honest.roc_auc > 0.8

    latest = stats.groupby("user_id").tail(1).drop(columns=["event_timestamp"])
    leaky = train_churn_model(labels.merge(latest, on="user_id"), max_iter=50)
    assert leaky.roc_auc < honest.roc_auc - 0.03


def test_churn_probability_moves_the_right_way():
    base = churn_probability(np.array([1]), np.array([10]), np.array([40.0]), np.array([0]))
    absent = churn_probability(np.array([20]), np.array([10]), np.array([40.0]), np.array([0]))
    loyal = churn_probability(np.array([1]), np.array([200]), np.array([40.0]), np.array([0]))
    unknown = churn_probability(np.array([1]), np.array([0]), np.array([np.nan]), np.array([0]))
    assert absent[0] > base[0] > loyal[0]
    assert 0.0 < unknown[0] < 1.0


# -- the command, end to end ---------------------------------------------------------------------
def _run_quickstart(*args: object, cwd: Path) -> tuple[subprocess.CompletedProcess[str], float]:
    assert SCRIPT.is_file(), f"console script missing: pip install -e . puts it at {SCRIPT}"
    started = time.perf_counter()
    result = subprocess.run(
        [str(SCRIPT), "quickstart", *map(str, args)],
        cwd=cwd,
        env={**os.environ, "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=600,
        stdin=subprocess.DEVNULL,
    )
    return result, time.perf_counter() - started


@pytest.fixture(scope="module")
def quickstart_run(tmp_path_factory: pytest.TempPathFactory):
    cwd = tmp_path_factory.mktemp("quickstart")
    result, seconds = _run_quickstart(cwd=cwd)
    assert result.returncode == 0, result.stdout + result.stderr
    return cwd, result.stdout, seconds


def test_quickstart_runs_every_step(quickstart_run):
    cwd, out, _seconds = quickstart_run
    for number in range(1, 8):
        assert re.search(rf"^\[{number}/7\] .+\(\d+\.\d\d s\)$", out, re.M), number
    repo = cwd / "skewless_quickstart"
    assert (repo / QUICKSTART_MARKER).is_file()
    assert "300,000 daily snapshots (5,000 users x 60 days" in out
    assert "+ feature_view user_stats (new)" in out
    assert re.search(r"user_stats: 5,000 rows", out)
    assert "20,000 rows x 7 columns" in out


def test_quickstart_model_beats_chance(quickstart_run):
    _, out, _ = quickstart_run
    found = re.search(r"held-out ROC AUC (\d\.\d+)\s+F1 (\d\.\d+)", out)
    assert found, out
    auc, f1 = float(found.group(1)), float(found.group(2))
    assert auc > 0.75, out
    assert f1 > 0.3, out


def test_quickstart_prints_fresh_online_values(quickstart_run):
    _, out, _ = quickstart_run
    section = out[out.index("[6/7]") : out.index("[7/7]")]
    rows = [
        line for line in section.splitlines() if re.match(r"^\W*\d{4,}\W", line)
    ]  # table rows start with a user id
    assert len(rows) == 5, section
    for row in rows:
        cells = [c.strip() for c in re.split(r"[│|┃]", row) if c.strip()]
        assert len(cells) == 5, row
        assert "null" not in cells, row
        assert cells[4] in {"electronics", "fashion", "home", "books", "sports", "beauty"}
    assert "20 of 20 values PRESENT" in section
    assert "5 of 5 users read the same values online as get_historical_features" in section
    latency = re.search(r"p50 ([\d,]+) us, p99 ([\d,]+) us", section)
    assert latency, section
    assert 0 < int(latency.group(1).replace(",", "")) < 100_000


def test_quickstart_serves_its_promoted_model_to_requests_with_user_ids_only(quickstart_run):
    _, out, _ = quickstart_run
    section = out[out.index("[7/7]") :]
    assert re.search(r"skewless models serve churn --port \d+ \(pid \d+\)", section), section
    answers = re.findall(
        r'POST /predict \{"entities": \{"user_id": \[(\d+)\]\}\} -> prediction ([01]), churn '
        r"probability (0\.\d{3}|1\.000) \(model churn version 1\) in ([\d.]+) ms",
        section,
    )
    assert len(answers) == 3, section
    online = out[out.index("[6/7]") : out.index("[7/7]")]
    for user, prediction, probability, _ms in answers:
        assert re.search(rf"^\W*{user}\W", online, re.M), user  # one of the users read online
        assert (float(probability) >= 0.5) == (prediction == "1")
    pid = int(re.search(r"\(pid (\d+)\)", section).group(1))  # type: ignore[union-attr]
    assert f"stopped the server (pid {pid})" in section
    assert not Path(f"/proc/{pid}").exists()


def test_quickstart_recreates_its_own_directory_only(tmp_path: Path):
    first, _ = _run_quickstart("--dir", "qs", "--users", 300, "--days", 20, cwd=tmp_path)
    assert first.returncode == 0, first.stdout + first.stderr
    (tmp_path / "qs" / "scratch.txt").write_text("made by hand")
    again, _ = _run_quickstart("--dir", "qs", "--users", 300, "--days", 20, cwd=tmp_path)
    assert again.returncode == 0, again.stdout + again.stderr
    assert not (tmp_path / "qs" / "scratch.txt").exists()

    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "keep.txt").write_text("precious")
    refused, _ = _run_quickstart("--dir", foreign, cwd=tmp_path)
    assert refused.returncode == 1
    assert refused.stderr.strip().splitlines() == [
        f"error: {foreign} exists and was not made by `skewless quickstart`: pass --dir with "
        "a new directory, or remove it"
    ]
    assert (foreign / "keep.txt").read_text() == "precious"


def test_quickstart_in_process_with_a_small_data_set(tmp_path: Path):
    result = CliRunner().invoke(
        app, ["-r", str(tmp_path), "quickstart", "--dir", "small", "--users", "400", "--days", "20"]
    )
    assert result.exit_code == 0, result.output
    assert "8,000 daily snapshots (400 users x 20 days" in result.stdout
    assert re.search(r"held-out ROC AUC 0\.\d{3}", result.stdout)
    assert "5 of 5 users read the same values online" in result.stdout
    assert (tmp_path / "small" / "features.py").is_file()


def test_quickstart_without_scikit_learn_says_how_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setitem(sys.modules, "sklearn", None)  # makes `import sklearn` fail
    result = CliRunner().invoke(app, ["-r", str(tmp_path), "quickstart"])
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines() == [
        "error: the quickstart trains a model with scikit-learn, which is missing: install it "
        "with: pip install 'skewless[sklearn]' (or pip install scikit-learn)"
    ]
    assert list(tmp_path.iterdir()) == []


def test_quickstart_logs_gates_and_promotes_its_model(quickstart_run):
    cwd, out, _ = quickstart_run
    section = out[out.index("[5/7]") : out.index("[6/7]")]
    assert re.search(r"saved dataset churn_training \([\d,]+ rows\) and split it", section)
    assert "logged churn version 1 to MLflow with lineage" in section
    assert re.search(r"gate on churn_training_holdout passed: AUC 0\.\d+", section)
    assert "promoted churn version 1 -> production (models:/churn@production)" in section
    assert "Successfully registered" not in out  # MLflow's own chatter stays out
    assert (cwd / "skewless_quickstart" / "data" / "mlflow.db").is_file()
