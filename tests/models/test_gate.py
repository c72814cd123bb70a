"""The gate and the CLI: exit codes 0/1/2, the report, and a failing gate blocking promotion."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path

import pytest

pytest.importorskip("mlflow")
pytest.importorskip("sklearn")
from sklearn.dummy import DummyClassifier
from sklearn.linear_model import LinearRegression, LogisticRegression
from typer.testing import CliRunner, Result

from skewless import FeatureStore
from skewless.cli.main import app
from skewless.config import MlflowConfig
from skewless.models import (
    GateInputError,
    Thresholds,
    TrackingServerError,
    get_model_version,
    list_model_versions,
    log_model,
    promote,
    run_gate,
    training_data,
)


def _cli(store: FeatureStore, *args: object) -> Result:
    return CliRunner().invoke(app, ["--repo", str(store.repo_path), *map(str, args)])


@pytest.fixture(scope="module")
def churn(store: FeatureStore) -> int:
    """Version 1 of ``churn``: a logistic regression on ``churn_train``."""
    x, y = training_data("churn_train", store)
    return log_model(
        LogisticRegression().fit(x, y), "churn", dataset="churn_train", store=store
    ).version


def _one_error(result: Result, code: int) -> str:
    assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr)
    lines = [ln for ln in result.stderr.strip().splitlines() if ln.startswith("error:")]
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    return lines[0]


def test_gate_measures_a_classifier(store: FeatureStore, churn: int) -> None:
    report = run_gate(
        "churn",
        "churn_holdout",
        version=churn,
        thresholds=Thresholds(min_f1=0.7, min_auc=0.8, max_p99_ms=100, max_size_mb=10),
        store=store,
    )
    assert report.passed, report.to_dict()
    assert set(report.metrics) == {"precision", "recall", "f1", "auc", "p99_ms", "size_mb"}
    assert 0 < report.metrics["size_mb"] < 10  # type: ignore[operator]
    assert [c.name for c in report.checks] == ["f1", "auc", "p99_ms", "size_mb"]
    assert report.model["task"] == "classifier" and report.dataset["name"] == "churn_holdout"


def test_gate_measures_a_regressor(store: FeatureStore) -> None:
    x, y = training_data("spend_train", store)
    v = log_model(LinearRegression().fit(x, y), "spender", dataset="spend_train", store=store)
    report = run_gate(
        "spender",
        "spend_holdout",
        version=v.version,
        thresholds=Thresholds(max_rmse=1.0),
        store=store,
    )
    assert report.passed and report.metrics["rmse"] is not None
    assert report.metrics["rmse"] < 1.0 and report.metrics["mae"] <= report.metrics["rmse"]


def test_gate_refuses_the_training_dataset_and_its_parent(store: FeatureStore, churn: int) -> None:
    with pytest.raises(GateInputError, match="is the training dataset"):
        run_gate("churn", "churn_train", version=churn, store=store)
    x, y = training_data("churn", store)
    v = log_model(LogisticRegression().fit(x, y), "full", dataset="churn", store=store).version
    with pytest.raises(GateInputError, match="is a split of 'churn'"):
        run_gate("full", "churn_holdout", version=v, store=store)


def test_cli_gate_passes_fails_and_failing_blocks_promotion(
    store: FeatureStore, churn: int, tmp_path: Path
) -> None:
    ok_report = tmp_path / "ok.json"
    ok = _cli(
        store,
        "gate",
        "churn",
        "--dataset",
        "churn_holdout",
        "--version",
        churn,
        "--min-f1",
        "0.5",
        "--baseline",
        "production",
        "--report",
        ok_report,
    )
    assert ok.exit_code == 0, (ok.stdout, ok.stderr)
    assert "gate passed" in ok.stdout and "no production version" in ok.stdout
    data = json.loads(ok_report.read_text())
    assert data["passed"] is True and data["model"] == {**data["model"], "version": churn}
    promoted = _cli(
        store, "models", "promote", "churn", churn, "--to", "production", "--gate-report", ok_report
    )
    assert promoted.exit_code == 0, promoted.stderr
    # A second version that fails the gate cannot replace it.
    x, y = training_data("churn_train", store)
    worse = DummyClassifier(strategy="constant", constant=0).fit(x, y)
    v2 = log_model(worse, "churn", dataset="churn_train", store=store).version
    bad_report = tmp_path / "bad.json"
    failed = _cli(
        store,
        "gate",
        "churn",
        "-d",
        "churn_holdout",
        "--version",
        v2,
        "--baseline",
        "production",
        "--max-regression",
        "0.01",
        "--report",
        bad_report,
    )
    assert failed.exit_code == 1, (failed.stdout, failed.stderr)
    assert "gate FAILED: regression vs production" in failed.stdout
    assert json.loads(bad_report.read_text())["passed"] is False
    blocked = _cli(
        store, "models", "promote", "churn", v2, "--to", "production", "--gate-report", bad_report
    )
    assert "failed its gate" in _one_error(blocked, 1)
    wrong = _cli(
        store, "models", "promote", "churn", v2, "--to", "production", "--gate-report", ok_report
    )
    assert "gate report is for" in _one_error(wrong, 1)
    assert get_model_version("churn", "production", store).version == churn
    assert all(v.stage != "Archived" for v in list_model_versions("churn", store))
    listing = _cli(store, "models", "list", "churn")
    assert listing.exit_code == 0 and "Production" in listing.stdout
    features = _cli(store, "models", "features", "churn")
    assert features.exit_code == 0 and "user_stats:x3" in features.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["churn", "-d", "nope"], "nope"),
        (["nobody", "-d", "churn_holdout"], "no registered model 'nobody'"),
        (["churn", "-d", "churn_holdout", "--version", "42"], "no version 42"),
        (["churn", "-d", "churn_holdout", "--alias", "canary"], "holds the alias 'canary'"),
        (["churn", "-d", "churn_train", "--version", "1"], "is the training dataset"),
        (["churn", "-d", "spend_holdout", "--version", "1"], "no label column 'churned'"),
        (["churn", "-d", "narrow", "--version", "1"], "signature does not match"),
    ],
)
def test_cli_gate_bad_input_is_one_error_and_exit_2(
    store: FeatureStore, churn: int, args: list[str], message: str
) -> None:
    if args[2] == "narrow":
        frame = store.get_dataset("churn_holdout").to_df()[
            ["user_id", "event_timestamp", "churned"]
        ]
        job = store.get_historical_features(frame, ["user_stats:x1", "user_stats:x2"])
        job.save_dataset("narrow", overwrite=True)
    assert message in _one_error(_cli(store, "gate", *args), 2)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_an_unreachable_tracking_server_is_one_quick_error(
    store: FeatureStore, tmp_path: Path
) -> None:
    uri = f"http://127.0.0.1:{_free_port()}"
    config = store.config.model_copy(update={"mlflow": MlflowConfig(tracking_uri=uri)})
    down = FeatureStore(config=config)
    started = time.perf_counter()
    with pytest.raises(TrackingServerError, match="cannot reach the MLflow tracking server"):
        promote("churn", 1, "production", store=down)
    assert time.perf_counter() - started < 5
    repo = tmp_path / "down"
    repo.mkdir()
    (repo / "feature_store.yaml").write_text(f"project: down\nmlflow:\n  tracking_uri: {uri}\n")
    result = CliRunner().invoke(app, ["--repo", str(repo), "models", "list", "churn"])
    assert "cannot reach the MLflow tracking server" in _one_error(result, 1)
    result = CliRunner().invoke(app, ["--repo", str(repo), "gate", "churn", "-d", "x"])
    assert result.exit_code == 2
