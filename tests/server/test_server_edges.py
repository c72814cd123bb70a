"""The HTTP edges, over raw sockets where clients misbehave: too many entities, slow headers
and bodies, clients that leave mid-body, bodies far over the limit."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator

import httpx
import orjson
import pytest
from feature_server import ServerProcess, make_repo

from skewless.config import RepoConfig

READ_TIMEOUT_S = 1.0
MAX_BODY = 65_536


@pytest.fixture(scope="module")
def edge_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    repo = make_repo(tmp_path_factory.mktemp("edges") / "repo")
    with (repo / "feature_store.yaml").open("a") as config:
        config.write(f"server:\n  max_entities: 100\n  read_timeout: {READ_TIMEOUT_S}\n")
    with ServerProcess(repo, "--max-body-bytes", str(MAX_BODY)) as server:
        yield server


def _connect(server: ServerProcess) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    return sock


def _read_all(sock: socket.socket) -> bytes:
    chunks = []
    while chunk := sock.recv(65_536):
        chunks.append(chunk)
    return b"".join(chunks)


def _head(length: int | None, *extra: str) -> bytes:
    lines = ["POST /get-online-features HTTP/1.1", "Host: test", "Content-Type: application/json"]
    if length is not None:
        lines.append(f"Content-Length: {length}")
    return ("\r\n".join([*lines, *extra]) + "\r\n\r\n").encode()


def _json_of(response: bytes) -> tuple[int, dict[str, object]]:
    head, _, body = response.partition(b"\r\n\r\n")
    return int(head.split(b" ")[1]), orjson.loads(body)


def test_the_entity_cap_answers_413(edge_server: ServerProcess) -> None:
    def read(n: int) -> httpx.Response:
        body = {"features": ["user_stats:logins"], "entities": {"user_id": list(range(n))}}
        return httpx.post(edge_server.url + "/get-online-features", json=body)

    assert read(100).status_code == 200
    refused = read(101)
    assert refused.status_code == 413, refused.text
    assert refused.json()["error"] == "too_many_entities"
    assert "server.max_entities" in refused.json()["detail"]
    assert RepoConfig(project="p").server.max_entities == 10_000


def test_slow_headers_are_cut_off(edge_server: ServerProcess) -> None:
    with _connect(edge_server) as idle, _connect(edge_server) as slow:
        slow.sendall(b"POST /get-online-features HTTP/1.1\r\nHost: t")
        start = time.monotonic()
        assert slow.recv(100) == b""  # closed, without an answer
        assert idle.recv(100) == b""
        waited = time.monotonic() - start
    assert READ_TIMEOUT_S * 0.5 < waited < READ_TIMEOUT_S + 3, waited
    # and a connection that keeps up is served as before
    assert httpx.get(edge_server.url + "/health").status_code == 200


def test_a_slow_body_answers_408(edge_server: ServerProcess) -> None:
    with _connect(edge_server) as sock:
        sock.sendall(_head(100) + b'{"features"')
        start = time.monotonic()
        status, body = _json_of(_read_all(sock))
        waited = time.monotonic() - start
    assert status == 408 and body["error"] == "request_timeout", body
    assert waited < READ_TIMEOUT_S + 3, waited


def test_a_client_leaving_mid_body_logs_one_line(edge_server: ServerProcess) -> None:
    before = edge_server.log.read_text().count("disconnected before sending")
    for _ in range(3):
        with _connect(edge_server) as sock:
            sock.sendall(_head(1_000) + b'{"features": ["user_stats:logins"]')
        time.sleep(0.2)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        log = edge_server.log.read_text()
        if log.count("disconnected before sending") == before + 3:
            break
        time.sleep(0.05)
    assert log.count("disconnected before sending") == before + 3, log
    assert "Traceback" not in log, log


@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "chunked"])
def test_a_body_far_over_the_limit_gets_its_413(edge_server: ServerProcess, declared: bool) -> None:
    size = 25 * 1024 * 1024
    with _connect(edge_server) as sock:
        if declared:
            sock.sendall(_head(size))
            payload = b"x" * size
        else:
            sock.sendall(_head(None, "Transfer-Encoding: chunked"))
            chunk = b"x" * 65_536
            payload = (b"%x\r\n%b\r\n" % (len(chunk), chunk)) * (size // len(chunk)) + b"0\r\n\r\n"
        sender = threading.Thread(target=_send_ignoring_errors, args=(sock, payload))
        sender.start()
        response = _read_all(sock)
        sender.join(30)
    status, body = _json_of(response)
    assert status == 413 and body["error"] == "body_too_large", body


def test_a_client_expecting_100_continue_gets_its_413_at_once(edge_server: ServerProcess) -> None:
    with _connect(edge_server) as sock:
        sock.sendall(_head(10 * MAX_BODY, "Expect: 100-continue"))
        status, body = _json_of(_read_all(sock))
    assert status == 413 and body["error"] == "body_too_large", body


def _send_ignoring_errors(sock: socket.socket, payload: bytes) -> None:
    with contextlib.suppress(OSError):
        sock.sendall(payload)
