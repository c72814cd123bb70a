"""``skewless models serve``: a registered model behind HTTP, fetching its own features."""

from __future__ import annotations

import os
from typing import Annotated, Any

import typer

from skewless.cli._context import fail, guarded, open_store, repo_dir

__all__ = ["THREAD_VARIABLES", "serve_model"]

THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


@guarded
def serve_model(
    ctx: typer.Context,
    model: Annotated[
        str, typer.Argument(help="NAME, NAME@ALIAS or NAME/VERSION (default alias production).")
    ],
    version: Annotated[
        str | None, typer.Argument(help="A version number or alias, as `models promote` takes.")
    ] = None,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port to listen on.")] = 6570,
    workers: Annotated[
        int, typer.Option(help="Worker processes (each loads the model, batches and caches).")
    ] = 1,
    missing: Annotated[
        str,
        typer.Option(help="Entities without features: error (422 naming them) or null."),
    ] = "error",
    max_batch: Annotated[int, typer.Option(help="Most requests scored in one batch.")] = 64,
    max_wait_ms: Annotated[
        float, typer.Option(help="Longest a request is held back to fill a batch.")
    ] = 2.0,
    cache: Annotated[
        str | None,
        typer.Option(help="Prediction cache: memory or redis://HOST:PORT[/DB] (default none)."),
    ] = None,
    cache_ttl: Annotated[float, typer.Option(help="Seconds a cached prediction lives.")] = 60.0,
    log: Annotated[
        bool, typer.Option("--log/--no-log", help="Log every answer to data/prediction_logs/.")
    ] = True,
    log_flush_ms: Annotated[
        int, typer.Option(help="How often the prediction log is written (what a kill can lose).")
    ] = 1000,
    log_retention: Annotated[
        str,
        typer.Option(
            help="At start, delete prediction logs older than this and merge past days' "
            "files (30d; none keeps everything)."
        ),
    ] = "30d",
    max_body_bytes: Annotated[
        int | None,
        typer.Option(help="Largest request body (default: server.max_body_bytes, 8 MiB)."),
    ] = None,
    model_threads: Annotated[
        int,
        typer.Option(
            help="Threads a model's native code may use per call (OMP_NUM_THREADS, ...); "
            "batches are small, and one thread each keeps latency steady."
        ),
    ] = 1,
    experiment: Annotated[
        str | None,
        typer.Option(
            help="Route requests between model versions: an experiment file (started in the "
            "registry unless it runs) or the name of a running experiment. The champion arm "
            "must be the served model; with a bare NAME the champion's version is served.",
            metavar="FILE|NAME",
        ),
    ] = None,
    log_level: Annotated[str, typer.Option(help="uvicorn's log level.")] = "info",
    access_log: Annotated[bool, typer.Option(help="Log every request (costs throughput).")] = False,
) -> None:
    """Serve a registered model: POST /predict takes entity keys only.

    The server reads the features the model was trained on from the online store (by its
    lineage), scores requests that arrive together in one batch, logs every answer and
    follows the alias: a `models promote` is served within 2 s. It refuses to
    start when a view the model uses changed its definition since training. With
    --experiment, requests are split between the experiment's arms (sticky by entity key,
    the x-experiment-group header, bandits, shadows); see docs/predictions.md.
    """
    from skewless.config import parse_duration
    from skewless.server.factory import ENV_REPO
    from skewless.server.predict_factory import ENV_PREDICT_SETTINGS, settings_to_env
    from skewless.server.predict_settings import PredictionSettings
    from skewless.server.protocol import run_server
    from skewless.server.settings import ServerSettings
    from skewless.serving.model import check_servable
    from skewless.serving.reference import parse_model_ref

    if workers < 1:
        fail(f"--workers must be at least 1, got {workers}")
    ref = parse_model_ref(model, version)
    bare = version is None and "@" not in model and "/" not in model
    try:
        retention = None if log_retention.lower() == "none" else parse_duration(log_retention)
    except ValueError as exc:
        fail(f"--log-retention: {exc}")
    repo = repo_dir(ctx)
    with open_store(ctx) as store:  # fail here, on one line, if the model cannot be served
        from skewless.models.tracking import tracking_for

        tracking = tracking_for(store.config)
        _, records = store.registry.records()
        if experiment is not None:
            ref, experiment = _experiment(store, tracking, experiment, ref, bare)
        check_servable(tracking, ref, records, store.registry.history)
        config = store.config.server
        if log:
            from skewless.serving.log_files import log_dir
            from skewless.serving.logs_compact import compact_prediction_logs

            if log_dir(store.repo_path, ref.name).is_dir():  # a first start has no log yet
                compact_prediction_logs(store.repo_path, ref.name, retention=retention)
    settings = PredictionSettings(
        model=ref,
        missing=missing,
        max_batch=max_batch,
        max_wait_ms=max_wait_ms,
        cache=cache,
        cache_ttl_s=cache_ttl,
        log_predictions=log,
        log_flush_ms=log_flush_ms,
        experiment=experiment,
        http=ServerSettings(
            max_body_bytes=max_body_bytes or config.max_body_bytes,
            max_entities=config.max_entities,
            read_timeout=config.read_timeout,
            close_store=True,
        ),
    )
    if model_threads < 1:
        fail(f"--model-threads must be at least 1, got {model_threads}")
    for variable in THREAD_VARIABLES:
        os.environ[variable] = str(model_threads)
    os.environ[ENV_REPO] = str(repo)
    os.environ[ENV_PREDICT_SETTINGS] = settings_to_env(settings)
    run_server(
        "skewless.server.predict_factory:prediction_app_from_env",
        host=host,
        port=port,
        workers=workers,
        log_level=log_level,
        access_log=access_log,
        read_timeout=config.read_timeout,
        keep_alive_timeout=config.keep_alive_timeout,
    )


def _experiment(store: Any, tracking: Any, source: str, ref: Any, bare: bool) -> tuple[Any, str]:
    """The served reference and the experiment's name, the experiment checked and (a file)
    started once, before the workers start."""
    from pathlib import Path

    from skewless.experiments.records import ExperimentStore
    from skewless.experiments.spec import load_experiment
    from skewless.serving.arms import EXPERIMENT_FILE_SUFFIXES, check_arms, resolve_experiment
    from skewless.serving.reference import parse_model_ref

    experiments = ExperimentStore(store.registry)
    if bare:  # `serve churn --experiment ...`: serve the champion's version of churn
        path = Path(source)
        if path.is_file() or path.suffix.lower() in EXPERIMENT_FILE_SUFFIXES:
            spec = load_experiment(path)
        else:
            spec = experiments.get(source).spec
        champion = parse_model_ref(spec.champion.model)
        if champion.name == ref.name:
            ref = champion

    def check(spec: Any) -> None:
        check_arms(tracking, spec, store.registry.records()[1], store.registry.history)

    record = resolve_experiment(experiments, source, ref, check)
    return ref, record.name
