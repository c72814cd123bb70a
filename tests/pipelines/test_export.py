"""Pipelines exported to real orchestrators (docs/pipelines.md, "Airflow and Kubeflow"): the
Airflow DAG is loaded by Airflow's own DagBag and run with ``dag.test()`` on a SQLite metadata
database, its tasks running the steps through ``skewless pipelines step``; the Kubeflow
definition is compiled by kfp's compiler and loaded back."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner, Result

from pipelines.flow_repo import build_flow_repo, calls
from pipelines.side_venvs import side_python
from skewless import FeatureStore
from skewless.cli.main import app
from skewless.pipelines.export import airflow_dag_source, step_dependencies
from skewless.pipelines.records import RunStore

AIRFLOW = "apache-airflow>=2.10,<3"
KFP = "kfp>=2.7,<3"


def _cli(*args: object) -> Result:
    return CliRunner().invoke(app, [str(a) for a in args])


def _pipeline(root: Path, name: str = "nightly"):  # type: ignore[no-untyped-def]
    with FeatureStore(repo_path=root) as store:
        return store.registry.snapshot().get_pipeline(name)


def test_the_dag_text_follows_the_steps_bindings(tmp_path: Path) -> None:
    root = build_flow_repo(tmp_path / "repo")
    pipeline = _pipeline(root)
    assert step_dependencies(pipeline) == {
        "load": [],
        "double": ["load"],
        "total": ["load", "double"],
    }
    source = airflow_dag_source(pipeline, root, skewless="/opt/bin/skewless", schedule="0 3 * * 1")
    compile(source, "nightly_dag.py", "exec")  # valid Python
    assert f"/opt/bin/skewless --repo {root.resolve()} pipelines step nightly double" in source
    assert "schedule='0 3 * * 1'" in source and "load >> double" in source
    bad = _cli("-r", root, "pipelines", "export", "nightly", "--to", "argo")
    assert bad.exit_code == 2 and "--to 'argo' is not one of airflow, kubeflow" in bad.stderr
    missing = _cli("-r", root, "pipelines", "export", "nope", "--to", "airflow")
    assert missing.exit_code == 2 and "nope" in missing.stderr


def test_run_ids_that_are_paths_are_refused(tmp_path: Path) -> None:
    root = build_flow_repo(tmp_path / "repo")
    for run_id in ("../../etc", "a/b", ".hidden", ""):
        done = _cli("-r", root, "pipelines", "step", "nightly", "load", "--run-id", run_id)
        assert done.exit_code == 2, (run_id, done.stdout)
        assert "is not a run id" in done.stderr
    assert not (root / "data" / "pipelines").exists()  # nothing was written anywhere


AIRFLOW_RUN = """
import json, sys
from airflow.models import DagBag
from airflow.utils.state import DagRunState

bag = DagBag(dag_folder=sys.argv[1], include_examples=False)
assert not bag.import_errors, bag.import_errors
dag = bag.get_dag("skewless_nightly")
tasks = {t.task_id: sorted(t.upstream_task_ids) for t in dag.tasks}
run = dag.test()
print(json.dumps({"tasks": tasks, "state": str(run.state), "run_id": run.run_id}))
"""


def test_the_airflow_dag_runs_in_airflow(tmp_path: Path) -> None:
    python = side_python("airflow", AIRFLOW, "airflow")
    root = build_flow_repo(tmp_path / "repo")
    dags = tmp_path / "dags"
    dags.mkdir()
    skewless = Path(sys.executable).with_name("skewless")
    done = _cli("-r", root, "pipelines", "export", "nightly", "--to", "airflow",
                "--out", dags / "nightly_dag.py", "--skewless", skewless)  # fmt: skip
    assert done.exit_code == 0, done.stderr
    home = tmp_path / "airflow"
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
    }
    env.pop("PYTHONPATH", None)
    migrate = subprocess.run([str(python), "-m", "airflow", "db", "migrate"], env=env,
                             capture_output=True, text=True, timeout=300)  # fmt: skip
    assert migrate.returncode == 0, migrate.stderr[-3000:]
    ran = subprocess.run([str(python), "-c", AIRFLOW_RUN, str(dags)], env=env,
                         capture_output=True, text=True, timeout=600)  # fmt: skip
    assert ran.returncode == 0, (ran.stdout[-3000:], ran.stderr[-3000:])
    result = json.loads(ran.stdout.strip().splitlines()[-1])
    assert result["tasks"] == {"load": [], "double": ["load"], "total": ["double", "load"]}
    assert result["state"] == "success", ran.stderr[-3000:]
    assert calls(root) == ["load", "double", "total"]
    with FeatureStore(repo_path=root) as store:
        (run,) = RunStore(store.registry).list("nightly")
    assert run.run_id == f"airflow-{result['run_id']}" and run.status == "succeeded"
    assert [s.status for s in run.steps] == ["succeeded"] * 3


KFP_COMPILE = """
import sys
from kfp import compiler, components
namespace = {}
exec(open(sys.argv[1]).read(), namespace)
compiler.Compiler().compile(namespace["pipeline_func"], sys.argv[2])
loaded = components.load_component_from_file(sys.argv[2])
print(loaded.name)
"""


def test_the_kubeflow_pipeline_compiles_and_loads_back(tmp_path: Path) -> None:
    python = side_python("kfp", KFP, "kfp")
    root = build_flow_repo(tmp_path / "repo")
    source = tmp_path / "nightly_kfp.py"
    image = "registry.local/skewless:1"
    done = _cli("-r", root, "pipelines", "export", "nightly", "--to", "kubeflow",
                "--format", "python", "--out", source, "--image", image)  # fmt: skip
    assert done.exit_code == 0, done.stderr
    compiled = tmp_path / "nightly.yaml"
    ran = subprocess.run([str(python), "-c", KFP_COMPILE, str(source), str(compiled)],
                         capture_output=True, text=True, timeout=300)  # fmt: skip
    assert ran.returncode == 0, ran.stderr[-3000:]
    assert ran.stdout.strip() == "nightly"
    spec = yaml.safe_load(compiled.read_text())
    tasks = spec["root"]["dag"]["tasks"]
    assert set(tasks) == {"load-step", "double-step", "total-step"}
    assert sorted(tasks["total-step"]["dependentTasks"]) == ["double-step", "load-step"]
    executors = spec["deploymentSpec"]["executors"].values()
    commands = sorted(e["container"]["command"][-2] for e in executors)
    assert commands == ["double", "load", "total"]
    assert all(e["container"]["command"][3:5] == ["pipelines", "step"] for e in executors)
    assert all(e["container"]["image"] == image for e in executors)


@pytest.mark.skipif(importlib.util.find_spec("kfp") is not None, reason="kfp is installed here")
def test_compiling_for_kubeflow_without_kfp_says_how(tmp_path: Path) -> None:
    root = build_flow_repo(tmp_path / "repo")
    done = _cli("-r", root, "pipelines", "export", "nightly", "--to", "kubeflow")
    assert done.exit_code == 2 and "needs kfp, which skewless does not install" in done.stderr
