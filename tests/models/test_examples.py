"""examples/ci-workflow.yml's train -> gate -> promote steps, run for real on a tiny repo.

Each ``run:`` step is executed in this process (the ``skewless`` commands through the CLI
app, ``python examples/train.py`` through its ``main``) so that MLflow is imported once.
"""

from __future__ import annotations

import importlib.util
import os
import shlex
import warnings
from pathlib import Path

import pytest
import yaml

pytest.importorskip("mlflow")
pytest.importorskip("sklearn")

from typer.testing import CliRunner

from models.tiny_repo import build_repo
from skewless import FeatureStore
from skewless.cli.main import app
from skewless.models import get_model_version

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"


def _train_main():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("example_train", EXAMPLES / "train.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.main


def test_the_workflow_trains_gates_and_promotes(
    tmp_path: Path, mlflow_template: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = tmp_path / "repo"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        build_repo(repo, mlflow_template, split=False).close()
    workflow = yaml.safe_load((EXAMPLES / "ci-workflow.yml").read_text())
    output = tmp_path / "github_output"
    output.touch()
    for key, value in {**workflow["env"], "GITHUB_OUTPUT": str(output)}.items():
        monkeypatch.setenv(key, str(value))
    monkeypatch.chdir(repo)
    train = _train_main()
    version = ""
    ran = []
    jobs = workflow["jobs"]
    for job in (jobs["train-gate-stage"], jobs["promote-production"]):
        for step in job["steps"]:
            script = step.get("run", "")
            if not script or script.startswith(("pip install", "skewless apply")):
                continue  # installed already; the tiny repo is applied from Python
            script = script.replace("${{ steps.train.outputs.version }}", version)
            script = script.replace("${{ needs.train-gate-stage.outputs.version }}", version)
            argv = shlex.split(os.path.expandvars(script))
            if argv[:2] == ["python", "examples/train.py"]:
                assert train(argv[2:]) == 0
                version = output.read_text().split("version=")[1].split()[0]
            else:
                assert argv[0] == "skewless", argv
                result = CliRunner().invoke(app, argv[1:])
                assert result.exit_code == 0, (step["name"], result.stdout, result.stderr)
            ran.append(step["name"])
    assert len(ran) == 5 and version == "1"
    assert (repo / "gate.json").exists()
    with FeatureStore(repo_path=repo) as store:
        production = get_model_version("churn", "production", store)
    assert production.version == 1 and production.lineage is not None
    assert production.lineage.dataset == "churn_train"
