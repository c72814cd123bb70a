"""Building the prediction server's application from environment variables.

``skewless models serve`` passes its options as JSON in ``SKEWLESS_PREDICT_SETTINGS`` and
points uvicorn at :func:`prediction_app_from_env`, so every ``--workers`` process builds its
own application (its own model copy, batcher, cache and log writer).
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any

import orjson
from starlette.applications import Starlette

from skewless.errors import ConfigError
from skewless.server.factory import ENV_REPO
from skewless.server.predict_app import create_prediction_app
from skewless.server.predict_settings import PredictionSettings
from skewless.server.settings import ServerSettings
from skewless.serving.reference import parse_model_ref

__all__ = ["ENV_PREDICT_SETTINGS", "prediction_app_from_env", "settings_to_env"]

ENV_PREDICT_SETTINGS = "SKEWLESS_PREDICT_SETTINGS"


def settings_to_env(settings: PredictionSettings) -> str:
    """``settings`` as the JSON :func:`prediction_app_from_env` reads."""
    data = dataclasses.asdict(settings)
    data["model"] = str(settings.model)
    return orjson.dumps(data).decode()


def _settings_from_env() -> PredictionSettings:
    raw = os.environ.get(ENV_PREDICT_SETTINGS)
    if not raw:
        raise ConfigError(
            f"{ENV_PREDICT_SETTINGS} is not set: start the server with `skewless models serve`"
        )
    data: dict[str, Any] = orjson.loads(raw)
    data["model"] = parse_model_ref(data["model"])
    data["http"] = ServerSettings(**data["http"])
    return PredictionSettings(**data)


def prediction_app_from_env() -> Starlette:
    """The prediction server over the repository in ``SKEWLESS_SERVER_REPO``."""
    from skewless.store import FeatureStore

    repo = os.environ.get(ENV_REPO)
    if not repo:
        raise ConfigError(
            f"{ENV_REPO} is not set: start the server with `skewless models serve --repo PATH`"
        )
    settings = _settings_from_env()
    store = FeatureStore(repo_path=repo)
    try:
        return create_prediction_app(store, settings, close_store=True)
    except BaseException:
        store.close()
        raise
