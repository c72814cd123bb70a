"""A throwaway ``redis-server`` for tests: a free loopback port, no persistence, stopped by pid.

Import it from any test module or conftest (``tests/`` is on ``sys.path`` under pytest)::

    from redis_server import clean_redis, redis_server  # fixtures, registered by the import

- :func:`redis_server` (session fixture): one server for the whole run, started on first use.
- :func:`clean_redis` (function fixture): the same server after ``FLUSHALL``.
- :class:`RedisServer`: start your own (``with RedisServer() as server: ...``), e.g. one to
  stop mid-test.

The server keeps nothing on disk (``save ""``, no AOF) and its working directory is a temporary
directory removed on stop. When ``redis-server`` is not installed the tests that need it are
skipped with a message saying how to install it (the test script installs it).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import TracebackType

import pytest

__all__ = [
    "RedisServer",
    "clean_redis",
    "find_redis_server",
    "free_port",
    "redis_server",
    "shared_server",
    "stop_shared_server",
]

START_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 10.0
INSTALL_HINT = "install it with `apt-get install -y redis-server` (or set SKEWLESS_REDIS_SERVER)"


def find_redis_server() -> str | None:
    """The ``redis-server`` program: ``$SKEWLESS_REDIS_SERVER``, else the one on ``PATH``."""
    return os.environ.get("SKEWLESS_REDIS_SERVER") or shutil.which("redis-server")


def free_port() -> int:
    """A TCP port nothing listens on at this instant (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RedisServer:
    """One ``redis-server`` process on ``127.0.0.1``.

    Args:
        port: the port to listen on; by default a free one (retried if another process takes
            it first).
        program: the ``redis-server`` binary (see :func:`find_redis_server`).
        args: more configuration, e.g. ``("--requirepass", "secret")``.
    """

    def __init__(
        self, port: int | None = None, program: str | None = None, args: Sequence[str] = ()
    ) -> None:
        found = program or find_redis_server()
        if found is None:
            raise FileNotFoundError(f"redis-server is not installed: {INSTALL_HINT}")
        self.program = found
        self.args = tuple(args)
        self.host = "127.0.0.1"
        self.port = port or 0
        self._fixed_port = port is not None
        self.pid: int | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self.root: Path | None = None

    # -- addresses -------------------------------------------------------------------------
    @property
    def connection_string(self) -> str:
        """``host:port``, the shape of ``online_store.connection_string``."""
        return f"{self.host}:{self.port}"

    @property
    def url(self) -> str:
        """``redis://host:port/0``, the shape of a stream URL."""
        return f"redis://{self.host}:{self.port}/0"

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> RedisServer:
        """Start the server and wait until it answers ``PING``."""
        if self._proc is not None:
            return self
        self.root = Path(tempfile.mkdtemp(prefix="skewless-redis-"))
        last_log = ""
        for _ in range(1 if self._fixed_port else 5):
            if not self._fixed_port:
                self.port = free_port()
            if self._launch():
                return self
            last_log = self._log_text()
        shutil.rmtree(self.root, ignore_errors=True)
        raise RuntimeError(f"redis-server did not start on port {self.port}:\n{last_log}")

    def _launch(self) -> bool:
        assert self.root is not None
        log = self.root / "redis.log"
        args = [
            self.program,
            "--port", str(self.port),
            "--bind", self.host,
            "--save", "",
            "--appendonly", "no",
            "--dir", str(self.root),
            "--logfile", str(log),
            "--daemonize", "no",
            *self.args,
        ]  # fmt: skip
        self._proc = subprocess.Popen(
            args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        self.pid = self._proc.pid
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:  # exited: most likely the port was taken
                self._proc = None
                self.pid = None
                return False
            if self.ping():
                return True
            time.sleep(0.01)
        self._kill()
        return False

    def ping(self) -> bool:
        """True when the server answers ``PING`` right now (a password error is an answer)."""
        try:
            return self.command("PING").startswith((b"+PONG", b"-NOAUTH"))
        except OSError:
            return False

    def command(self, *args: str) -> bytes:
        """Send one command in RESP and return the raw reply (one ``recv``; for short replies)."""
        payload = b"*%d\r\n" % len(args) + b"".join(
            b"$%d\r\n%b\r\n" % (len(a.encode()), a.encode()) for a in args
        )
        with socket.create_connection((self.host, self.port), timeout=2.0) as sock:
            sock.sendall(payload)
            return sock.recv(65_536)

    def flushall(self) -> None:
        """Remove every key of every database (synchronously)."""
        reply = self.command("FLUSHALL", "SYNC")
        if not reply.startswith(b"+OK"):
            raise RuntimeError(f"FLUSHALL failed: {reply!r}")

    def stop(self) -> None:
        """Stop the server by its pid (``SIGTERM``, then ``SIGKILL``) and remove its directory."""
        proc, self._proc = self._proc, None
        if proc is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGTERM)
            try:
                proc.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait()
        self.pid = None
        if self.root is not None:
            shutil.rmtree(self.root, ignore_errors=True)
            self.root = None

    def _kill(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
        self.pid = None

    def _log_text(self) -> str:
        log = self.root / "redis.log" if self.root else None
        return log.read_text(errors="replace")[-2_000:] if log and log.exists() else ""

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


_shared: RedisServer | None = None


def shared_server() -> RedisServer:
    """The process's one shared server, started on first call (skips the test when
    ``redis-server`` is not installed). Stopped by :func:`stop_shared_server` or at exit."""
    global _shared
    if _shared is None:
        if find_redis_server() is None:
            pytest.skip(f"redis-server is not installed: {INSTALL_HINT}")
        _shared = RedisServer().start()
        atexit.register(stop_shared_server)
    return _shared


def stop_shared_server() -> None:
    """Stop the shared server if it runs (safe to call more than once)."""
    global _shared
    server, _shared = _shared, None
    if server is not None:
        server.stop()


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """One ``redis-server`` for the test session (its data persists between tests)."""
    yield shared_server()
    stop_shared_server()


@pytest.fixture
def clean_redis(redis_server: RedisServer) -> RedisServer:
    """The session's server, emptied (``FLUSHALL``) before the test."""
    if not redis_server.ping():  # stopped by a finalizer of another fixture definition
        redis_server = shared_server()
    redis_server.flushall()
    return redis_server
