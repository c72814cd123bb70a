"""Only a real, unchanged gate report of the very version (and dataset) promotes it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("mlflow")
pytest.importorskip("sklearn")
from sklearn.linear_model import LogisticRegression
from typer.testing import CliRunner

from skewless import FeatureStore
from skewless.cli.main import app
from skewless.models import (
    ModelRegistryError,
    Thresholds,
    get_model_version,
    log_model,
    promote,
    run_gate,
    training_data,
)
from skewless.models.gate_binding import DIGEST_KEY, report_digest


@pytest.fixture(scope="module")
def versions(store: FeatureStore) -> tuple[int, int]:
    x, y = training_data("churn_train", store)
    first = log_model(LogisticRegression().fit(x, y), "bound", dataset="churn_train", store=store)
    second = log_model(
        LogisticRegression(C=0.5).fit(x, y), "bound", dataset="churn_train", store=store
    )
    return first.version, second.version


def gate(store: FeatureStore, version: int, dataset: str = "churn_holdout") -> dict[str, Any]:
    report = run_gate("bound", dataset, version=version, store=store, latency_rows=5)
    return report.to_dict()


def refused(store: FeatureStore, version: int, report: Any, match: str) -> None:
    before = {v: get_model_version("bound", v, store).stage for v in (1, 2)}
    with pytest.raises(ModelRegistryError, match=match):
        promote("bound", version, "staging", store=store, gate_report=report)
    assert {v: get_model_version("bound", v, store).stage for v in (1, 2)} == before


def test_the_report_carries_the_run_the_dataset_and_its_digest(
    store: FeatureStore, versions: tuple[int, int]
) -> None:
    first, _ = versions
    report = gate(store, first)
    run_id = get_model_version("bound", first, store).run_id
    assert report["model"]["run_id"] == run_id
    holdout = store.get_dataset("churn_holdout")
    assert report["dataset"]["fingerprint"] == holdout.entity_fingerprint
    assert report[DIGEST_KEY] == report_digest(report)
    # The file the CLI writes round-trips to the same digest.
    assert report_digest(json.loads(json.dumps(report, indent=2))) == report[DIGEST_KEY]


def test_a_hand_written_report_is_refused_even_with_a_correct_digest(
    store: FeatureStore, versions: tuple[int, int]
) -> None:
    _, second = versions
    real = gate(store, versions[0])
    forged = json.loads(json.dumps(real))
    forged["model"]["version"] = second
    forged["model"]["run_id"] = get_model_version("bound", second, store).run_id
    refused(store, second, forged, "was edited since")
    forged[DIGEST_KEY] = report_digest(forged)  # anyone can hash: the gate run is not recorded
    refused(store, second, forged, "not the latest gate run recorded")
    bare = {"passed": True, "model": {"name": "bound", "version": second}, "checks": []}
    refused(store, second, bare, "not written by `skewless gate`")


def test_an_edited_report_is_refused(
    store: FeatureStore, versions: tuple[int, int], tmp_path: Path
) -> None:
    first, _ = versions
    failing = run_gate(
        "bound", "churn_holdout", version=first, thresholds=Thresholds(min_f1=1.01), store=store
    ).to_dict()
    assert failing["passed"] is False
    refused(store, first, failing, "failed its gate")
    edited = {
        **failing,
        "passed": True,
        "checks": [{**c, "passed": True} for c in failing["checks"]],
    }
    path = tmp_path / "gate.json"
    path.write_text(json.dumps(edited, indent=2))
    refused(store, first, path, "was edited since")


def test_a_report_of_another_version_or_an_older_gate_is_refused(
    store: FeatureStore, versions: tuple[int, int]
) -> None:
    first, second = versions
    older = gate(store, first)
    newer = gate(store, first)
    refused(store, second, newer, "gate report is for model 'bound' version 1")
    refused(store, first, older, "not the latest gate run recorded")
    assert promote("bound", first, "staging", store=store, gate_report=newer).stage == "staging"


def test_a_report_on_a_dataset_that_changed_since_is_refused(
    store: FeatureStore, versions: tuple[int, int]
) -> None:
    _, second = versions
    holdout = store.get_dataset("churn_holdout")
    table = holdout.to_arrow()

    def save(rows: Any) -> None:
        store.datasets.save(
            rows,
            "bound_probe",
            feature_refs=holdout.feature_refs,
            feature_views=list(holdout.feature_versions),
            feature_service=holdout.feature_service,
            entity_columns=holdout.entity_columns,
            overwrite=True,
        )

    save(table)
    report = gate(store, second, "bound_probe")
    save(table.slice(0, table.num_rows - 3))
    refused(store, second, report, "holds other rows than the gate judged")


def test_the_command_refuses_a_forged_report_in_one_line(
    store: FeatureStore, versions: tuple[int, int], tmp_path: Path
) -> None:
    first, _ = versions
    path = tmp_path / "forged.json"
    path.write_text(json.dumps({"passed": True, "model": {"name": "bound", "version": first}}))
    args = ["--repo", str(store.repo_path), "models", "promote", "bound", str(first)]
    result = CliRunner().invoke(app, [*args, "--to", "production", "--gate-report", str(path)])
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: the gate report was not written")
