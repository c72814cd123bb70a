"""Building the UI's application for a repository, and from the environment for uvicorn.

``skewless ui`` checks the repository, puts its path in ``SKEWLESS_UI_REPO`` and points
uvicorn at :func:`app_from_env` (a factory), the way ``skewless serve`` starts its server.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from skewless.config import load_config
from skewless.datasets import DatasetCatalog
from skewless.errors import ConfigError
from skewless.models.tracking import mlflow_available, tracking_for
from skewless.registry import Registry
from skewless.ui.data import UiSources

if TYPE_CHECKING:
    from starlette.applications import Starlette

__all__ = ["ENV_REPO", "app_from_env", "ui_sources_for"]

ENV_REPO = "SKEWLESS_UI_REPO"


def _utc_now() -> datetime:
    return datetime.now(UTC)


def ui_sources_for(repo: str | Path) -> UiSources:
    """What the UI reads for the repository at ``repo`` (no models when MLflow is missing).

    Raises:
        ConfigError: ``feature_store.yaml`` is missing or invalid.
    """
    config = load_config(repo)
    root = Path(config.repo_path).resolve()
    registry = Registry(config)
    tracking = tracking_for(config) if mlflow_available() else None
    return UiSources(
        registry=registry,
        datasets=DatasetCatalog(registry, root, _utc_now),
        tracking=tracking,
        root=root,
        clock=_utc_now,
    )


def app_from_env() -> Starlette:
    """The UI over the repository named by ``SKEWLESS_UI_REPO``.

    Raises:
        ConfigError: the variable is not set.
    """
    from skewless.ui.app import create_app

    repo = os.environ.get(ENV_REPO)
    if not repo:
        raise ConfigError(f"{ENV_REPO} is not set: start the UI with `skewless ui --repo PATH`")
    return create_app(ui_sources_for(repo))
