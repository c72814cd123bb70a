"""The built-in retraining pipeline end to end on the serving repository: real features, a
real MLflow store with ``churn`` version 1 in production."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path

import pyarrow.parquet as pq
import pytest

pytest.importorskip("mlflow")
pytest.importorskip("sklearn")

from serving.predict_repo import ServingRepo, build_serving_repo

from skewless import FeatureStore
from skewless.errors import PipelineInputError
from skewless.models import get_model_version
from skewless.repo import load_repo_objects

RETRAIN_PY = """\
from sklearn.ensemble import HistGradientBoostingClassifier

from skewless import FileSource
from skewless.models import Thresholds
from skewless.pipelines import retraining_pipeline


def train(X, y, max_iter: int = 15):
    return HistGradientBoostingClassifier(max_iter=max_iter, random_state=0).fit(X, y)


labels = FileSource(path="data/labels.parquet", timestamp_field="event_timestamp")
churn_retraining = retraining_pipeline(
    model="churn",
    feature_service="scoring",
    label_source=labels,
    label="churned",
    train=train,
    gate=Thresholds(min_f1=0.5, max_regression=0.2),
    rollout="promote",
    max_age_s=3 * 86400,
    ranges={"x1": [0.0, 1.0]},
    params={"max_iter": 15},
)
no_service = retraining_pipeline(
    name="no_service", model="churn", feature_service="scorin", label_source=labels,
    label="churned", train=train,
)
no_model = retraining_pipeline(
    name="no_model", model="churm", feature_service="scoring", label_source=labels,
    label="churned", train=train,
)
"""


@pytest.fixture(scope="module")
def serving(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServingRepo]:
    from mlflow import MlflowClient

    template = tmp_path_factory.mktemp("mlflow") / "mlflow.db"
    MlflowClient(tracking_uri=f"sqlite:///{template}").search_experiments()
    root = tmp_path_factory.mktemp("retrain") / "repo"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        repo = build_serving_repo(root, template)
    labels = repo.store.get_dataset("churn_train").to_arrow()
    pq.write_table(labels.select(["user_id", "event_timestamp", "churned"]),
                   root / "data" / "labels.parquet")  # fmt: skip
    (root / "retrain.py").write_text(RETRAIN_PY)
    repo.store.apply(load_repo_objects(root), partial=False)
    yield repo
    repo.store.close()


def _production(store: FeatureStore) -> int:
    return get_model_version("churn", "production", store).version


def _run(store: FeatureStore, **kwargs: object):  # type: ignore[no-untyped-def]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return store.run_pipeline("churn_retraining", progress=False, **kwargs)  # type: ignore[arg-type]


def test_a_failing_gate_leaves_production_as_it_was(serving: ServingRepo) -> None:
    store = serving.store
    before = _production(store)
    run = _run(store, params={"thresholds": {"min_f1": 0.999}})
    assert run.status == "failed" and run.failed_step == "gate"
    assert "gate failed for model 'churn'" in (run.error or "")
    assert "production is unchanged" in (run.error or "")
    assert run.step("rollout").status == "pending"
    assert _production(store) == before


def test_a_raising_train_function_leaves_production_as_it_was(serving: ServingRepo) -> None:
    store = serving.store
    before = _production(store)
    run = _run(store, params={"max_iter": "0"})
    assert run.status == "failed" and run.failed_step == "train"
    assert (run.error or "").startswith("InvalidParameterError")
    assert "HistGradientBoostingClassifier" in (run.step("train").traceback or "")
    assert [s.status for s in run.steps[3:]] == ["pending"] * 4
    assert _production(store) == before


def test_a_passing_gate_promotes_the_new_version(serving: ServingRepo) -> None:
    store = serving.store
    before = _production(store)
    run = _run(store)
    assert run.status == "succeeded", run.error
    version = run.step("register").output_preview
    assert _production(store) == int(version) != before
    checks = run.step("validate_data")
    assert checks.status == "succeeded" and "labels" in checks.output_preview
    training = run.step("training_set")
    assert training.status in ("succeeded", "skipped-cached")
    held_out = store.get_dataset(f"churn-{training.cached_from or run.run_id}_holdout")
    assert held_out.rows > 0
    assert "holdout_f1" in run.step("evaluate").output_preview
    rollout = run.step("rollout").output_preview
    assert "'rollout': 'promote'" in rollout and f"'archived': {before}" in rollout


def test_the_run_is_an_mlflow_parent_run_with_a_nested_run_per_step(
    serving: ServingRepo,
) -> None:
    from mlflow import MlflowClient

    from skewless.models import tracking_for

    store = serving.store
    run = _run(store, params={"rollout_mode": "register-only"})
    assert run.status == "succeeded" and run.mlflow_run_id
    tracking = tracking_for(store.config)
    client = MlflowClient(tracking_uri=tracking.tracking_uri)
    parent = client.get_run(run.mlflow_run_id)
    assert parent.info.status == "FINISHED"
    assert parent.data.params["rollout_mode"] == "register-only"
    experiment = parent.info.experiment_id
    children = client.search_runs(
        [experiment], filter_string=f"tags.mlflow.parentRunId = '{run.mlflow_run_id}'"
    )
    by_step = {c.data.tags["skewless.step"]: c for c in children}
    assert set(by_step) == set(s.name for s in run.steps)
    assert by_step["train"].data.tags["skewless.step_status"] == "skipped-cached"
    assert by_step["gate"].data.tags["skewless.step_status"] == "succeeded"
    assert "duration_s" in by_step["gate"].data.metrics


def test_a_pipeline_naming_a_missing_feature_service_or_model_is_refused(
    serving: ServingRepo,
) -> None:
    store = serving.store
    with pytest.raises(PipelineInputError, match="no feature service named 'scorin'") as caught:
        store.run_pipeline("no_service", progress=False)
    assert "\n" not in str(caught.value)
    with pytest.raises(PipelineInputError, match="model 'churm' has no registered version"):
        store.run_pipeline("no_model", progress=False)


def test_a_canary_rollout_starts_an_experiment_from_the_champion(serving: ServingRepo) -> None:
    from skewless.experiments.records import ExperimentStore

    store = serving.store
    before = _production(store)
    run = _run(store, params={"rollout_mode": "canary", "max_iter": "12"})
    assert run.status == "succeeded", run.error
    version = int(run.step("register").output_preview)
    record = ExperimentStore(store.registry).get(f"churn-{run.run_id}")
    assert record.status == "running"
    assert [a.model for a in record.spec.live_arms] == ["churn@production", f"churn/{version}"]
    assert _production(store) == before
    assert Path(store.repo_path, "data", "pipelines", "churn_retraining", run.run_id).is_dir()
