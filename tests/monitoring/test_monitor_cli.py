"""``skewless monitor MODEL``: a real repository, a model logged to MLflow, its prediction log,
and the exit codes 0 / 1 / 2 (docs/monitoring.md, "skewless monitor")."""

from __future__ import annotations

import json
import shutil
import warnings
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

pytest.importorskip("mlflow")
pytest.importorskip("sklearn")

from browser import Chromium
from serving.predict_repo import ServingRepo, build_serving_repo, train_and_log
from typer.testing import CliRunner, Result

from monitoring.monitor_repo import log_traffic
from monitoring.test_html_report import canvas_ids, charts
from monitoring.webhook import Receiver
from skewless.cli.main import app
from skewless.monitoring.log_window import LogWindow
from skewless.monitoring.prediction_reference import prediction_profile_file
from skewless.serving.log_files import log_dir


def _cli(*args: object) -> Result:
    return CliRunner().invoke(app, [str(a) for a in args])


def _error(result: Result, code: int = 2) -> str:
    assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServingRepo]:
    root = tmp_path_factory.mktemp("monitor") / "repo"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        built = build_serving_repo(root)
    yield built
    built.store.close()


@pytest.fixture
def fresh_log(repo: ServingRepo) -> Iterator[ServingRepo]:
    shutil.rmtree(log_dir(repo.root, "churn"), ignore_errors=True)
    yield repo
    shutil.rmtree(log_dir(repo.root, "churn"), ignore_errors=True)


def test_no_drift_exits_0_and_writes_both_reports(fresh_log: ServingRepo, tmp_path: Path) -> None:
    log_traffic(fresh_log.store, days=3, rows_per_day=400)
    out_json, out_html = tmp_path / "monitor.json", tmp_path / "monitor.html"
    result = _cli(
        "-r", fresh_log.root, "monitor", "churn", "--window", "4d",
        "--json", out_json, "--report", out_html,
    )  # fmt: skip
    assert result.exit_code == 0, (result.stdout, result.stderr)
    assert "Feature drift: 0 of 4 columns" in result.stdout
    assert "no drift (--fail-on dataset)" in result.stdout
    run = json.loads(out_json.read_text())
    assert run["model"] == {"name": "churn", "version": 1}
    assert run["reference"] == "churn_train" and run["rows"] == 1200
    assert set(run["data"]["columns"]) == {"x1", "x2", "x3", "visits"}
    assert run["data"]["drifted_columns"] == []
    assert run["prediction"]["kind"] == "prediction"
    assert set(run["prediction"]["columns"]) == {"prediction", "probability_0", "probability_1"}
    assert run["prediction"]["drifted_columns"] == []
    assert len(run["data"]["timeline"]) == 3
    assert out_html.read_text().startswith("<!doctype html>")
    dataset = fresh_log.store.datasets.get("churn_train")
    assert prediction_profile_file(dataset, "churn", 1).exists()


def test_drift_exits_1_and_shows_where_it_began(
    fresh_log: ServingRepo, tmp_path: Path, webhook: tuple[str, type[Receiver]]
) -> None:
    log_traffic(fresh_log.store, days=3, rows_per_day=1600, shift_x1=0.6, shift_from_day=2)
    out_json = tmp_path / "monitor.json"
    url, receiver = webhook
    result = _cli(
        "-r", fresh_log.root, "monitor", "churn", "--window", "4d", "--fail-on", "any",
        "--json", out_json, "--webhook", url,
    )  # fmt: skip
    assert result.exit_code == 1, (result.stdout, result.stderr)
    assert "drift found (--fail-on any)" in result.stdout
    run = json.loads(out_json.read_text())
    assert "x1" in run["data"]["drifted_columns"]
    assert "x2" not in run["data"]["drifted_columns"]
    assert [d["columns"]["x1"]["drifted"] for d in run["data"]["timeline"]] == [False, False, True]
    assert run["prediction"]["drifted_columns"], run["prediction"]["columns"]
    ((_, _, body),) = receiver.received
    alert = json.loads(body)
    assert alert["drift"] is True and "x1" in alert["features"]["drifted_columns"]
    assert f"alert sent to {url}" in result.stdout
    receiver.status = 503
    undelivered = _cli(
        "-r", fresh_log.root, "monitor", "churn", "--window", "4d", "--fail-on", "any",
        "--webhook", url, "--no-predictions", "--no-per-day",
    )  # fmt: skip
    assert "answered 503" in _error(undelivered)
    # one feature column of four is not a dataset drift (the predictions left out)
    features_only = _cli(
        "-r", fresh_log.root, "monitor", "churn", "--window", "4d", "--no-predictions"
    )  # fmt: skip
    assert features_only.exit_code == 0, (features_only.stdout, features_only.stderr)
    never = _cli("-r", fresh_log.root, "monitor", "churn", "--window", "4d", "--fail-on", "never")
    assert never.exit_code == 0, never.stderr


def test_the_window_is_the_versions_own_rows(fresh_log: ServingRepo) -> None:
    log_traffic(fresh_log.store, days=2, rows_per_day=160)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        v2 = train_and_log(fresh_log.store, seed=1)
    log_traffic(fresh_log.store, days=1, rows_per_day=80, version=v2, seed=5)
    assert LogWindow(fresh_log.root, "churn", since=timedelta(days=3)).read().num_rows == 400
    one = _cli(
        "-r",
        fresh_log.root,
        "monitor",
        "churn/1",
        "--window",
        "3d",
        "--no-per-day",
        "--fail-on",
        "never",
    )
    assert one.exit_code == 0, one.stderr
    assert "model churn version 1: 320 logged rows" in one.stdout
    two = _cli(
        "-r", fresh_log.root, "monitor", f"churn/{v2}", "--window", "3d", "--fail-on", "never"
    )
    assert two.exit_code == 0, two.stderr
    assert f"model churn version {v2}: 80 logged rows" in two.stdout
    assert "note: no labels for the window" in two.stdout


def test_errors_exit_2_with_one_line(fresh_log: ServingRepo) -> None:
    root = fresh_log.root
    assert "no prediction log" in _error(_cli("-r", root, "monitor", "churn")).lower()
    log_traffic(fresh_log.store, days=1, rows_per_day=16)
    assert "fraud" in _error(_cli("-r", root, "monitor", "fraud"))
    assert "--fail-on 'sometimes'" in _error(
        _cli("-r", root, "monitor", "churn", "--fail-on", "sometimes")
    )
    assert "--window" in _error(_cli("-r", root, "monitor", "churn", "--window", "soon"))
    assert "nope" in _error(_cli("-r", root, "monitor", "churn", "--reference", "nope"))
    old = _cli("-r", root, "monitor", "churn", "--window", "1h")
    assert "holds no answered rows" in _error(old)


def _gate_on_holdout(repo: ServingRepo) -> None:
    """Save a held-out dataset (the same users, labels 45 minutes after the features) and
    gate version 1 on it, which records its metrics on the version."""
    import pandas as pd

    from skewless.models import run_gate

    store = repo.store
    if "churn_holdout" not in {d.name for d in store.datasets.all()}:
        train = pd.read_parquet(store.datasets.get("churn_train").path)
        entities = train[["user_id", "event_timestamp", "churned"]].copy()
        entities["event_timestamp"] = entities["event_timestamp"] + pd.Timedelta(minutes=15)
        job = store.get_historical_features(entities, store.get_feature_service("scoring"))
        job.save_dataset("churn_holdout")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        run_gate("churn", "churn_holdout", version=1, store=store)


def _feedback(repo: ServingRepo, logged: object, flip: float, seed: int = 0) -> None:
    import numpy as np

    from skewless.serving.feedback import record_feedback

    rows = logged.reset_index(drop=True)  # type: ignore[attr-defined]
    labels = rows["churned"].to_numpy().copy()
    flipped = np.random.default_rng(seed).random(len(labels)) < flip
    labels[flipped] = 1 - labels[flipped]
    items = [
        {"request_id": r, "row": int(i), "label": int(y)}
        for r, i, y in zip(rows["request_id"], rows["row"], labels, strict=True)
    ]
    record_feedback(repo.root, "churn", items)


def test_labels_measure_the_model_against_its_gate(fresh_log: ServingRepo, tmp_path: Path) -> None:
    from skewless.models import gate_metrics

    _gate_on_holdout(fresh_log)
    gated = gate_metrics("churn", 1, store=fresh_log.store)
    assert gated is not None and {"f1", "auc"} <= set(gated)
    logged = log_traffic(fresh_log.store, days=3, rows_per_day=1600, seed=3)
    _feedback(fresh_log, logged, flip=0.0)
    out = tmp_path / "run.json"
    result = _cli("-r", fresh_log.root, "monitor", "churn", "--window", "4d", "--json", out)
    assert result.exit_code == 0, (result.stdout, result.stderr)
    assert "Performance (4800 labels)" in result.stdout
    perf = json.loads(out.read_text())["performance"]
    assert perf["baseline"]["f1"] == pytest.approx(gated["f1"])
    assert perf["overall"]["labels"] == 4800
    assert [a for a in perf["alerts"] if a["window"] is None] == []
    assert len(perf["windows"]) == 3 and perf["degraded"] is False
    # a fifth of the outcomes turn against the model: its F1 and AUC drop past 0.02
    _feedback(fresh_log, logged, flip=0.3, seed=1)
    worse = _cli("-r", fresh_log.root, "monitor", "churn", "--window", "4d", "--json", out)
    assert worse.exit_code == 1, (worse.stdout, worse.stderr)
    perf = json.loads(out.read_text())["performance"]
    assert perf["degraded"] is True
    assert {"f1", "auc"} <= {a["metric"] for a in perf["alerts"] if a["window"] is None}
    assert "ALERT" in worse.stdout and "drift found (--fail-on dataset)" in worse.stdout


def test_a_labels_file_joins_by_key_and_time(fresh_log: ServingRepo, tmp_path: Path) -> None:
    logged = log_traffic(fresh_log.store, days=2, rows_per_day=800, seed=4)
    labels = logged[["user_id", "timestamp", "churned"]].rename(
        columns={"timestamp": "event_timestamp", "churned": "outcome"}
    )
    labels["event_timestamp"] = labels["event_timestamp"] + timedelta(seconds=1)
    path = tmp_path / "labels.parquet"
    labels.to_parquet(path)
    out = tmp_path / "run.json"
    result = _cli(
        "-r", fresh_log.root, "monitor", "churn", "--window", "3d", "--labels", path,
        "--label-column", "outcome", "--json", out, "--fail-on", "never",
    )  # fmt: skip
    assert result.exit_code == 0, (result.stdout, result.stderr)
    perf = json.loads(out.read_text())["performance"]
    # each label joins the latest prediction of its user at or before it: at most one each
    assert 0 < perf["overall"]["labels"] <= len(labels)
    assert perf["overall"]["metrics"]["auc"] > 0.7
    missing = _cli(
        "-r", fresh_log.root, "monitor", "churn", "--window", "3d", "--labels", path,
    )  # fmt: skip
    assert "label" in _error(missing)


def test_the_report_page_renders_in_chromium(
    fresh_log: ServingRepo, tmp_path: Path, browser: Chromium
) -> None:
    _gate_on_holdout(fresh_log)
    logged = log_traffic(fresh_log.store, days=3, rows_per_day=1600, shift_x1=0.6,
                         shift_from_day=2, seed=6)  # fmt: skip
    _feedback(fresh_log, logged, flip=0.3, seed=2)
    page_path = tmp_path / "monitor.html"
    result = _cli("-r", fresh_log.root, "monitor", "churn", "--window", "4d", "--report", page_path)
    assert result.exit_code == 1, (result.stdout, result.stderr)
    with browser.open(page_path.as_uri()) as view:
        page = view.page
        assert page.title() == "Monitoring churn version 1"
        assert "Drift found" in page.inner_text("#verdict")
        assert "Features: 1 of 4 columns drifted" in page.inner_text("#overview")
        assert page.inner_text("#features-drifted-columns") == "Drifted columns: x1."
        assert "prediction" in page.inner_text("#predictions-drifted-columns")
        assert page.locator("#performance-table tbody tr").count() == 3 + 2
        assert "Alerts:" in page.inner_text("#performance-alerts")
        ids = canvas_ids(view)
        assert "features-timeline-chart" in ids and "predictions-timeline-chart" in ids
        assert [i for i in ids if i.startswith("features-dist-")] == [
            f"features-dist-{i}" for i in range(4)
        ]
        performance = [i for i in ids if i.startswith("performance-chart-")]
        assert len(performance) == 4  # precision, recall, f1, auc per day
        assert page.get_attribute("html", "data-charts-drawn") == str(len(ids))
        for chart in charts(view):
            assert chart["painted"] > 2000 and all(n > 0 for n in chart["elements"]), chart
        shot = view.screenshot("monitor-report")
    assert shot.stat().st_size > 10_000
    assert view.console_errors == [] and view.blocked == []
