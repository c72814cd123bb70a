"""A real ``skewless ui`` process on a free loopback port, stopped by its pid."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path

import httpx
from serving.predict_server import _command, _env, free_port

__all__ = ["UiServerProcess"]


class UiServerProcess:
    """``python -m skewless.cli.main --repo REPO ui --port P`` until :meth:`stop`; its output
    goes to :attr:`log`."""

    def __init__(self, repo: Path, port: int | None = None) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = repo / f"ui-server-{self.port}.log"
        self._log_file = self.log.open("ab")
        self.process = subprocess.Popen(
            _command(repo, "ui", "--port", str(self.port), "--log-level", "warning"),
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            env=_env(),
        )
        self.pid = self.process.pid
        self.wait_ready()

    def wait_ready(self, timeout: float = 120.0) -> None:
        """Wait until ``/`` answers 200 (stops the server and raises if it does not)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self.stop()
                raise RuntimeError(f"the UI exited early:\n{self.log.read_text()}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(self.url + "/", timeout=2).status_code == 200:
                    return
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"the UI did not answer within {timeout} s:\n{self.log.read_text()}")

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it has not exited within 15 s."""
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(self.pid, signal.SIGKILL)
                self.process.wait(10)
        self._log_file.close()
