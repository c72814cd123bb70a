"""Fixtures of the model lifecycle tests: one tiny repository and MLflow store per module."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("mlflow")
pytest.importorskip("sklearn")

from models.tiny_repo import build_repo, empty_mlflow_db
from skewless import FeatureStore


@pytest.fixture(scope="session")
def mlflow_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return empty_mlflow_db(tmp_path_factory.mktemp("mlflow-template"))


@pytest.fixture(scope="module")
def store(
    tmp_path_factory: pytest.TempPathFactory, mlflow_template: Path
) -> Iterator[FeatureStore]:
    root = tmp_path_factory.mktemp("tiny") / "repo"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        s = build_repo(root, mlflow_template)
    yield s
    s.close()
