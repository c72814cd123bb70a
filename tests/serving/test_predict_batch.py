"""Batch inference on DuckDB: the answers of the served model on the training retrieval, and
of the online path for rows without a time; bounded batches; files in and out; errors."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

pytest.importorskip("mlflow")
pytest.importorskip("sklearn")

from models.tiny_repo import empty_mlflow_db

from serving.batch_repo import T0, LoggedRepo, entity_rows, logged_repo
from skewless import FeatureStore
from skewless.errors import EntityFrameError, ModelLineageError, UnknownModelError
from skewless.models import get_features_for, load_model, tracking_for
from skewless.serving import load_served_model, parse_model_ref
from skewless.serving.batch import batch_context, predict_batch

NOW = T0 + timedelta(days=29, hours=5)


@pytest.fixture(scope="session")
def mlflow_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return empty_mlflow_db(tmp_path_factory.mktemp("mlflow-template"))


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory, mlflow_template: Path) -> Iterator[LoggedRepo]:
    logged = logged_repo(tmp_path_factory.mktemp("batch") / "repo", mlflow_template)
    yield logged
    logged.store.close()


def served_answer(store: FeatureStore, model: str, entities: pd.DataFrame) -> tuple[Any, Any]:
    """``ServedModel.predict`` on the features ``get_historical_features`` returns."""
    _, records = store.registry.records()
    served = load_served_model(
        tracking_for(store.config), parse_model_ref(model), records, store.registry.history
    )
    lineage = served.lineage
    job = store.get_historical_features(
        entities, list(lineage.feature_refs), lineage.full_feature_names
    )
    return served.predict(job.to_df()[list(lineage.feature_columns)]), job.to_arrow()


def test_output_equals_the_served_model_on_the_training_retrieval(repo: LoggedRepo) -> None:
    entities = entity_rows(50)
    report, table = predict_batch(batch_context(repo.store), repo.classifier, entities)
    assert table is not None
    (predictions, probabilities), retrieved = served_answer(repo.store, repo.classifier, entities)
    assert table.column_names == [
        "user_id",
        "event_timestamp",
        "note",
        "prediction",
        "probability_0",
        "probability_1",
        "model_name",
        "model_version",
    ]
    assert table.column("prediction").to_pylist() == predictions
    got = np.column_stack([table.column(c).to_numpy() for c in ("probability_0", "probability_1")])
    assert got.tolist() == probabilities
    for name in ("user_id", "event_timestamp", "note"):
        assert table.column(name).equals(retrieved.column(name)), name
    assert set(table.column("model_name").to_pylist()) == {"churn"}
    assert set(table.column("model_version").to_pylist()) == {1}
    assert (report.model_name, report.model_version, report.rows) == ("churn", 1, 50)
    assert report.output is None and report.engine == "local" and report.as_of == {}
    assert report.retrieval_seconds is not None and report.rows_per_second > 0


def test_a_regressor_writes_its_prediction_alone(repo: LoggedRepo) -> None:
    entities = entity_rows(30, seed=4)
    _, table = predict_batch(batch_context(repo.store), repo.regressor, entities)
    assert table is not None
    (predictions, probabilities), _ = served_answer(repo.store, repo.regressor, entities)
    assert probabilities is None
    assert not [c for c in table.column_names if c.startswith("probability_")]
    assert table.column("prediction").to_pylist() == predictions


def test_bounded_batches_give_the_same_answer(repo: LoggedRepo, tmp_path: Path) -> None:
    entities = entity_rows(50, seed=2)
    context = batch_context(repo.store)
    _, whole = predict_batch(context, repo.classifier, entities)
    out = tmp_path / "scores.parquet"
    report, none = predict_batch(context, "churn@production", entities, out, batch_rows=7)
    assert none is None and report.batches == 8 and report.output == out.absolute()
    assert pq.read_table(out).equals(whole)
    assert [p.name for p in tmp_path.iterdir()] == ["scores.parquet"]


def test_entity_files_parquet_and_csv(repo: LoggedRepo, tmp_path: Path) -> None:
    entities = entity_rows(40, seed=3)
    context = batch_context(repo.store)
    _, expected = predict_batch(context, repo.classifier, entities)
    pq.write_table(pa.Table.from_pandas(entities, preserve_index=False), tmp_path / "e.parquet")
    entities.assign(
        event_timestamp=entities["event_timestamp"].map(lambda t: t.isoformat())
    ).to_csv(tmp_path / "e.csv", index=False)
    for name in ("e.parquet", "e.csv"):
        _, table = predict_batch(context, repo.classifier, tmp_path / name, batch_rows=9)
        assert table is not None
        assert table.cast(expected.schema).equals(expected), name


def test_features_can_be_written_too(repo: LoggedRepo) -> None:
    entities = entity_rows(10, seed=5)
    _, table = predict_batch(
        batch_context(repo.store), repo.classifier, entities, include_features=True
    )
    assert table is not None
    _, retrieved = served_answer(repo.store, repo.classifier, entities)
    assert table.column_names[3:6] == ["x1", "x2", "x3"]
    assert table.select(["x1", "x2", "x3"]).equals(retrieved.select(["x1", "x2", "x3"]))


def test_rows_without_time_need_a_materialized_view(repo: LoggedRepo) -> None:
    """Runs before the module's store is materialized (the tests below)."""
    with pytest.raises(ModelLineageError, match=r"never materialized.*event_timestamp"):
        predict_batch(batch_context(repo.store), "churn", entity_rows(5, timed=False))


# -- rows without a time: the online path's answers ------------------------------------------
@pytest.fixture(scope="module")
def materialized(repo: LoggedRepo) -> Iterator[FeatureStore]:
    store = FeatureStore(repo_path=repo.store.repo_path, clock=lambda: NOW)
    store.materialize(T0 - timedelta(days=1), NOW + timedelta(days=1))
    yield store
    store.close()


def test_rows_without_time_equal_the_online_path(
    repo: LoggedRepo, materialized: FeatureStore
) -> None:
    entities = entity_rows(50, seed=6, timed=False)
    report, table = predict_batch(batch_context(materialized), "churn", entities)
    assert table is not None
    model = load_model("churn", store=materialized)
    lineage = load_served_model(
        tracking_for(materialized.config),
        parse_model_ref("churn"),
        materialized.registry.records()[1],
    ).lineage
    online = get_features_for(
        "churn", {"user_id": entities["user_id"].tolist()}, store=materialized
    )
    expected = model.predict(online.to_df()[list(lineage.feature_columns)])
    assert table.column("prediction").to_pylist() == list(expected)
    assert report.as_of == {"user_stats": NOW}
    assert set(table.column("event_timestamp").to_pylist()) == {NOW}


def test_rows_with_and_without_time_mix(repo: LoggedRepo, materialized: FeatureStore) -> None:
    timed = entity_rows(20, seed=7)
    mixed = timed.copy()
    mixed.loc[::2, "event_timestamp"] = pd.NaT
    filled = timed.copy()
    filled.loc[::2, "event_timestamp"] = NOW
    context = batch_context(materialized)
    _, got = predict_batch(context, "churn", mixed, batch_rows=3)
    _, expected = predict_batch(context, "churn", filled)
    assert got is not None and expected is not None and got.equals(expected)


# -- errors ----------------------------------------------------------------------------------
def test_unknown_model(repo: LoggedRepo) -> None:
    with pytest.raises(UnknownModelError, match="no registered model 'nope'"):
        predict_batch(batch_context(repo.store), "nope/1", entity_rows(3))
    with pytest.raises(UnknownModelError, match="no version of model 'churn' holds the alias"):
        predict_batch(batch_context(repo.store), "churn@staging", entity_rows(3))


def test_a_model_without_lineage_is_refused(repo: LoggedRepo) -> None:
    from sklearn.linear_model import LinearRegression

    tracking = tracking_for(repo.store.config)
    with tracking.active() as client, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import mlflow
        import mlflow.sklearn

        with mlflow.start_run(experiment_id=tracking.experiment_id(client)):
            info = mlflow.sklearn.log_model(
                LinearRegression().fit([[0.0], [1.0]], [0.0, 1.0]), name="model"
            )
        mlflow.register_model(info.model_uri, "foreign")
    with pytest.raises(ModelLineageError, match="'foreign' version 1 carries no skewless lineage"):
        predict_batch(batch_context(repo.store), "foreign/1", entity_rows(3))


def test_entities_without_a_join_key(repo: LoggedRepo, tmp_path: Path) -> None:
    path = tmp_path / "keys.csv"
    entity_rows(3).rename(columns={"user_id": "uid"}).to_csv(path, index=False)
    with pytest.raises(EntityFrameError, match="no column 'user_id', a join key of feature view"):
        predict_batch(batch_context(repo.store), repo.classifier, path)


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("bad.parquet", b"not parquet at all", "cannot read the entities from"),
        ("missing.parquet", None, "does not exist"),
        ("rows.json", b"{}", "neither Parquet"),
    ],
)
def test_unreadable_entity_files(
    repo: LoggedRepo, tmp_path: Path, name: str, content: bytes | None, message: str
) -> None:
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(EntityFrameError, match=message):
        predict_batch(batch_context(repo.store), repo.classifier, path, tmp_path / "o.parquet")
    assert not (tmp_path / "o.parquet").exists()


def test_an_entity_column_named_like_an_output_column(repo: LoggedRepo) -> None:
    with pytest.raises(EntityFrameError, match=r"\['prediction'\].*rename or drop"):
        predict_batch(
            batch_context(repo.store), repo.classifier, entity_rows(3).assign(prediction=1)
        )


def test_the_store_facade_delegates_to_predict_batch(repo: LoggedRepo, tmp_path: Path) -> None:
    entities = entity_rows(30)
    _, direct = predict_batch(batch_context(repo.store), repo.classifier, entities)
    report, table = repo.store.predict_batch(repo.classifier, entities)
    assert table is not None and direct is not None and table.equals(direct)
    out = tmp_path / "scored.parquet"
    written, none = repo.store.predict_batch(repo.classifier, entities, out, batch_rows=11)
    assert none is None and written.rows == report.rows == 30
    import pyarrow.parquet as pq

    assert pq.read_table(out).equals(direct)
