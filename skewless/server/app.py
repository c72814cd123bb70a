"""The ASGI application of the feature server (Starlette).

Reads stay on the event loop, for every online store: reads that arrive together share one
store call (:mod:`skewless.server.batching`), and a batch costs tens of microseconds of work
plus, on Redis, one round trip, less than a hop to a worker thread would cost (under load
that hop waits for the event loop to give up the GIL, up to ``sys.getswitchinterval()``).
Pushes, which may write files and wait for the disk, run in a worker thread. A background
task re-reads the registry as soon as its version changes, so new definitions are served
within ``registry_poll_seconds``.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import threading
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import orjson
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route

from skewless.errors import RegistryError, SkewlessError, StoreUnavailableError
from skewless.server.batching import ReadBatcher, encode_columns
from skewless.server.health import Health
from skewless.server.metrics import Metrics, MetricsMiddleware
from skewless.server.openapi import openapi_document
from skewless.server.requests import (
    RETRY_AFTER_S,
    RequestProblem,
    check_entities,
    parse_get_online_features,
    parse_push,
    problem_of,
    read_body,
)
from skewless.server.responses import JSON, json_response, routing_response
from skewless.server.settings import ServerSettings

if TYPE_CHECKING:
    from skewless.online_read import OnlineResponse
    from skewless.store import FeatureStore

__all__ = ["create_app", "encode_online_response"]

logger = logging.getLogger("skewless.server")

DEEP_VALUES = ("0", "1", "false", "true")
ROUTES = ("/get-online-features", "/push", "/health", "/metrics", "/openapi.json")
ROUTES_TEXT = (
    "POST /get-online-features, POST /push, GET /health, GET /metrics and GET /openapi.json"
)


def encode_online_response(response: OnlineResponse) -> bytes:
    """Feast's JSON shape of an online read (see docs/semantics.md "Online reads")."""
    return encode_columns(response.to_dict(), response.statuses, response.event_timestamps)


_json = json_response


class _Server:
    """The state behind the routes: the store, its settings, metrics and the watcher."""

    def __init__(self, store: FeatureStore, settings: ServerSettings) -> None:
        self.store = store
        self.settings = settings
        self.metrics = Metrics(list(ROUTES))
        self.reads = ReadBatcher(store, offload=settings.offload_reads)
        self.health = Health()
        self._generation = store.registry.generation
        self.refreshes = 0
        self.pushed_rows = 0
        self._push_lock = threading.Lock()
        self._openapi: bytes | None = None
        self.metrics.value(
            "skewless_registry_version",
            "The registry version being served.",
            lambda: float(self.store.snapshot().version),
        )
        self.metrics.value(
            "skewless_online_store_reads_total",
            "Online store reads made; concurrent requests for the same features share one.",
            lambda: float(self.reads.calls),
            kind="counter",
        )
        self.metrics.value(
            "skewless_registry_refreshes_total",
            "Times the server re-read a changed registry.",
            lambda: float(self.refreshes),
            kind="counter",
        )
        self.metrics.value(
            "skewless_pushed_rows_total",
            "Rows acknowledged through /push since the server started.",
            lambda: float(self.pushed_rows),
            kind="counter",
        )

    # -- errors ----------------------------------------------------------------------------
    def problem(self, route: str, problem: RequestProblem) -> Response:
        self.metrics.count_error(route, problem.code)
        component = problem.extra.get("component")
        if component is not None:
            self.health.down(component, str(problem))
        return _json(problem.body(), problem.status, problem.headers)

    def client_gone(self, route: str) -> Response:
        """A client that closed its connection before sending its whole body: one log line
        (nothing was done, and nobody reads the answer)."""
        logger.warning("a client of %s disconnected before sending its whole request", route)
        self.metrics.count_error(route, "client_disconnected")
        return Response(status_code=400)

    def failure(self, route: str, exc: BaseException) -> Response:
        logger.exception("unexpected error answering %s", route, exc_info=exc)
        self.metrics.count_error(route, "internal")
        return _json(
            {
                "error": "internal",
                "detail": f"the server failed with {type(exc).__name__}: {exc}; see its log",
            },
            500,
        )

    # -- routes ----------------------------------------------------------------------------
    async def get_online_features(self, request: Request) -> Response:
        route = "/get-online-features"
        try:
            body = await read_body(request, self.settings)
            features, entities, full = parse_get_online_features(body, self.store)
            check_entities(entities, self.settings.max_entities)
            content = await self.reads.read(features, entities, full)
        except ClientDisconnect:
            return self.client_gone(route)
        except SkewlessError as exc:
            return self.problem(route, problem_of(exc))
        except Exception as exc:
            return self.failure(route, exc)
        if self.health.is_down("online_store"):
            self.health.up("online_store")
        return Response(content, media_type=JSON)

    async def push(self, request: Request) -> Response:
        route = "/push"
        try:
            body = await read_body(request, self.settings)
            name, columns, to = parse_push(body)
            rows = await run_in_threadpool(self._push, name, columns, to)
        except ClientDisconnect:
            return self.client_gone(route)
        except SkewlessError as exc:
            return self.problem(route, problem_of(exc, rows=True))
        except Exception as exc:
            return self.failure(route, exc)
        written = {
            "online": rows if to != "offline" else None,
            "offline": rows if to != "online" else None,
        }
        if to != "offline" and self.health.is_down("online_store"):
            self.health.up("online_store")
        return _json(
            {"status": "ok", "push_source_name": name, "to": to, "rows": rows, "written": written}
        )

    def _push(self, name: str, columns: dict[str, list[Any]], to: str) -> int:
        with self._push_lock:  # one writer at a time: pushed files are numbered in order
            report = self.store.push(name, columns, to)
            self.pushed_rows += report.rows
        return int(report.rows)

    async def health_check(self, request: Request) -> Response:
        """The last known state of each store; with ``?deep=1``, each is probed first."""
        deep = request.query_params.get("deep", "0")
        if deep not in DEEP_VALUES:
            problem = RequestProblem(
                422, "invalid_request", f"`deep` must be 1 or 0 (true or false), got {deep!r}"
            )
            return self.problem("/health", problem)
        if deep in ("1", "true"):
            await self._probe_all()
        snapshot = self.store.snapshot()
        up = self.health.all_up()
        return _json(
            {
                "status": "ok" if up else "unavailable",
                "project": self.store.project,
                "registry_version": snapshot.version,
                "components": self.health.as_json(),
            },
            200 if up else 503,
            None if up else {"Retry-After": str(RETRY_AFTER_S)},
        )

    async def _probe_all(self) -> None:
        await self.health.probe("registry", self.store.registry.version)
        await self._probe_online()

    async def _probe_online(self) -> None:
        ping = getattr(self.store.online_store, "ping", None)
        if ping is not None:
            await self.health.probe("online_store", ping)

    async def metrics_text(self, request: Request) -> Response:
        return Response(self.metrics.render(), media_type="text/plain; version=0.0.4")

    async def openapi(self, request: Request) -> Response:
        if self._openapi is None:
            from skewless._version import __version__

            doc = openapi_document(f"skewless feature server ({self.store.project})", __version__)
            self._openapi = orjson.dumps(doc)
        return Response(self._openapi, media_type=JSON)

    async def http_error(self, request: Request, exc: Exception) -> Response:
        return routing_response(request, exc, ROUTES_TEXT, self.metrics)

    async def server_error(self, request: Request, exc: Exception) -> Response:
        return self.failure(self.metrics.route_of(request.url.path), exc)

    # -- registry --------------------------------------------------------------------------
    @contextlib.asynccontextmanager
    async def lifespan(self, app: Starlette) -> AsyncIterator[None]:
        await asyncio.to_thread(self.store.snapshot)  # read the registry once, up front
        if self.settings.freeze_gc:
            # Everything alive now (modules, definitions) lives as long as the server: keep
            # it out of the collector's scans, which would otherwise show as latency spikes.
            gc.collect()
            gc.freeze()
        watcher = asyncio.create_task(self._watch_registry())
        try:
            yield
        finally:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
            self.reads.close()
            if self.settings.close_store:
                self.store.close()

    async def _watch_registry(self) -> None:
        interval = self.settings.registry_poll_seconds
        last_warning = 0.0
        while True:
            await asyncio.sleep(interval)
            try:
                if await asyncio.to_thread(self.refresh_if_changed):
                    self.refreshes += 1
            except (StoreUnavailableError, RegistryError) as exc:  # keep serving what was read
                self.health.down("registry", str(exc))
            except Exception as exc:
                now = time.monotonic()
                if now - last_warning > 60:
                    last_warning = now
                    logger.warning("cannot check the registry for changes: %s", exc)
            else:
                self.health.up("registry")
            if self.health.is_down("online_store"):  # notice a recovery without traffic
                await self._probe_online()

    def refresh_if_changed(self) -> bool:
        """Re-read the registry if its version moved; whether it did."""
        registry = self.store.registry
        version = registry.version()
        if version == self.store.snapshot().version and registry.generation == self._generation:
            return False
        self._generation = registry.generation
        self.store.refresh_registry()
        logger.info("registry changed: now serving version %s", self.store.snapshot().version)
        return True


def create_app(store: FeatureStore, settings: ServerSettings | None = None) -> Starlette:
    """The feature server's ASGI application over ``store``.

    Args:
        store: the feature store to serve; it is closed on shutdown only when
            ``settings.close_store`` is set.
        settings: body size limit, registry polling; defaults to :class:`ServerSettings`.

    Example:
        >>> from skewless.config import RepoConfig
        >>> from skewless.store import FeatureStore
        >>> app = create_app(FeatureStore(config=RepoConfig(project="demo")))
        >>> sorted(r.path for r in app.routes)[:2]
        ['/get-online-features', '/health']
    """
    server = _Server(store, settings or ServerSettings())
    app = Starlette(
        routes=[
            Route("/get-online-features", server.get_online_features, methods=["POST"]),
            Route("/push", server.push, methods=["POST"]),
            Route("/health", server.health_check, methods=["GET"]),
            Route("/metrics", server.metrics_text, methods=["GET"]),
            Route("/openapi.json", server.openapi, methods=["GET"]),
        ],
        middleware=[Middleware(MetricsMiddleware, metrics=server.metrics)],
        exception_handlers={HTTPException: server.http_error, Exception: server.server_error},
        lifespan=server.lifespan,
    )
    app.state.server = server
    return app
