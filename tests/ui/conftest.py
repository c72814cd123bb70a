"""Fixtures of the UI's tests: one repository for the session (models need MLflow)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("starlette")
pytest.importorskip("jinja2")

from ui.ui_repo import UiRepo


@pytest.fixture(scope="session")
def ui_repo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UiRepo]:
    pytest.importorskip("mlflow")
    pytest.importorskip("sklearn")
    from mlflow import MlflowClient

    from ui.ui_repo import build_ui_repo

    db = tmp_path_factory.mktemp("ui-mlflow") / "mlflow.db"
    MlflowClient(tracking_uri=f"sqlite:///{db}").search_experiments()
    repo = build_ui_repo(tmp_path_factory.mktemp("ui") / "repo", db)
    yield repo
    repo.serving.store.close()


@pytest.fixture(scope="session")
def ui_client(ui_repo: UiRepo) -> Iterator[object]:
    from starlette.testclient import TestClient

    from skewless.ui import create_app
    from ui.ui_repo import ui_sources

    with TestClient(create_app(ui_sources(Path(ui_repo.root)))) as client:
        yield client
