"""The ASGI application of the prediction server (Starlette): ``skewless models serve``.

``POST /predict`` takes entity keys only; the features come from the online store by the
model's lineage (:mod:`skewless.serving`), requests arriving together are scored in one batch
in a worker thread, and every answer goes to the prediction log. A background task follows
the served alias: a promotion is loaded and swapped in for the batches that start after it,
while batches in flight finish on the version they started with. The same task re-reads a
changed registry and checks the model's lineage against it again. With ``--experiment``, the
batches are scored by the experiment's router (:mod:`skewless.server.predict_routing`,
:mod:`skewless.serving.routing`) and the same task applies changes of its record.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any

import orjson
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route

from skewless.errors import ModelPredictionError, SkewlessError
from skewless.models.holds import process_holder
from skewless.models.tracking import Tracking, tracking_for
from skewless.server.batching import DUMPS_OPTIONS, json_default
from skewless.server.health import Health
from skewless.server.metrics import Metrics, MetricsMiddleware
from skewless.server.predict_metrics import render_experiment, render_serving
from skewless.server.predict_openapi import prediction_openapi_document
from skewless.server.predict_requests import (
    experiment_group,
    parse_feedback,
    parse_predict,
    prediction_problem,
)
from skewless.server.predict_routing import ExperimentRouting
from skewless.server.predict_settings import PredictionSettings
from skewless.server.requests import RETRY_AFTER_S, RequestProblem, check_entities, read_body
from skewless.server.responses import JSON, json_response, routing_response
from skewless.serving.batching import PredictionBatcher
from skewless.serving.cache import cache_from_spec
from skewless.serving.following import VersionFollower
from skewless.serving.model import ServedModel, load_served_model
from skewless.serving.recent import RecentAnswers
from skewless.serving.records import PredictionRequest, new_request_id
from skewless.serving.service import PredictionService, PredictionSink

if TYPE_CHECKING:
    from skewless.store import FeatureStore

__all__ = ["FeedbackStore", "create_prediction_app"]

logger = logging.getLogger("skewless.server")

ROUTES = ("/predict", "/feedback", "/model", "/health", "/ready", "/metrics", "/openapi.json")
ROUTES_TEXT = (
    "POST /predict, POST /feedback, GET /model, GET /health, GET /ready, GET /metrics and "
    "GET /openapi.json"
)
_REQUEST_ID_MAX = 128

FeedbackStore = Callable[[list[dict[str, Any]]], int]
"""Stores feedback items (``request_id``, ``label``, ``row``); returns how many."""


_json = json_response


def _request_id(request: Request) -> str:
    for name, value in request.scope["headers"]:
        if name == b"x-request-id":
            text = value.decode("latin-1").strip()
            if 0 < len(text) <= _REQUEST_ID_MAX and text.isprintable():
                return text
    return new_request_id()


class _PredictionServer:
    """The state behind the routes: the service, the batcher, health, and the watcher."""

    def __init__(
        self,
        store: FeatureStore,
        settings: PredictionSettings,
        sink: PredictionSink | None,
        feedback: FeedbackStore | None,
        tracking: Tracking | None,
        close_store: bool,
    ) -> None:
        self.store = store
        self.settings = settings
        self.tracking = tracking or tracking_for(store.config)
        self.close_store = close_store
        store.snapshot()
        self._registry_version = store.snapshot().version
        _, records = store.registry.records()
        served = load_served_model(self.tracking, settings.model, records, self._history)
        self.cache = cache_from_spec(settings.cache, settings.cache_ttl_s)
        self.sink = sink
        self.feedback_store = feedback
        self.recent = RecentAnswers(sink) if feedback is not None else None
        logged = self.recent if self.recent is not None else sink
        self.service = self._service(served, None if settings.experiment else logged)
        self.metrics = Metrics(list(ROUTES))
        self.health = Health()
        self._openapi: bytes | None = None
        self._client: Any = None
        holder = process_holder()
        self.follower = self._follower(
            self.service, "served", f"the served model {settings.model}", holder
        )
        self.routing: ExperimentRouting | None = None
        if settings.experiment:
            try:
                self.routing = ExperimentRouting(
                    store,
                    self.tracking,
                    settings.experiment,
                    self.follower,
                    lambda model: self._service(model, None, log_errors=False),
                    logged,
                    lambda service, label: self._follower(service, "experiment", label, holder),
                )
            except BaseException:
                self.follower.release()
                raise
        score = self.routing.router.score if self.routing else self.service.score
        self.batcher = PredictionBatcher(score, settings.max_batch, settings.max_wait_ms)

    def _service(
        self, model: ServedModel, sink: PredictionSink | None, log_errors: bool = True
    ) -> PredictionService:
        return PredictionService(
            model,
            self.store.get_online_features,
            missing=self.settings.missing,
            cache=self.cache,
            sink=sink,
            log_errors=log_errors,
        )

    def _follower(
        self, service: PredictionService, reason: str, label: str, holder: str
    ) -> VersionFollower:
        return VersionFollower(
            self.tracking,
            service,
            reason,
            holder,
            lambda: self.store.registry.records()[1],
            self._history,
            self._alias_version,
            label,
        )

    def _alias_version(self, name: str, alias: str) -> int:
        """The version ``alias`` names now: one registry call on a client kept for the poll."""
        if self._client is None:
            self._client = self.tracking.client()
        return int(self._client.get_model_version_by_alias(name, alias).version)

    def _history(self, view: str) -> Any:
        return self.store.registry.history(view)

    @property
    def lineage_problem(self) -> SkewlessError | None:
        return self.follower.lineage_problem

    @property
    def swaps(self) -> int:
        return self.follower.swaps

    @property
    def model(self) -> ServedModel:
        return self.service.model

    # -- errors ----------------------------------------------------------------------------
    def problem(self, route: str, problem: RequestProblem) -> Response:
        self.metrics.count_error(route, problem.code)
        component = problem.extra.get("component")
        if component is not None:
            self.health.down(component, str(problem))
        return _json(problem.body(), problem.status, problem.headers)

    def failure(self, route: str, exc: BaseException, request_id: str | None = None) -> Response:
        logger.error("request %s to %s failed", request_id, route, exc_info=exc)
        self.metrics.count_error(route, "internal")
        body: dict[str, Any] = {
            "error": "internal",
            "detail": f"the server failed with {type(exc).__name__}: {exc}; see its log",
        }
        if request_id:
            body["request_id"] = request_id
        return _json(body, 500)

    # -- routes ----------------------------------------------------------------------------
    async def predict(self, request: Request) -> Response:
        route = "/predict"
        received = time.perf_counter()
        request_id = _request_id(request)
        try:
            body = await read_body(request, self.settings.http)
            entities, data = parse_predict(body)
            check_entities(entities, self.settings.http.max_entities)
            if self.lineage_problem is not None:
                raise self.lineage_problem
            job = PredictionRequest(entities, data, request_id, received)
            if self.routing is not None:
                job.override = experiment_group(request.scope["headers"], self.routing.router)
            prediction = await self.batcher.submit(job)
        except ClientDisconnect:
            self.metrics.count_error(route, "client_disconnected")
            return Response(status_code=400)
        except SkewlessError as exc:
            if isinstance(exc, ModelPredictionError):
                logger.error("request %s: %s", request_id, exc)
            return self.problem(route, prediction_problem(exc, request_id))
        except Exception as exc:
            return self.failure(route, exc, request_id)
        if self.health.is_down("online_store"):
            self.health.up("online_store")
        return Response(
            orjson.dumps(prediction.answer(), default=json_default, option=DUMPS_OPTIONS),
            media_type=JSON,
            headers={"x-request-id": request_id},
        )

    async def feedback(self, request: Request) -> Response:
        route = "/feedback"
        try:
            body = await read_body(request, self.settings.http)
            items = parse_feedback(body)
            if self.feedback_store is None:
                raise RequestProblem(
                    404,
                    "feedback_disabled",
                    "this server keeps no prediction log, so it takes no feedback: start it "
                    "without --no-log",
                )
            stored = await asyncio.to_thread(self.feedback_store, items)
        except ClientDisconnect:
            self.metrics.count_error(route, "client_disconnected")
            return Response(status_code=400)
        except SkewlessError as exc:
            return self.problem(route, prediction_problem(exc))
        except Exception as exc:
            return self.failure(route, exc)
        unmatched = 0
        if self.recent is not None:
            outcomes, unmatched = self.recent.claim(items)
            if self.routing is not None:
                self.routing.router.observe(outcomes)
        if unmatched:  # recorded; the log join matches it once the request's rows are there
            return _json({"status": "accepted", "stored": stored, "unmatched": unmatched}, 202)
        return _json({"status": "ok", "stored": stored})

    async def describe(self, request: Request) -> Response:
        body = self.model.describe()
        if self.routing is not None:
            body["experiment"] = self.routing.router.describe()
        return _json(body)

    async def health_check(self, request: Request) -> Response:
        model = self.model
        return _json({"status": "ok", "model": {"name": model.name, "version": str(model.version)}})

    async def ready(self, request: Request) -> Response:
        await self.health.probe("registry", self.store.registry.version)
        ping = getattr(self.store.online_store, "ping", None)
        if ping is not None:
            await self.health.probe("online_store", ping)
        components: dict[str, Any] = self.health.as_json()
        lineage = self.lineage_problem
        components["model"] = (
            {"status": "up"} if lineage is None else {"status": "down", "detail": str(lineage)}
        )
        up = self.health.all_up() and lineage is None
        model = self.model
        return _json(
            {
                "status": "ready" if up else "unavailable",
                "model": {"name": model.name, "version": str(model.version)},
                "components": components,
            },
            200 if up else 503,
            None if up else {"Retry-After": str(RETRY_AFTER_S)},
        )

    async def metrics_text(self, request: Request) -> Response:
        text = self.metrics.render() + render_serving(
            self.service.stats, self.model, self.cache, self.sink, self.swaps
        )
        if self.recent is not None or self.routing is not None:
            text += render_experiment(
                self.routing.router if self.routing else None,
                self.recent.unmatched if self.recent else 0,
            )
        return Response(text, media_type="text/plain; version=0.0.4")

    async def openapi(self, request: Request) -> Response:
        if self._openapi is None:
            from skewless._version import __version__

            title = f"skewless prediction server ({self.settings.model.name})"
            self._openapi = orjson.dumps(prediction_openapi_document(title, __version__))
        return Response(self._openapi, media_type=JSON)

    async def http_error(self, request: Request, exc: Exception) -> Response:
        return routing_response(request, exc, ROUTES_TEXT, self.metrics)

    async def server_error(self, request: Request, exc: Exception) -> Response:
        return self.failure(self.metrics.route_of(request.url.path), exc)

    # -- following the alias, the experiment and the registry ------------------------------
    @contextlib.asynccontextmanager
    async def lifespan(self, app: Starlette) -> AsyncIterator[None]:
        watcher = asyncio.create_task(self._watch())
        try:
            yield
        finally:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
            self.batcher.close()
            if self.routing is not None:
                await asyncio.to_thread(self.routing.close)
            await asyncio.to_thread(self.follower.release)
            if self.sink is not None:
                await asyncio.to_thread(self.sink.close)
            if self.cache is not None:
                self.cache.close()
            if self.close_store:
                self.store.close()

    async def _watch(self) -> None:
        last_warning = 0.0
        while True:
            await asyncio.sleep(self.settings.model_poll_seconds)
            try:
                await asyncio.to_thread(self.check_for_changes)
            except SkewlessError as exc:
                self.health.down("registry", str(exc))
            except Exception as exc:
                now = time.monotonic()
                if now - last_warning > 60:
                    last_warning = now
                    logger.warning("cannot check the model and registry for changes: %s", exc)
            else:
                self.health.up("registry")

    def check_for_changes(self) -> bool:
        """Pick up a changed registry, a moved alias and a changed experiment; whether the
        served model changed."""
        version = self.store.registry.version()
        if version != self._registry_version:
            self._registry_version = version
            self.follower.recheck_lineage()  # before the new definitions are read, not after
            if self.routing is not None:
                self.routing.recheck_lineage()
            self.store.refresh_registry()
        self.follower.renew()
        swapped = self.follower.follow()
        if self.routing is not None:
            self.routing.check()
        return swapped


def create_prediction_app(
    store: FeatureStore,
    settings: PredictionSettings,
    *,
    sink: PredictionSink | None = None,
    feedback: FeedbackStore | None = None,
    tracking: Tracking | None = None,
    close_store: bool = False,
) -> Starlette:
    """The prediction server's ASGI application: serve ``settings.model`` over ``store``.

    The model is loaded and its lineage checked here, so a model that cannot be served
    raises before any request is taken.

    Args:
        store: where features are read and definitions checked.
        settings: the model, batching, cache and log settings.
        sink: where answers are logged; by default (``settings.log_predictions``) the
            prediction log under ``data/prediction_logs/NAME/`` (docs/prediction-logs.md).
        feedback: stores ``POST /feedback`` items; by default next to the prediction log
            (None without a log: the route answers 404).
        tracking: the MLflow tracking and registry (default: the store's ``mlflow`` block).
        close_store: close ``store`` when the application shuts down.

    Raises:
        UnknownModelError: no such model, version or alias.
        ModelLineageError: no lineage, or the definitions it was trained on changed.
    """
    if settings.log_predictions and sink is None:
        from skewless.serving.feedback import FeedbackWriter
        from skewless.serving.logs import PredictionLogWriter

        sink = PredictionLogWriter(store.repo_path, settings.model.name, settings.log_flush_ms)
        feedback = feedback or FeedbackWriter(store.repo_path, settings.model.name).record
    try:
        server = _PredictionServer(store, settings, sink, feedback, tracking, close_store)
    except BaseException:
        if sink is not None:
            sink.close()
        raise
    app = Starlette(
        routes=[
            Route("/predict", server.predict, methods=["POST"]),
            Route("/feedback", server.feedback, methods=["POST"]),
            Route("/model", server.describe, methods=["GET"]),
            Route("/health", server.health_check, methods=["GET"]),
            Route("/ready", server.ready, methods=["GET"]),
            Route("/metrics", server.metrics_text, methods=["GET"]),
            Route("/openapi.json", server.openapi, methods=["GET"]),
        ],
        middleware=[Middleware(MetricsMiddleware, metrics=server.metrics)],
        exception_handlers={HTTPException: server.http_error, Exception: server.server_error},
        lifespan=server.lifespan,
    )
    app.state.server = server
    return app
