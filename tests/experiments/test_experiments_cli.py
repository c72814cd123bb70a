"""``skewless experiments start | list | show | stop | analyze`` on a real repository with MLflow
model versions, its prediction log and feedback, and ``--promote`` through a real gate."""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest

pytest.importorskip("mlflow")
pytest.importorskip("sklearn")

from browser import Chromium
from monitoring.test_html_report import canvas_ids, charts
from serving.predict_repo import ServingRepo, build_serving_repo, train_and_log
from typer.testing import CliRunner, Result

from experiments.experiment_logs import Traffic, write_traffic
from skewless.cli.main import app
from skewless.experiments.records import ExperimentRecord, ExperimentStore
from skewless.experiments.spec import load_experiment

EXPERIMENT = """\
name: {name}
model: churn
arms:
  - {{name: control, model: churn@production, weight: 0.5}}
  - {{name: challenger, model: churn/2, weight: 0.5}}
  - {{name: next, model: churn/2, shadow: true}}
analysis: {analysis}
"""


def _cli(*args: object) -> Result:
    return CliRunner().invoke(app, [str(a) for a in args])


def _error(result: Result, code: int = 2) -> str:
    assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServingRepo]:
    """Version 1 of ``churn`` in production, version 2 trained beside it, and a held-out
    dataset (the same users, labels 15 minutes later) to gate on."""
    import pandas as pd

    root = tmp_path_factory.mktemp("experiments") / "repo"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        built = build_serving_repo(root)
        built.versions.append(train_and_log(built.store, max_iter=30, seed=1))
    store = built.store
    train = pd.read_parquet(store.datasets.get("churn_train").path)
    entities = train[["user_id", "event_timestamp", "churned"]].copy()
    entities["event_timestamp"] = entities["event_timestamp"] + pd.Timedelta(minutes=15)
    job = store.get_historical_features(entities, store.get_feature_service("scoring"))
    job.save_dataset("churn_holdout")
    yield built
    built.store.close()


@pytest.fixture
def experiments(repo: ServingRepo) -> Iterator[ExperimentStore]:
    """The repository's experiment records; production back on version 1 first, and every
    experiment still running stopped afterwards (one runs per model at a time)."""
    from skewless.models import promote

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        promote("churn", 1, "production", store=repo.store)
    store = ExperimentStore(repo.store.registry, repo.store.now)
    yield store
    for record in store.list():
        if record.status == "running":
            store.stop(record.name, "test over")


def _started(
    experiments: ExperimentStore, name: str, analysis: str = "sequential"
) -> ExperimentRecord:
    """An experiment started two days ago, with a day of traffic since."""
    spec = load_experiment(
        {
            "name": name,
            "model": "churn",
            "analysis": analysis,
            "arms": [
                {"name": "control", "model": "churn@production", "weight": 0.5},
                {"name": "challenger", "model": "churn/2", "weight": 0.5},
                {"name": "next", "model": "churn/2", "shadow": True},
            ],
        }
    )
    started = datetime.now(experiments.clock().tzinfo) - timedelta(days=2)
    return ExperimentStore(experiments.registry, lambda: started).start(spec)


def _traffic(repo: ServingRepo, record: ExperimentRecord, challenger: float) -> None:
    write_traffic(
        repo.root,
        record.name,
        [
            Traffic("control", 4_000, 0.10),
            Traffic("challenger", 4_000, challenger, version=2),
            Traffic("next", 1_000, 0.5, version=2, assignment="shadow"),
            Traffic("challenger", 300, 1.0, version=2, assignment="header"),
        ],
        record.started_at + timedelta(hours=1),
        timedelta(hours=24),
        seed=7,
    )


def _production(repo: ServingRepo) -> int:
    from skewless.models import get_model_version

    return get_model_version("churn", "production", repo.store).version


def test_an_experiment_starts_lists_shows_and_stops(
    repo: ServingRepo, experiments: ExperimentStore, tmp_path: Path
) -> None:
    path = tmp_path / "exp.yaml"
    path.write_text(EXPERIMENT.format(name="life", analysis="sequential"))
    started = _cli("-r", repo.root, "experiments", "start", path)
    assert started.exit_code == 0, started.stderr
    assert "experiment life running on model churn (control=0.5, challenger=0.5)" in started.stdout
    assert experiments.get("life").status == "running"
    listed = _cli("-r", repo.root, "experiments", "list")
    assert listed.exit_code == 0 and "life" in listed.stdout
    assert "control=0.5, challenger=0.5, next (shadow)" in listed.stdout
    again = _cli("-r", repo.root, "experiments", "start", path)
    assert again.exit_code == 0  # the same spec again: the running record
    experiments.set_weights("life", {"control": 0.7, "challenger": 0.3}, "slow down")
    shown = _cli("-r", repo.root, "experiments", "show", "life")
    assert shown.exit_code == 0, shown.stderr
    assert "slow down" in shown.stdout and "control=0.7, challenger=0.3" in shown.stdout
    as_json = _cli("-r", repo.root, "experiments", "show", "life", "--json")
    assert json.loads(as_json.stdout)["weights"] == {"control": 0.7, "challenger": 0.3}
    stopped = _cli(
        "-r", repo.root, "experiments", "stop", "life", "--winner", "control", "--reason", "no lift"
    )
    assert stopped.exit_code == 0, stopped.stderr
    assert "experiment life stopped (no lift, winner control)" in stopped.stdout
    record = experiments.get("life")
    assert (record.status, record.winner, record.stop_reason) == ("stopped", "control", "no lift")


def test_analyze_prints_tables_and_writes_json_and_html(
    repo: ServingRepo, experiments: ExperimentStore, tmp_path: Path
) -> None:
    record = _started(experiments, "report")
    _traffic(repo, record, challenger=0.14)
    out, page = tmp_path / "analysis.json", tmp_path / "analysis.html"
    result = _cli(
        "-r", repo.root, "experiments", "analyze", "report", "--json", out, "--report", page
    )
    assert result.exit_code == 0, (result.stdout, result.stderr)
    assert "decision: promote challenger: challenger" in result.stdout
    assert "300 header" in result.stdout and "1,000 shadow" in result.stdout
    data = json.loads(out.read_text())
    arms = {a["name"]: a for a in data["arms"]}
    assert arms["control"]["n"] == 4_000 and arms["challenger"]["n"] == 4_000
    assert arms["challenger"]["versions"] == [2] and arms["next"]["logged"] == 1_000
    assert data["decision"] == "promote challenger" and data["bucket"] == "hour"
    assert page.read_text().startswith("<!doctype html>")
    assert experiments.get("report").status == "running"  # analysing changes nothing


def test_promote_gates_the_winner_and_moves_production(
    repo: ServingRepo, experiments: ExperimentStore
) -> None:
    record = _started(experiments, "winner")
    _traffic(repo, record, challenger=0.14)
    assert _production(repo) == 1
    result = _cli(
        "-r",
        repo.root,
        "experiments",
        "analyze",
        "winner",
        "--promote",
        "--gate-dataset",
        "churn_holdout",
        "--gate-threshold",
        "min_auc=0.5",
    )
    assert result.exit_code == 0, (result.stdout, result.stderr)
    assert "gate passed" in result.stdout
    assert "promoted churn version 2 (challenger) to production, replacing version 1" in (
        result.stdout
    )
    assert _production(repo) == 2
    after = experiments.get("winner")
    assert (after.status, after.winner) == ("stopped", "challenger")
    decision = after.decisions[-1]
    assert (decision["action"], decision["version"], decision["replaced"]) == ("promote", 2, 1)


def test_a_failing_gate_leaves_production_as_it_was(
    repo: ServingRepo, experiments: ExperimentStore
) -> None:
    record = _started(experiments, "refused")
    _traffic(repo, record, challenger=0.14)
    result = _cli(
        "-r",
        repo.root,
        "experiments",
        "analyze",
        "refused",
        "--promote",
        "--gate-dataset",
        "churn_holdout",
        "--gate-threshold",
        "min_auc=0.9999",
    )
    assert result.exit_code == 1, (result.stdout, result.stderr)
    assert "gate FAILED: auc" in result.stdout
    assert (
        "nothing promoted: churn version 2 failed its gate; production still serves version 1"
        in (result.stdout)
    )
    assert _production(repo) == 1
    after = experiments.get("refused")
    assert after.status == "running" and after.decisions[-1]["action"] == "promotion-refused"


def test_promote_without_a_winner_exits_1(repo: ServingRepo, experiments: ExperimentStore) -> None:
    record = _started(experiments, "even")
    _traffic(repo, record, challenger=0.10)
    result = _cli(
        "-r",
        repo.root,
        "experiments",
        "analyze",
        "even",
        "--promote",
        "--gate-dataset",
        "churn_holdout",
    )
    assert result.exit_code == 1, (result.stdout, result.stderr)
    assert "nothing promoted: the analysis says 'continue'" in result.stdout
    assert _production(repo) == 1 and experiments.get("even").status == "running"


def test_errors_are_one_line_and_exit_2(
    repo: ServingRepo, experiments: ExperimentStore, tmp_path: Path
) -> None:
    assert "no experiment named 'nope'" in _error(
        _cli("-r", repo.root, "experiments", "show", "nope")
    )
    assert "no experiment named 'nope'" in _error(
        _cli("-r", repo.root, "experiments", "analyze", "nope")
    )
    missing = _error(_cli("-r", repo.root, "experiments", "start", tmp_path / "none.yaml"))
    assert "does not exist" in missing
    bad = tmp_path / "bad.yaml"
    bad.write_text(EXPERIMENT.format(name="bad", analysis="sometimes"))
    assert "analysis" in _error(_cli("-r", repo.root, "experiments", "start", bad))
    _started(experiments, "busy")
    other = tmp_path / "other.yaml"
    other.write_text(EXPERIMENT.format(name="other", analysis="fixed"))
    assert "already splits the traffic of model 'churn'" in _error(
        _cli("-r", repo.root, "experiments", "start", other)
    )
    assert "is not an arm of experiment 'busy'" in _error(
        _cli("-r", repo.root, "experiments", "stop", "busy", "--winner", "nobody")
    )
    assert "--promote needs --gate-dataset" in _error(
        _cli("-r", repo.root, "experiments", "analyze", "busy", "--promote")
    )
    assert "--gate-threshold 'min_fun=1'" in _error(
        _cli("-r", repo.root, "experiments", "analyze", "busy", "--gate-threshold", "min_fun=1")
    )


def test_the_results_page_renders_in_chromium(
    repo: ServingRepo, experiments: ExperimentStore, tmp_path: Path, browser: Chromium
) -> None:
    record = _started(experiments, "page")
    _traffic(repo, record, challenger=0.14)
    experiments.set_weights("page", {"control": 0.4, "challenger": 0.6}, "challenger ahead")
    experiments.decide("page", "canary-step", "guards held", share=0.6)
    page_path = tmp_path / "experiment.html"
    result = _cli("-r", repo.root, "experiments", "analyze", "page", "--report", page_path)
    assert result.exit_code == 0, (result.stdout, result.stderr)
    with browser.open(page_path.as_uri()) as view:
        page = view.page
        assert page.title() == "Experiment page"
        assert page.inner_text("#verdict").startswith("Promote challenger: challenger")
        rows = page.locator("#arms-table tbody tr")
        assert rows.count() == 3
        assert [rows.nth(i).locator("th").inner_text().split() for i in range(3)] == [
            ["control", "champion", "·", "churn@production"],
            ["challenger", "challenger", "·", "churn/2"],
            ["next", "shadow", "·", "churn/2"],
        ]
        assert "promote challenger" in rows.nth(1).inner_text()
        assert "300 header" in page.inner_text("#excluded")
        assert page.locator("#weights-table tbody tr").count() == 2
        assert "challenger ahead" in page.inner_text("#weights-table")
        assert "canary-step" in page.inner_text("#decisions-table")
        ids = canvas_ids(view)
        assert ids == ["rates-chart", "lift-chart-0"]
        assert page.get_attribute("html", "data-charts-drawn") == str(len(ids))
        for chart in charts(view):
            assert chart["painted"] > 2000 and all(n > 0 for n in chart["elements"]), chart
            assert chart["current"] > 100, chart
        lift = page.eval_on_selector(
            "#lift-chart-0",
            "c => Chart.getChart(c).data.datasets.map(d => d.data.filter(v => v !== null).length)",
        )
        assert all(n >= 20 for n in lift), lift  # band, line and zero over the day's hours
        shot = view.screenshot("experiment-results")
    assert shot.stat().st_size > 10_000
    assert view.console_errors == [] and view.blocked == []
