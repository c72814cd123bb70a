"""The quickstart's last step: serve the promoted model and ask it for predictions.

Starts ``skewless models serve`` as its own process on a free loopback port, sends three
requests carrying only user ids (the server reads their features online), prints each answer
with its latency, and stops the server by its process id.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

__all__ = ["serve_and_predict"]

START_TIMEOUT_S = 60.0


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_ready(process: subprocess.Popen[bytes], url: str, log: Path) -> None:
    import httpx

    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            lines = log.read_text(errors="replace").strip().splitlines()
            raise RuntimeError(
                "the prediction server exited at start: " + (lines[-1] if lines else "no output")
            )
        try:
            if httpx.get(url + "/health", timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"the prediction server did not answer within {START_TIMEOUT_S:.0f} s")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    os.kill(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.kill(process.pid, signal.SIGKILL)
        process.wait()


def serve_and_predict(
    repo: Path, model: str, users: Sequence[int], say: Callable[[str], None]
) -> list[float]:
    """Serve ``model`` from ``repo``, send one request per user id, say what came back;
    returns the latency of each request in milliseconds."""
    from skewless.prediction_client import PredictionClient

    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    log = repo / "data" / "prediction_server.log"
    command = [
        sys.executable,
        "-m",
        "skewless.cli.main",
        "--repo",
        str(repo),
        "models",
        "serve",
        model,
        "--port",
        str(port),
        "--log-level",
        "warning",
    ]
    with log.open("wb") as sink:
        process = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT)
    latencies = []
    try:
        _wait_ready(process, url, log)
        say(f"skewless models serve {model} --port {port} (pid {process.pid})")
        with PredictionClient(url) as client:
            client.predict({"user_id": [int(users[0])]})  # the first call opens the connection
            for user in users:
                started = time.perf_counter()
                answer = client.predict({"user_id": [int(user)]})
                elapsed = (time.perf_counter() - started) * 1000
                latencies.append(elapsed)
                probability = (
                    f", churn probability {answer.probabilities[0][1]:.3f}"
                    if answer.probabilities and answer.probabilities[0]
                    else ""
                )
                say(
                    f'POST /predict {{"entities": {{"user_id": [{user}]}}}} -> prediction '
                    f"{answer.predictions[0]}{probability} (model {answer.model_name} version "
                    f"{answer.model_version}) in {elapsed:.1f} ms"
                )
    finally:
        _stop(process)
    say(f"stopped the server (pid {process.pid}); its answers are logged in data/prediction_logs/")
    return latencies
