"""The quickstart's lifecycle: dataset, MLflow log with lineage, gate, promotion (on by
default; ``--no-lifecycle`` leaves MLflow alone)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

pytest.importorskip("mlflow")
pytest.importorskip("sklearn")

from typer.testing import CliRunner

from skewless import FeatureStore
from skewless.cli.main import app
from skewless.models import get_model_version, list_model_versions


def test_quickstart_logs_gates_and_promotes(tmp_path: Path) -> None:
    target = tmp_path / "qs"
    result = CliRunner().invoke(
        app, ["quickstart", "--dir", str(target), "--users", "400", "--days", "20", "--lifecycle"]
    )
    assert result.exit_code == 0, (result.stdout, result.stderr)
    out = result.stdout
    assert re.search(r"saved dataset churn_training \([\d,]+ rows\) and split it at", out), out
    assert "logged churn version 1 to MLflow with lineage: dataset churn_training_train" in out
    gate = re.search(r"gate on churn_training_holdout (passed|FAILED): AUC (0\.\d+)", out)
    assert gate, out
    with FeatureStore(repo_path=target) as store:
        (version,) = list_model_versions("churn", store)
        assert version.lineage is not None
        assert version.lineage.feature_service == "churn_model_v1"
        assert version.lineage.dataset == "churn_training_train"
        if gate.group(1) == "passed":  # latency on a loaded machine may fail the gate
            assert "promoted churn version 1 -> production" in out
            assert get_model_version("churn", "production", store).version == 1


def test_quickstart_without_lifecycle_touches_no_registry(tmp_path: Path) -> None:
    target = tmp_path / "qs"
    result = CliRunner().invoke(
        app,
        ["quickstart", "--dir", str(target), "--users", "400", "--days", "20", "--no-lifecycle"],
    )
    assert result.exit_code == 0, result.stderr
    assert "MLflow" not in result.stdout and not (target / "data" / "mlflow.db").exists()
