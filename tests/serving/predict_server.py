"""A real ``skewless models serve`` process on a free loopback port, stopped by its pid."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

__all__ = ["PredictionServerProcess", "free_port", "run_cli", "wait_for"]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _command(repo: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "skewless.cli.main", "--repo", str(repo), *args]


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONWARNINGS": "ignore"}


def run_cli(repo: Path, *args: str, timeout: float = 120.0) -> subprocess.CompletedProcess[str]:
    """``skewless --repo REPO ARGS...`` to completion, its output captured."""
    return subprocess.run(
        _command(repo, *args), capture_output=True, text=True, env=_env(), timeout=timeout
    )


def wait_for(check: object, timeout: float = 10.0, interval: float = 0.05) -> None:
    """Wait until ``check()`` is true (an assertion error after ``timeout`` seconds)."""
    assert callable(check)
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "the condition did not hold in time"
        time.sleep(interval)


class PredictionServerProcess:
    """``python -m skewless.cli.main --repo REPO models serve MODEL --port P ARGS...`` until
    :meth:`stop`; its stdout and stderr go to :attr:`log`. With ``wait=False`` the
    constructor returns at once and :meth:`wait_ready` waits (to start several together)."""

    def __init__(
        self,
        repo: Path,
        model: str = "churn",
        *args: str,
        port: int | None = None,
        wait: bool = True,
    ) -> None:
        self.repo = repo
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = repo / f"predict-server-{self.port}.log"
        self._log_file = self.log.open("ab")
        self.process = subprocess.Popen(
            _command(
                repo,
                "models",
                "serve",
                model,
                "--port",
                str(self.port),
                "--log-level",
                "warning",
                *args,
            ),
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            env=_env(),
        )
        self.pid = self.process.pid
        if wait:
            self.wait_ready()

    def wait_ready(self, timeout: float = 120.0) -> PredictionServerProcess:
        """Wait until ``/health`` answers 200 (stops the server and raises if it does not)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self.stop()
                raise RuntimeError(f"the server exited early:\n{self.log.read_text()}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(self.url + "/health", timeout=1).status_code == 200:
                    return self
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"the server did not answer within {timeout} s:\n{self.log.read_text()}")

    def output(self) -> str:
        """What the server wrote so far."""
        return self.log.read_text(errors="replace")

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs."""
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGKILL)
        self.process.wait(10)
        self._log_file.close()

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it has not exited within 15 s."""
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()
                return
        self._log_file.close()

    def __enter__(self) -> PredictionServerProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
