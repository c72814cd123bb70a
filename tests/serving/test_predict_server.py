"""``skewless models serve`` as a real process on a loopback port: answers from entity keys
only, refusals at start, the HTTP edges, a promotion picked up under load, a definition that
changes under a running server, and an online store that goes away."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator

import orjson
import pytest
from typer.testing import CliRunner

from serving.predict_repo import ServingRepo, expected
from serving.predict_server import PredictionServerProcess
from skewless import PredictionClient
from skewless.cli.main import app

MAX_BODY = 65_536


@pytest.fixture(scope="module")
def server(serving: ServingRepo) -> Iterator[PredictionServerProcess]:
    """The repository's ``churn@production`` served by one process for the module."""
    with PredictionServerProcess(
        serving.root, "churn", "--max-body-bytes", str(MAX_BODY)
    ) as process:
        yield process


def _one_error_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("error: "), lines[0]
    assert "Traceback" not in stderr
    return lines[0]


# -- answers ---------------------------------------------------------------------------------


def test_answers_from_user_ids_equal_the_model_on_get_features_for(
    serving: ServingRepo, server: PredictionServerProcess
) -> None:
    with PredictionClient(server.url) as client:
        for users in ([3], [10, 11, 12], [199, 0, 57, 57, 120]):
            result = client.predict({"user_id": users})
            want, _ = expected(serving.store, {"user_id": users}, 1)
            assert result.predictions == want
            assert (result.model_name, result.model_version) == ("churn", "1")
            assert result.probabilities is not None and len(result.probabilities) == len(users)
            assert result.request_id


# -- refusals at start -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ref", "named"),
    [
        ("nosuch", "'nosuch'"),
        ("churn@staging", "'staging'"),
        ("churn/99", "version 99"),
    ],
    ids=["model", "alias", "version"],
)
def test_an_unknown_model_alias_or_version_exits_with_one_line_naming_it(
    serving: ServingRepo, ref: str, named: str
) -> None:
    result = CliRunner().invoke(app, ["--repo", str(serving.root), "models", "serve", ref])
    assert result.exit_code == 1, (result.stdout, result.stderr)
    line = _one_error_line(result.stderr)
    assert named in line, line


# -- the HTTP edges --------------------------------------------------------------------------


def _read_all(sock: socket.socket) -> bytes:
    chunks = []
    while chunk := sock.recv(65_536):
        chunks.append(chunk)
    return b"".join(chunks)


def _send_ignoring_errors(sock: socket.socket, payload: bytes) -> None:
    with contextlib.suppress(OSError):
        sock.sendall(payload)


@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "chunked"])
def test_an_oversize_body_gets_its_413_before_the_connection_closes(
    server: PredictionServerProcess, declared: bool
) -> None:
    size = 8 * 1024 * 1024
    head = ["POST /predict HTTP/1.1", "Host: test", "Content-Type: application/json"]
    if declared:
        head.append(f"Content-Length: {size}")
        payload = b"x" * size
    else:
        head.append("Transfer-Encoding: chunked")
        chunk = b"x" * 65_536
        payload = (b"%x\r\n%b\r\n" % (len(chunk), chunk)) * (size // len(chunk)) + b"0\r\n\r\n"
    with socket.create_connection(("127.0.0.1", server.port), timeout=20) as sock:
        sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
        sender = threading.Thread(target=_send_ignoring_errors, args=(sock, payload))
        sender.start()
        response = _read_all(sock)
        sender.join(30)
    status_line, _, rest = response.partition(b"\r\n")
    headers, _, body = rest.partition(b"\r\n\r\n")
    assert int(status_line.split(b" ")[1]) == 413, response[:500]
    assert b"connection: close" in headers.lower()
    answer = orjson.loads(body)
    assert answer["error"] == "body_too_large", answer
    assert str(MAX_BODY) in answer["detail"] or "bytes" in answer["detail"]
