"""``skewless models serve`` as a real process on a loopback port: answers from entity keys
only, refusals at start, the HTTP edges, a promotion picked up under load, a definition that
changes under a running server, and an online store that goes away."""

from __future__ import annotations

import contextlib
import shutil
import socket
import sqlite3
import threading
import time
import warnings
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from redis_server import RedisServer, find_redis_server
from typer.testing import CliRunner

from serving.predict_repo import FEATURES_PY, ServingRepo, expected, train_and_log
from serving.predict_server import PredictionServerProcess, free_port, run_cli, wait_for
from skewless import FeatureStore, PredictionClient
from skewless.cli.main import app
from skewless.models import promote

MAX_BODY = 65_536


@dataclass
class Servers:
    """The processes of the module, started together.

    Attributes:
        main: ``churn@production`` (the promotion and definition tests move it).
        two: ``churn/1`` with two workers and ``--missing null``.
        on_redis: ``churn/1`` over a copy of the repository with its online store in Redis
            (None without ``redis-server``), and the Redis processes it used.
    """

    main: PredictionServerProcess
    two: PredictionServerProcess
    on_redis: PredictionServerProcess | None
    redis: list[RedisServer] = field(default_factory=list)


@pytest.fixture(scope="module")
def servers(serving: ServingRepo, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
    redis = RedisServer().start() if find_redis_server() is not None else None
    redis_processes = [redis] if redis is not None else []
    started: list[PredictionServerProcess] = []
    try:
        started.append(
            PredictionServerProcess(
                serving.root, "churn", "--max-body-bytes", str(MAX_BODY), wait=False
            )
        )
        started.append(
            PredictionServerProcess(
                serving.root, "churn/1", "--workers", "2", "--missing", "null", wait=False
            )
        )
        on_redis = None
        if redis is not None:
            root = _redis_copy(serving, tmp_path_factory.mktemp("on-redis") / "repo", redis)
            on_redis = PredictionServerProcess(root, "churn/1", wait=False)
            started.append(on_redis)
        for process in started:
            process.wait_ready()
        yield Servers(started[0], started[1], on_redis, redis_processes)
    finally:
        for process in started:
            process.stop()
        for redis_process in redis_processes:  # with any the tests restarted
            redis_process.stop()


@pytest.fixture(scope="module")
def server(servers: Servers) -> PredictionServerProcess:
    """The repository's ``churn@production``."""
    return servers.main


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


# -- workers and the missing policy ----------------------------------------------------------


PREDICT_200 = 'skewless_http_requests_total{route="/predict",method="POST",status="200"}'


def _metric(text: str, name: str, default: float | None = None) -> float:
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.rsplit(" ", 1)[1])
    if default is not None:
        return default
    raise AssertionError(f"no metric {name} in:\n{text}")


def test_two_workers_both_answer_and_missing_null_answers_null_over_http(
    serving: ServingRepo, servers: Servers
) -> None:
    users = [5, 123456, 6]
    want, _ = expected(serving.store, {"user_id": [5, 6]}, 1)
    sent = 40
    two = servers.two

    def call(_: int) -> httpx.Response:
        with httpx.Client(base_url=two.url, timeout=20) as fresh:  # a new connection
            return fresh.post("/predict", json={"entities": {"user_id": users}})

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(call, range(sent)))
    for answer in answers:
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["predictions"] == [want[0], None, want[1]]
        assert body["missing"] == [1]
        assert body["probabilities"][1] is None
    # Each worker counts only the requests it answered: a count short of all the requests
    # sent means the other worker answered the rest.
    seen = set()
    for _ in range(40):
        with httpx.Client(base_url=two.url, timeout=20) as fresh:
            text = fresh.get("/metrics").text
        seen.add(_metric(text, PREDICT_200, default=0))
        if min(seen) < sent:
            break
    assert min(seen) < sent, seen
    assert "Traceback" not in two.output()


# -- an online store that goes away ----------------------------------------------------------


class Load(threading.Thread):
    """Sends ``/predict`` in a loop, keeping each answer's status, version and predictions
    with the time it arrived."""

    def __init__(self, url: str, users: list[int]) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.users = users
        self.answers: list[tuple[float, int, str | None, list[Any] | None]] = []
        self.bodies: dict[int, dict[str, Any]] = {}
        self.done = threading.Event()

    def run(self) -> None:
        with httpx.Client(base_url=self.url, timeout=20) as client:
            while not self.done.is_set():
                answer = client.post("/predict", json={"entities": {"user_id": self.users}})
                body = answer.json()
                version = body["model"]["version"] if answer.status_code == 200 else None
                predictions = body.get("predictions")
                self.answers.append((time.monotonic(), answer.status_code, version, predictions))
                self.bodies.setdefault(answer.status_code, body)

    def codes(self) -> Counter[int]:
        return Counter(code for _, code, _, _ in self.answers)

    def stop(self) -> None:
        self.done.set()
        self.join(30)


def _redis_copy(serving: ServingRepo, root: Path, redis: RedisServer) -> Path:
    """The served repository with its online store in ``redis``, materialized.

    The SQLite files are copied through SQLite's backup API: opening and closing them as
    plain files would drop this process's locks on them (POSIX advisory locks are per
    process), under the connections the test's store holds open.
    """
    shutil.copytree(
        serving.root, root, ignore=shutil.ignore_patterns("*.log", "*.db", "*.db-wal", "*.db-shm")
    )
    for name in ("registry.db", "mlflow.db"):
        source = contextlib.closing(sqlite3.connect(serving.root / "data" / name))
        with source as original, contextlib.closing(sqlite3.connect(root / "data" / name)) as copy:
            original.backup(copy)
    (root / "feature_store.yaml").write_text(
        "project: serving\nonline_store:\n  type: redis\n"
        f'  connection_string: "{redis.connection_string}"\n'
    )
    _materialize(root, serving.end)
    return root


def _materialize(root: Path, end: datetime) -> None:
    with FeatureStore(repo_path=root) as store:
        store.materialize(end - timedelta(days=8), end)


def test_a_redis_outage_answers_503_with_retry_after_and_recovers(
    serving: ServingRepo, servers: Servers
) -> None:
    served = servers.on_redis
    if served is None:
        pytest.skip("redis-server is not installed")
    redis = servers.redis[0]
    load = Load(served.url, [1, 2, 3])
    load.start()
    try:
        wait_for(lambda: load.codes()[200] > 10, timeout=30)
        redis.stop()  # by its pid, under load
        wait_for(lambda: load.codes()[503] > 5, timeout=30)
        down = httpx.post(served.url + "/predict", json={"entities": {"user_id": [1]}})
        ready = httpx.get(served.url + "/ready")
    finally:
        load.stop()
    assert set(load.codes()) <= {200, 503}, load.codes()  # never a 4xx, never a 500
    assert down.status_code == 503, down.text
    assert down.headers["retry-after"] == "1"
    body = down.json()
    assert body["error"] == "online_store_unavailable", body
    assert redis.connection_string in body["detail"], body
    assert ready.status_code == 503, ready.text
    assert ready.json()["components"]["online_store"]["status"] == "down"

    restarted = RedisServer(port=redis.port)
    servers.redis.append(restarted)
    restarted.start()  # empty: no persistence
    _materialize(served.repo, serving.end)
    wait_for(lambda: httpx.get(served.url + "/ready").status_code == 200, timeout=30)
    again = httpx.post(served.url + "/predict", json={"entities": {"user_id": [1, 2]}})
    assert again.status_code == 200, again.text
    want, _ = expected(serving.store, {"user_id": [1, 2]}, 1)
    assert again.json()["predictions"] == want
    assert "Traceback" not in served.output()


# -- a promotion picked up under load --------------------------------------------------------

PICK_UP_S = 2.0


def test_a_promotion_is_served_within_2_s_without_a_failed_answer(
    serving: ServingRepo, server: PredictionServerProcess
) -> None:
    users = list(range(0, 200, 7))
    want_1, _ = expected(serving.store, {"user_id": users}, 1)
    version = train_and_log(serving.store, max_iter=60, seed=7)
    assert version == 2
    want_2, _ = expected(serving.store, {"user_id": users}, version)
    assert want_2 != want_1  # the answers tell the versions apart

    loads = [Load(server.url, users) for _ in range(3)]
    for load in loads:
        load.start()
    try:
        wait_for(lambda: all(len(load.answers) > 5 for load in loads), timeout=30)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            promote("churn", version, "production", store=serving.store)
        promoted = time.monotonic()
        wait_for(
            lambda: sum(v == "2" for ld in loads for _, _, v, _ in ld.answers) > 20, timeout=30
        )
    finally:
        for load in loads:
            load.stop()
    answers = sorted(a for load in loads for a in load.answers)
    assert {code for _, code, _, _ in answers} == {200}, Counter(c for _, c, _, _ in answers)
    first_2 = next(t for t, _, v, _ in answers if v == "2")
    assert first_2 - promoted <= PICK_UP_S, first_2 - promoted
    for at, _, v, predictions in answers:
        assert v in ("1", "2")
        assert predictions == (want_2 if v == "2" else want_1), (v, at - promoted)
    # once one answer named version 2, version 1 only finishes batches already in flight
    late_1 = [t - first_2 for t, _, v, _ in answers if v == "1" and t > first_2]
    assert all(dt < 1.0 for dt in late_1), late_1
    assert server.process.poll() is None
    assert httpx.get(server.url + "/model").json()["version"] == "2"


# -- a definition that changes under the model -----------------------------------------------

CHANGED_TTL = FEATURES_PY.replace("ttl=timedelta(days=30)", "ttl=timedelta(days=31)")


def _apply(root: Path) -> None:
    result = CliRunner().invoke(app, ["--repo", str(root), "apply"])
    assert result.exit_code == 0, (result.stdout, result.stderr)


def test_a_changed_definition_refuses_a_start_and_stops_a_running_server(
    serving: ServingRepo, server: PredictionServerProcess
) -> None:
    served = httpx.get(server.url + "/model").json()["version"]
    trained = serving.store.registry.history("user_stats")[-1].version
    (serving.root / "features.py").write_text(CHANGED_TTL)
    statuses: list[int] = []
    try:
        _apply(serving.root)
        current = serving.store.registry.history("user_stats")[-1].version
        assert current != trained

        # a server already running answers 503 from its next registry check on
        def refused_503() -> bool:
            statuses.append(httpx.post(server.url + "/predict", json=ONE).status_code)
            return statuses[-1] == 503

        wait_for(refused_503)
        refused = httpx.post(server.url + "/predict", json=ONE)
        assert refused.status_code == 503, refused.text
        assert refused.headers["retry-after"] == "1"
        assert refused.json()["error"] == "model_lineage_mismatch"
        assert "user_stats" in refused.json()["detail"]
        ready = httpx.get(server.url + "/ready")
        assert ready.status_code == 503, ready.text
        assert ready.json()["components"]["model"]["status"] == "down"

        # a new one refuses to start, on one line naming the view and both versions
        result = run_cli(serving.root, "models", "serve", "churn", "--port", str(free_port()))
        assert result.returncode == 1, (result.stdout, result.stderr)
        line = _one_error_line(result.stderr)
        assert "'user_stats'" in line, line
        assert f"version {trained}" in line and f"version {current}" in line, line
        assert httpx.post(server.url + "/predict", json=ONE).status_code == 503
    finally:
        (serving.root / "features.py").write_text(FEATURES_PY)
        _apply(serving.root)
    # Before its registry check, the server reads the changed view's online rows, which the
    # apply dropped: those answers are 422 missing_entities, never a 200 of the old rows.
    assert set(statuses) <= {422, 503}, statuses

    # The definition the model was trained on, applied back, is a new registry version with
    # the same content: the model's lineage holds again. A changed definition dropped the
    # view's online rows, so the server answers once they are materialized again.
    wait_for(lambda: httpx.get(server.url + "/ready").status_code == 200)
    _materialize(serving.root, serving.end)
    serving.store.refresh_registry()
    again = httpx.post(server.url + "/predict", json={"entities": {"user_id": [1, 2, 3]}})
    assert again.status_code == 200, again.text
    assert again.json()["model"]["version"] == served
    assert again.json()["predictions"] == expected(serving.store, {"user_id": [1, 2, 3]}, served)[0]
    log = server.output()
    assert log.count("the registry changed under the served model") == 1, log
    assert "Traceback" not in log, log


ONE = {"entities": {"user_id": [1]}}
