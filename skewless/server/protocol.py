"""uvicorn's HTTP protocols with a deadline on request headers.

uvicorn closes a connection idle between requests (``timeout_keep_alive``) but waits for ever
for the headers of a request: a client that connects and sends nothing, or one byte at a
time, holds a connection (and a file descriptor) as long as it likes. These protocols close
the connection when a request's headers have not all arrived within the read timeout
(``server.read_timeout``; the body has the same deadline, kept by
:func:`skewless.server.requests.read_body`).

``skewless serve`` passes the class by name (``http=...``), so every worker process uses it;
the timeout travels in the ``SKEWLESS_SERVER_READ_TIMEOUT`` environment variable.
"""

from __future__ import annotations

import asyncio
import importlib.util
import logging
import os
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol

__all__ = ["ENV_READ_TIMEOUT", "PROTOCOL", "HeaderDeadlineH11", "run_server"]

ENV_READ_TIMEOUT = "SKEWLESS_SERVER_READ_TIMEOUT"
DEFAULT_READ_TIMEOUT_S = 15.0

logger = logging.getLogger("skewless.server")


def _read_timeout() -> float:
    try:
        return float(os.environ.get(ENV_READ_TIMEOUT, DEFAULT_READ_TIMEOUT_S))
    except ValueError:
        return DEFAULT_READ_TIMEOUT_S


class _HeaderDeadline:
    """Mixin over a uvicorn HTTP protocol: a timer runs from the first byte of a request (or
    from the connection's opening) until its headers are complete (the protocol then starts
    a request cycle); if it fires first, the connection is closed."""

    transport: asyncio.Transport
    cycle: Any

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)  # type: ignore[misc]
        self._header_timer: asyncio.TimerHandle | None = None
        self._timed_cycle: Any = None
        self._read_timeout = _read_timeout()
        self._arm()

    def data_received(self, data: bytes) -> None:
        cycle = self.cycle
        if self._header_timer is None and (cycle is None or cycle.response_complete):
            self._arm()  # the first bytes of a new request
        super().data_received(data)  # type: ignore[misc]
        cycle = self.cycle
        if cycle is not None and cycle is not self._timed_cycle:  # its headers are in
            self._timed_cycle = cycle
            self._disarm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)  # type: ignore[misc]

    def _arm(self) -> None:
        loop = asyncio.get_running_loop()
        self._header_timer = loop.call_later(self._read_timeout, self._headers_too_slow)

    def _disarm(self) -> None:
        timer, self._header_timer = self._header_timer, None
        if timer is not None:
            timer.cancel()

    def _headers_too_slow(self) -> None:
        self._header_timer = None
        if not self.transport.is_closing():
            logger.info(
                "closed a connection whose request headers took over %g s", self._read_timeout
            )
            self.transport.close()


class HeaderDeadlineH11(_HeaderDeadline, H11Protocol):
    """uvicorn's pure-Python (h11) protocol with the header deadline."""


if importlib.util.find_spec("httptools") is not None:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    class HeaderDeadlineHttpTools(_HeaderDeadline, HttpToolsProtocol):
        """uvicorn's httptools protocol with the header deadline."""

    PROTOCOL = "skewless.server.protocol:HeaderDeadlineHttpTools"
else:  # httptools is not installed
    PROTOCOL = "skewless.server.protocol:HeaderDeadlineH11"
"""The fastest protocol available with the header deadline, as uvicorn's ``http=`` name."""


def run_server(
    factory: str,
    *,
    host: str,
    port: int,
    workers: int,
    log_level: str,
    access_log: bool,
    read_timeout: float,
    keep_alive_timeout: int,
) -> None:
    """Run the application factory ``factory`` (``module:function``) under uvicorn as both
    servers run: every worker builds its own application, with this protocol's deadline on
    request headers (``read_timeout``) and a 10 s graceful shutdown."""
    import os

    import uvicorn

    os.environ[ENV_READ_TIMEOUT] = str(read_timeout)
    uvicorn.run(
        factory,
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level=log_level,
        access_log=access_log,
        loop="auto",
        http=PROTOCOL,
        timeout_keep_alive=keep_alive_timeout,
        timeout_graceful_shutdown=10,
    )
