"""Store outages over HTTP: a real redis-server stopped by its pid and restarted while clients
keep reading; the server answers 503 (never 4xx), reports it in /health and logs each change
once."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from feature_server import T0, ServerProcess, make_repo
from redis_server import RedisServer, find_redis_server

READ = {"features": ["user_stats:logins"], "entities": {"user_id": [5]}}
PUSH_ROW = {"user_id": 8, "event_timestamp": T0.isoformat(), "clicks": 4}

pytestmark = pytest.mark.skipif(
    find_redis_server() is None,
    reason="redis-server is not installed: apt-get install redis-server",
)


def _wait_for(check: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "the condition did not hold in time"
        time.sleep(0.05)


class Reader(threading.Thread):
    """Reads in a loop, counting the status codes it gets."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.codes: Counter[int] = Counter()
        self.stop = threading.Event()

    def run(self) -> None:
        with httpx.Client(base_url=self.url, timeout=10) as client:
            while not self.stop.is_set():
                self.codes[client.post("/get-online-features", json=READ).status_code] += 1


def test_a_redis_outage_answers_503_and_recovers(tmp_path: Path) -> None:
    redis = RedisServer().start()
    port = redis.port
    online = f'type: redis\n  connection_string: "{redis.connection_string}"'
    repo = make_repo(tmp_path / "repo", online_store=online)
    restarted: RedisServer | None = None
    with ServerProcess(repo) as server:
        reader = Reader(server.url)
        reader.start()
        try:
            _wait_for(lambda: reader.codes[200] > 20)
            assert httpx.get(server.url + "/health").status_code == 200

            redis.stop()  # by its pid, under load
            _wait_for(lambda: reader.codes[503] > 20)
            r = httpx.post(server.url + "/get-online-features", json=READ)
            assert r.status_code == 503, r.text
            assert r.headers["retry-after"] == "1"
            body = r.json()
            assert body["error"] == "online_store_unavailable"
            assert body["component"] == "online_store"
            assert f"127.0.0.1:{port}" in body["detail"]

            health = httpx.get(server.url + "/health")
            assert health.status_code == 503
            assert health.json()["components"]["online_store"]["status"] == "down"
            assert health.json()["components"]["registry"]["status"] == "up"

            # The offline file is written first: the answer says so.
            push = httpx.post(
                server.url + "/push",
                json={
                    "push_source_name": "events_push",
                    "df": _columns(PUSH_ROW),
                    "to": "online_and_offline",
                },
            )
            assert push.status_code == 503, push.text
            assert push.json()["written"] == {"online": None, "offline": 1}
            assert "written offline" in push.json()["detail"]
            online_only = httpx.post(
                server.url + "/push",
                json={"push_source_name": "events_push", "df": _columns(PUSH_ROW)},
            )
            assert online_only.status_code == 503, online_only.text
            assert online_only.json()["written"] == {"online": None, "offline": None}

            restarted = RedisServer(port=port).start()  # empty: no persistence
            _wait_for(lambda: httpx.get(server.url + "/health").status_code == 200)
            before = reader.codes[200]
            _wait_for(lambda: reader.codes[200] > before + 20)
            ok = httpx.post(
                server.url + "/push",
                json={"push_source_name": "events_push", "df": _columns(PUSH_ROW)},
            )
            assert ok.status_code == 200, ok.text
            assert ok.json()["written"] == {"online": 1, "offline": None}
        finally:
            reader.stop.set()
            reader.join(10)
            if restarted is not None:
                restarted.stop()
            redis.stop()
        log = server.log.read_text()
    assert set(reader.codes) <= {200, 503}, reader.codes  # never a 4xx, never a 500
    assert log.count("online_store is unavailable") == 1, log
    assert log.count("online_store is reachable again") == 1, log
    assert "Traceback" not in log, log


def test_deep_health_probes_the_online_store(tmp_path: Path) -> None:
    redis = RedisServer().start()
    online = f'type: redis\n  connection_string: "{redis.connection_string}"'
    repo = make_repo(tmp_path / "repo", online_store=online)
    try:
        with ServerProcess(repo) as server:
            assert httpx.get(server.url + "/health?deep=1").status_code == 200
            redis.stop()
            assert httpx.get(server.url + "/health").status_code == 200  # nothing seen yet
            deep = httpx.get(server.url + "/health?deep=1")
            assert deep.status_code == 503, deep.text
            state = deep.json()["components"]["online_store"]
            assert state["status"] == "down" and "cannot reach" in state["detail"]
            assert deep.headers["retry-after"] == "1"
    finally:
        redis.stop()


def _columns(row: dict[str, object]) -> dict[str, list[object]]:
    return {name: [value] for name, value in row.items()}
