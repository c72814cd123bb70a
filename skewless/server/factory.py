"""Building the server's application from environment variables.

Uvicorn's multi-process mode imports the application in every worker by name, so the
``skewless serve`` command passes its options through the environment and points uvicorn at
:func:`app_from_env` (a factory).
"""

from __future__ import annotations

import os

from starlette.applications import Starlette

from skewless.errors import ConfigError
from skewless.server.app import create_app
from skewless.server.settings import ServerSettings

__all__ = ["ENV_MAX_BODY_BYTES", "ENV_REPO", "app_from_env"]

ENV_REPO = "SKEWLESS_SERVER_REPO"
ENV_MAX_BODY_BYTES = "SKEWLESS_SERVER_MAX_BODY_BYTES"


def app_from_env() -> Starlette:
    """The server application over the repository named by ``SKEWLESS_SERVER_REPO``, with
    the ``server`` block of its ``feature_store.yaml`` (``SKEWLESS_SERVER_MAX_BODY_BYTES``,
    set by ``--max-body-bytes``, overrides ``server.max_body_bytes``)."""
    from skewless.store import FeatureStore

    repo = os.environ.get(ENV_REPO)
    if not repo:
        raise ConfigError(
            f"{ENV_REPO} is not set: start the server with `skewless serve --repo PATH`"
        )
    store = FeatureStore(repo_path=repo)
    config = store.config.server
    raw_limit = os.environ.get(ENV_MAX_BODY_BYTES) or str(config.max_body_bytes)
    try:
        limit = int(raw_limit)
    except ValueError:
        raise ConfigError(f"{ENV_MAX_BODY_BYTES}={raw_limit!r} is not a number of bytes") from None
    settings = ServerSettings(
        max_body_bytes=limit,
        max_entities=config.max_entities,
        read_timeout=config.read_timeout,
        close_store=True,
    )
    return create_app(store, settings)
