"""What both servers answer the same way: JSON bodies, and requests no route takes."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from skewless.server.batching import DUMPS_OPTIONS, json_default
from skewless.server.metrics import Metrics
from skewless.server.requests import RequestProblem

__all__ = ["JSON", "json_response", "routing_problem", "routing_response"]

JSON = "application/json"


def json_response(
    content: Any, status: int = 200, headers: Mapping[str, str] | None = None
) -> Response:
    """``content`` as a JSON response (numpy values, datetimes and bytes encoded)."""
    return Response(
        orjson.dumps(content, default=json_default, option=DUMPS_OPTIONS),
        status_code=status,
        media_type=JSON,
        headers=headers,
    )


def routing_problem(request: Request, exc: HTTPException, routes: str) -> RequestProblem:
    """The problem of a request Starlette's router refused: 404 naming the ``routes`` the
    server answers, 405 naming the methods allowed, anything else as it came."""
    if exc.status_code == 404:
        return RequestProblem(
            404, "not_found", f"no route {request.url.path!r}: the server answers {routes}"
        )
    if exc.status_code == 405:
        allowed = (exc.headers or {}).get("Allow", "")
        return RequestProblem(
            405,
            "method_not_allowed",
            f"{request.method} is not allowed on {request.url.path}: use {allowed}",
        )
    return RequestProblem(exc.status_code, "http_error", str(exc.detail))


def routing_response(request: Request, exc: Exception, routes: str, metrics: Metrics) -> Response:
    """The JSON answer to a routing error, counted in ``metrics``."""
    assert isinstance(exc, HTTPException)
    problem = routing_problem(request, exc, routes)
    metrics.count_error(metrics.route_of(request.url.path), problem.code)
    return json_response(problem.body(), problem.status, headers=exc.headers)
