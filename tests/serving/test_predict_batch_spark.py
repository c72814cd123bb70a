"""Batch inference on the Spark engine (local mode): the model runs on the executors and the
output, written by Spark, equals the DuckDB path's row for row."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

pytest.importorskip("mlflow")
pytest.importorskip("sklearn")
pytest.importorskip("pyspark")

from models.tiny_repo import empty_mlflow_db
from spark_session import spark_session

from serving.batch_repo import T0, LoggedRepo, entity_rows, logged_repo
from skewless import FeatureStore
from skewless.serving.batch import batch_context, predict_batch

pytestmark = pytest.mark.slow

NOW = T0 + timedelta(days=29, hours=5)


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LoggedRepo]:
    template = empty_mlflow_db(tmp_path_factory.mktemp("mlflow-template"))
    logged = logged_repo(tmp_path_factory.mktemp("batch-spark") / "repo", template)
    logged.store.materialize(T0 - timedelta(days=1), NOW)
    yield logged
    logged.store.close()


@pytest.fixture(scope="module")
def on_spark(repo: LoggedRepo) -> Iterator[FeatureStore]:
    from skewless.offline.spark.engine import SparkEngine

    engine = SparkEngine.from_session(spark_session(), repo.store.repo_path)
    store = FeatureStore(repo_path=repo.store.repo_path, clock=lambda: NOW, offline_engine=engine)
    yield store
    store.close()


@pytest.fixture(scope="module")
def on_duckdb(repo: LoggedRepo) -> Iterator[FeatureStore]:
    store = FeatureStore(repo_path=repo.store.repo_path, clock=lambda: NOW)
    yield store
    store.close()


def _same(spark: pa.Table, duck: pa.Table) -> None:
    assert spark.column_names == duck.column_names
    assert spark.cast(duck.schema).equals(duck)


@pytest.mark.parametrize("model", ["churn/1", "spend/1"])
def test_spark_writes_what_duckdb_returns(
    on_spark: FeatureStore, on_duckdb: FeatureStore, model: str, tmp_path: Path
) -> None:
    entities = entity_rows(50, seed=11)
    _, duck = predict_batch(batch_context(on_duckdb), model, entities)
    out = tmp_path / "scores.parquet"
    report, none = predict_batch(batch_context(on_spark), model, entities, out, batch_rows=7)
    assert none is None and duck is not None
    assert report.engine == "spark" and report.rows == 50 and report.output == out.absolute()
    assert report.retrieval_seconds is None and report.model_seconds > 0
    _same(pq.read_table(out), duck)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scores.parquet"]


def test_spark_returns_a_table_and_scores_rows_without_time(
    on_spark: FeatureStore, on_duckdb: FeatureStore
) -> None:
    entities = entity_rows(40, seed=12)
    entities.loc[::3, "event_timestamp"] = pd.NaT
    _, duck = predict_batch(batch_context(on_duckdb), "churn", entities)
    report, spark = predict_batch(batch_context(on_spark), "churn", entities)
    assert spark is not None and duck is not None
    _same(spark, duck)
    assert report.as_of == {"user_stats": NOW}
    untimed = entities.drop(columns=["event_timestamp"])
    _, duck = predict_batch(batch_context(on_duckdb), "churn", untimed, include_features=True)
    _, spark = predict_batch(batch_context(on_spark), "churn", untimed, include_features=True)
    assert spark is not None and duck is not None
    _same(spark, duck)
