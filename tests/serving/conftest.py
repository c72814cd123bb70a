"""Fixtures of the prediction server tests: a served repository per module."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("mlflow")
pytest.importorskip("sklearn")

from serving.predict_repo import ServingRepo, build_serving_repo


@pytest.fixture(scope="session")
def serving_mlflow_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from mlflow import MlflowClient

    db = tmp_path_factory.mktemp("serving-mlflow") / "mlflow.db"
    MlflowClient(tracking_uri=f"sqlite:///{db}").search_experiments()
    return db


@pytest.fixture(scope="module")
def serving(
    tmp_path_factory: pytest.TempPathFactory, serving_mlflow_template: Path
) -> Iterator[ServingRepo]:
    root = tmp_path_factory.mktemp("serving") / "repo"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        repo = build_serving_repo(root, serving_mlflow_template)
    yield repo
    repo.store.close()
