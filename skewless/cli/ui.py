"""``skewless ui``: the read-only web UI under uvicorn."""

from __future__ import annotations

import importlib.util
import os
from typing import Annotated

import typer

from skewless.cli._context import fail, guarded, repo_dir

__all__ = ["ui"]


@guarded
def ui(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port to listen on.")] = 6580,
    log_level: Annotated[str, typer.Option(help="uvicorn's log level.")] = "info",
) -> None:
    """Serve the web UI: catalog and search, freshness, lineage and impact, models,
    experiments and pipelines. Read-only; everything it loads comes from this server.
    """
    missing = [m for m in ("starlette", "jinja2", "uvicorn") if importlib.util.find_spec(m) is None]
    if missing:
        fail(f"the web UI needs {', '.join(missing)}: install it with pip install 'skewless[ui]'")
    if not 0 < port < 65536:
        fail(f"--port must be from 1 to 65535, got {port}")
    from skewless.server.protocol import run_server
    from skewless.ui.factory import ENV_REPO, ui_sources_for

    repo = repo_dir(ctx)
    sources = ui_sources_for(repo)  # fail here, on one line, if the repository is unusable
    sources.registry.snapshot()
    from skewless.config import load_config

    server = load_config(repo).server
    os.environ[ENV_REPO] = str(repo)
    run_server(
        "skewless.ui.factory:app_from_env",
        host=host,
        port=port,
        workers=1,
        log_level=log_level,
        access_log=False,
        read_timeout=server.read_timeout,
        keep_alive_timeout=server.keep_alive_timeout,
    )
