"""The web UI's Starlette application: routes, templates, static files, errors and timings.

:func:`create_app` takes what the UI reads (:class:`~skewless.ui.data.UiSources`: the
registry, the dataset catalog, MLflow's tracking or None, the repository root and a clock)
and never a feature store. Every page is read-only. Errors are pages too: an unknown name is
a 404, a malformed parameter a 400, both as HTML (or JSON under ``/api/``); only a bug is a
500. Everything a page loads (CSS, the chart script, Chart.js) is served by the app itself,
so the UI works offline and asks nothing of any other host.

:class:`PageTimings` records how long each route's handler took (also sent as a
``Server-Timing`` header), which is what ``bench/ui_pages.py`` and the tests measure.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, MutableMapping
from importlib import resources
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from skewless.errors import UnknownModelError, UnknownObjectError
from skewless.ui.catalog import KIND_LABELS, object_url
from skewless.ui.data import UiData, UiSources
from skewless.ui.freshness import NewestRows
from skewless.ui.pages import catalog, datasets, lineage, models, operations, views
from skewless.ui.pages._common import (
    BadInput,
    NotFound,
    UiState,
    fmt_age,
    fmt_num,
    fmt_time,
    model_url,
    render,
)

__all__ = ["PageTimings", "create_app"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_STATIC_TYPES = {".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8"}


def _static_files() -> dict[str, bytes]:
    ui = resources.files("skewless.ui") / "static"
    files = {entry.name: entry.read_bytes() for entry in ui.iterdir() if entry.is_file()}
    chart = resources.files("skewless.monitoring") / "assets" / "chart.umd.min.js"
    files["chart.umd.min.js"] = chart.read_bytes()
    return files


class PageTimings:
    """The last ``keep`` handler durations (milliseconds) of each route."""

    def __init__(self, keep: int = 10_000) -> None:
        self._keep = keep
        self._lock = threading.Lock()
        self.by_route: dict[str, deque[float]] = {}

    def add(self, route: str, ms: float) -> None:
        with self._lock:
            self.by_route.setdefault(route, deque(maxlen=self._keep)).append(ms)

    def p95(self, route: str) -> float | None:
        """The 95th percentile of the durations of ``route`` (None: none recorded)."""
        with self._lock:
            values = sorted(self.by_route.get(route, ()))
        if not values:
            return None
        return values[min(len(values) - 1, int(0.95 * len(values)))]

    def clear(self) -> None:
        with self._lock:
            self.by_route.clear()


class _TimingMiddleware:
    """Time from a request's arrival to its response's first byte (its handler's work)."""

    def __init__(self, app: ASGIApp, timings: PageTimings) -> None:
        self.app = app
        self.timings = timings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()

        async def timed_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                ms = (time.perf_counter() - started) * 1000
                route = scope.get("route")
                self.timings.add(getattr(route, "path", "(unmatched)"), ms)
                headers = list(message.get("headers") or [])
                headers.append((b"server-timing", f"app;dur={ms:.2f}".encode()))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, timed_send)


def _templates() -> Environment:
    env = Environment(
        loader=PackageLoader("skewless.ui", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals.update(
        object_url=object_url, model_url=model_url, kind_labels=KIND_LABELS, Markup=Markup
    )
    env.filters.update(time=fmt_time, age=fmt_age, num=fmt_num)
    return env


def _wants_json(request: Request) -> bool:
    return request.url.path.startswith("/api/")


def _error(request: Request, status: int, message: str) -> Response:
    if _wants_json(request):
        return JSONResponse({"error": message}, status_code=status)
    title = {400: "Bad request", 404: "Not found", 405: "Not allowed"}.get(status, "Error")
    return render(request, "error.html", status, title=title, message=message)


async def _not_found(request: Request, exc: Exception) -> Response:
    return _error(request, 404, str(exc))


async def _bad_input(request: Request, exc: Exception) -> Response:
    return _error(request, 400, str(exc))


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    message = {404: "no page here: start from the catalog at /"}.get(exc.status_code, exc.detail)
    return _error(request, exc.status_code, str(message))


def create_app(sources: UiSources, *, data: UiData | None = None) -> Starlette:
    """The UI over ``sources`` (``data``: the cache to read through, made here by default).

    The application's ``state.timings`` is its :class:`PageTimings`.
    """
    files = _static_files()

    async def static(request: Request) -> Response:
        name = request.path_params["name"]
        body = files.get(name)
        if body is None:
            raise NotFound(f"no static file {name!r}")
        kind = _STATIC_TYPES.get(name[name.rfind(".") :], "application/octet-stream")
        return Response(body, media_type=kind, headers={"cache-control": "max-age=3600"})

    routes = [
        *catalog.routes,
        *views.routes,
        *datasets.routes,
        *lineage.routes,
        *models.routes,
        *operations.routes,
        Route("/static/{name}", static),
    ]
    app = Starlette(
        routes=routes,
        exception_handlers={
            NotFound: _not_found,
            UnknownObjectError: _not_found,
            UnknownModelError: _not_found,
            BadInput: _bad_input,
            HTTPException: _http_error,
        },
    )
    timings = PageTimings()
    app.state.ui = UiState(data or UiData(sources), _templates(), NewestRows())
    app.state.timings = timings
    app.add_middleware(_TimingMiddleware, timings=timings)
    return app
