"""A webhook receiver: a real HTTP server on loopback that keeps what it is sent."""

from __future__ import annotations

from http.server import BaseHTTPRequestHandler
from typing import Any, ClassVar

__all__ = ["Receiver"]


class Receiver(BaseHTTPRequestHandler):
    received: ClassVar[list[tuple[str, dict[str, str], bytes]]] = []
    status = 200

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append((self.path, dict(self.headers), body))
        self.send_response(type(self).status)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass
