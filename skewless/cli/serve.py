"""``skewless serve``: the HTTP feature server under uvicorn."""

from __future__ import annotations

import os
from typing import Annotated

import typer

from skewless.cli._context import fail, guarded, open_store, repo_dir

__all__ = ["serve"]


@guarded
def serve(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port to listen on.")] = 6566,
    workers: Annotated[
        int, typer.Option(help="Worker processes (each holds its own store and metrics).")
    ] = 1,
    max_body_bytes: Annotated[
        int | None,
        typer.Option(
            help="Largest request body accepted; larger ones answer 413 "
            "(default: server.max_body_bytes of feature_store.yaml, 8 MiB)."
        ),
    ] = None,
    log_level: Annotated[str, typer.Option(help="uvicorn's log level.")] = "info",
    access_log: Annotated[bool, typer.Option(help="Log every request (costs throughput).")] = False,
) -> None:
    """Serve online features over HTTP (Feast's feature server API).

    POST /get-online-features and POST /push take Feast's request bodies; GET /health,
    GET /metrics (Prometheus) and GET /openapi.json describe the server. New definitions
    applied to the registry are served within a second, without a restart.
    """
    from skewless.server.factory import ENV_MAX_BODY_BYTES, ENV_REPO
    from skewless.server.protocol import run_server

    if workers < 1:
        fail(f"--workers must be at least 1, got {workers}")
    if max_body_bytes is not None and max_body_bytes < 1:
        fail(f"--max-body-bytes must be positive, got {max_body_bytes}")
    repo = repo_dir(ctx)
    with open_store(ctx) as store:  # fail here, on one line, if the repository is unusable
        store.snapshot()
        config = store.config.server
    os.environ[ENV_REPO] = str(repo)
    if max_body_bytes is not None:
        os.environ[ENV_MAX_BODY_BYTES] = str(max_body_bytes)
    else:
        os.environ.pop(ENV_MAX_BODY_BYTES, None)
    run_server(
        "skewless.server.factory:app_from_env",
        host=host,
        port=port,
        workers=workers,
        log_level=log_level,
        access_log=access_log,
        read_timeout=config.read_timeout,
        keep_alive_timeout=config.keep_alive_timeout,
    )
