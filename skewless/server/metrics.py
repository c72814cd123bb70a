"""Prometheus metrics of the feature server, kept in-process and rendered as text.

Counters and one latency histogram per route, written in the Prometheus text exposition
format (version 0.0.4). With several worker processes each keeps its own figures; a scraper
sees the worker that answered.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from skewless.serving.stats import Histogram

__all__ = ["LATENCY_BUCKETS", "Metrics", "MetricsMiddleware"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

LATENCY_BUCKETS: tuple[float, ...] = (
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
)
"""Upper bounds (seconds) of the request latency histogram; ``+Inf`` is implied."""

UNMATCHED = "unmatched"


class Metrics:
    """Request counts by route, method and status; latency per route; errors by kind.

    Example:
        >>> m = Metrics(routes=["/health"])
        >>> m.observe("/health", "GET", 200, 0.0004)
        >>> m.count_error("/health", "not_found")
        >>> print(m.render().splitlines()[2])
        skewless_http_requests_total{route="/health",method="GET",status="200"} 1
    """

    def __init__(self, routes: list[str]) -> None:
        self.routes = frozenset(routes)
        self.requests: dict[tuple[str, str, int], int] = {}
        self.latency: dict[str, Histogram] = {}
        self.errors: dict[tuple[str, str], int] = {}
        self.values: dict[str, tuple[str, str, Callable[[], float]]] = {}

    def route_of(self, path: str) -> str:
        """The route label of a request path (every unknown path shares one label)."""
        return path if path in self.routes else UNMATCHED

    def observe(self, route: str, method: str, status: int, seconds: float) -> None:
        key = (route, method if method in _METHODS else "OTHER", status)
        self.requests[key] = self.requests.get(key, 0) + 1
        histogram = self.latency.get(route)
        if histogram is None:
            histogram = self.latency[route] = Histogram(LATENCY_BUCKETS)
        histogram.observe(seconds)

    def count_error(self, route: str, error: str) -> None:
        key = (route, error)
        self.errors[key] = self.errors.get(key, 0) + 1

    def value(
        self, name: str, help_text: str, read: Callable[[], float], kind: str = "gauge"
    ) -> None:
        """Register a value read at each scrape (``kind`` is ``gauge`` or ``counter``)."""
        self.values[name] = (kind, help_text, read)

    def render(self) -> str:
        """The Prometheus text exposition of every metric."""
        lines = [
            "# HELP skewless_http_requests_total HTTP requests answered, by route, method "
            "and status.",
            "# TYPE skewless_http_requests_total counter",
        ]
        for (route, method, status), n in sorted(self.requests.items()):
            lines.append(
                f'skewless_http_requests_total{{route="{route}",method="{method}",'
                f'status="{status}"}} {n}'
            )
        lines += [
            "# HELP skewless_http_request_duration_seconds Time to answer a request, by route.",
            "# TYPE skewless_http_request_duration_seconds histogram",
        ]
        for route, h in sorted(self.latency.items()):
            cumulative = 0
            for bound, n in zip((*LATENCY_BUCKETS, None), h.counts, strict=True):
                cumulative += n
                le = "+Inf" if bound is None else repr(bound)
                lines.append(
                    f'skewless_http_request_duration_seconds_bucket{{route="{route}",le="{le}"}} '
                    f"{cumulative}"
                )
            lines.append(f'skewless_http_request_duration_seconds_sum{{route="{route}"}} {h.sum}')
            lines.append(
                f'skewless_http_request_duration_seconds_count{{route="{route}"}} {h.total}'
            )
        lines += [
            "# HELP skewless_http_errors_total Requests answered with an error, by route and "
            "error code.",
            "# TYPE skewless_http_errors_total counter",
        ]
        for (route, error), n in sorted(self.errors.items()):
            lines.append(f'skewless_http_errors_total{{route="{route}",error="{error}"}} {n}')
        for name, (kind, help_text, read) in sorted(self.values.items()):
            value = read()
            text = str(int(value)) if float(value).is_integer() else repr(value)
            lines += [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}", f"{name} {text}"]
        return "\n".join(lines) + "\n"


_METHODS = frozenset({"GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "TRACE"})


class MetricsMiddleware:
    """Pure ASGI middleware timing every HTTP request and counting its status."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            metrics = self.metrics
            metrics.observe(
                metrics.route_of(scope["path"]),
                scope["method"],
                status,
                time.perf_counter() - start,
            )
