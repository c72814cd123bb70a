"""log_model, lineage, stages on aliases, retention: against a real MLflow SQLite store."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("mlflow")
pytest.importorskip("sklearn")
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LinearRegression, LogisticRegression

from skewless import FeatureStore
from skewless.errors import UnknownObjectError
from skewless.models import (
    GateInputError,
    ModelRegistryError,
    UnknownModelError,
    apply_retention,
    get_features_for,
    get_model_version,
    list_model_versions,
    load_model,
    log_model,
    model_lineage,
    promote,
    required_features,
    tracking_for,
    training_data,
)

REFS = ["user_stats:x1", "user_stats:x2", "user_stats:x3"]


def _client(store: FeatureStore):  # type: ignore[no-untyped-def]
    from mlflow import MlflowClient

    t = tracking_for(store.config)
    return MlflowClient(tracking_uri=t.tracking_uri, registry_uri=t.registry_uri)


def _log_classifier(store: FeatureStore, name: str, seed: int = 0) -> int:
    x, y = training_data("churn_train", store)
    model = LogisticRegression(random_state=seed).fit(x, y)
    return log_model(model, name, dataset="churn_train", store=store).version


def test_default_tracking_uri_is_an_absolute_sqlite_path_in_the_repo(store: FeatureStore) -> None:
    t = tracking_for(store.config)
    assert t.tracking_uri == f"sqlite:///{store.repo_path.resolve() / 'data' / 'mlflow.db'}"
    assert t.registry_uri == t.tracking_uri and t.keep_versions == 3


def test_lineage_tags_round_trip_through_mlflow_client(store: FeatureStore) -> None:
    x, y = training_data("churn_train", store)
    assert list(x.columns) == ["x1", "x2", "x3"] and y.name == "churned"
    model = RandomForestClassifier(n_estimators=20, random_state=0).fit(x, y)
    v = log_model(model, "lineage", dataset="churn_train", store=store, metrics={"f1": 0.5})
    saved = store.get_dataset("churn_train")
    client = _client(store)
    mv = client.get_model_version("lineage", str(v.version))
    run = client.get_run(mv.run_id)
    for tags in (mv.tags, run.data.tags):
        assert tags["skewless.dataset"] == "churn_train"
        assert tags["skewless.dataset_fingerprint"] == saved.entity_fingerprint
        assert tags["skewless.feature_service"] == "scoring"
        assert tags["skewless.label"] == "churned"
        assert tags["skewless.task"] == "classifier"
        assert tags["skewless.version.user_stats"] == saved.feature_versions["user_stats"]
    assert run.data.metrics["f1"] == 0.5
    lineage = model_lineage("lineage", v.version, store)
    assert list(lineage.feature_refs) == REFS
    assert lineage.feature_versions == saved.feature_versions
    assert required_features("lineage", str(v.version), store) == REFS
    pyfunc = load_model("lineage", v.version, store)
    inputs = pyfunc.metadata.get_input_schema().input_names()
    assert inputs == ["x1", "x2", "x3"]
    np.testing.assert_array_equal(pyfunc.predict(x.head(20)), model.predict(x.head(20)))


def test_a_model_without_sklearn_logs_as_pyfunc(store: FeatureStore) -> None:
    class Threshold:
        def predict(self, frame: pd.DataFrame) -> np.ndarray:
            return (frame["x1"].to_numpy() > 0.5).astype(np.int64)

    v = log_model(Threshold(), "plain", dataset="churn_train", store=store, task="classifier")
    x, _ = training_data("churn_train", store)
    out = load_model("plain", v.version, store).predict(x.head(5))
    np.testing.assert_array_equal(np.asarray(out), (x["x1"].head(5) > 0.5).astype(int))


def test_regressor_task_and_label_are_detected(store: FeatureStore) -> None:
    x, y = training_data("spend_train", store)
    v = log_model(LinearRegression().fit(x, y), "spend", dataset="spend_train", store=store)
    assert v.lineage is not None
    assert (v.lineage.task, v.lineage.label, v.lineage.feature_service) == (
        "regressor",
        "spend",
        None,
    )


def test_log_model_refuses_a_model_fit_on_other_columns(store: FeatureStore) -> None:
    x, y = training_data("churn_train", store)
    model = LogisticRegression().fit(x[["x2", "x1", "x3"]], y)
    with pytest.raises(GateInputError, match="fit on columns"):
        log_model(model, "wrong", dataset="churn_train", store=store)
    with pytest.raises(UnknownObjectError):
        log_model(model, "wrong", dataset="nope", store=store)


def test_get_features_for_reads_the_models_features_online(store: FeatureStore) -> None:
    _log_classifier(store, "online")
    store.materialize("2026-01-01", "2026-01-30")
    response = get_features_for("online", [{"user_id": 1}], version=1, store=store)
    row = response.to_dict()
    assert {"x1", "x2", "x3"} <= set(row)


def test_promotion_archives_the_previous_production_version(store: FeatureStore) -> None:
    versions = [_log_classifier(store, "stages", seed) for seed in range(3)]
    assert promote("stages", versions[0], "production", store=store).archived is None
    promote("stages", versions[1], "staging", store=store)
    assert get_model_version("stages", "staging", store).version == versions[1]
    result = promote("stages", "staging", "production", store=store)
    assert (result.version, result.archived) == (versions[1], versions[0])
    by_version = {v.version: v for v in list_model_versions("stages", store)}
    old, new = by_version[versions[0]], by_version[versions[1]]
    assert old.aliases == () and old.tags["archived"] == "true" and old.stage == "Archived"
    assert new.aliases == ("production",) and new.stage == "Production"
    assert by_version[versions[2]].stage == "None"
    import mlflow.pyfunc

    t = tracking_for(store.config)
    mlflow.set_tracking_uri(t.tracking_uri)
    try:
        loaded = mlflow.pyfunc.load_model("models:/stages@production")
    finally:
        mlflow.set_tracking_uri(None)
    assert loaded.metadata.run_id == new.run_id
    # Promoting an archived version again clears its archived tag.
    promote("stages", versions[0], "production", store=store)
    again = get_model_version("stages", versions[0], store)
    assert again.stage == "Production" and "archived" not in again.tags


def test_retention_keeps_the_latest_versions_and_any_alias(store: FeatureStore) -> None:
    versions = [_log_classifier(store, "retained", seed) for seed in range(5)]
    promote("retained", versions[0], "staging", store=store, keep=10)
    result = promote("retained", versions[4], "production", store=store, keep=2)
    assert result.deleted == (versions[1], versions[2])
    left = [v.version for v in list_model_versions("retained", store)]
    assert left == [versions[0], versions[3], versions[4]]
    assert apply_retention("retained", keep=1, store=store) == [versions[3]]


def test_bad_promotions_change_nothing(store: FeatureStore) -> None:
    v = _log_classifier(store, "guarded")
    promote("guarded", v, "production", store=store)
    with pytest.raises(ModelRegistryError, match="use one of staging, production"):
        promote("guarded", v, "archived", store=store)
    with pytest.raises(UnknownModelError, match="no version 99"):
        promote("guarded", 99, "production", store=store)
    with pytest.raises(UnknownModelError, match="no registered model"):
        promote("nobody", 1, "production", store=store)
    v2 = _log_classifier(store, "guarded")
    handwritten = {"passed": True, "model": {"name": "guarded", "version": v2}, "checks": []}
    with pytest.raises(ModelRegistryError, match="not written by `skewless gate`"):
        promote("guarded", v2, "production", store=store, gate_report=handwritten)
    assert get_model_version("guarded", "production", store).version == v
    assert get_model_version("guarded", v, store).stage == "Production"
