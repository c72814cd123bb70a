"""The server process over time: registry changes, crashes mid-push, the CLI entry point."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pandas as pd
import pytest
from feature_server import (
    T0,
    ServerProcess,
    add_view_definition,
    check_concurrent_reads,
    make_repo,
)

from skewless.client import Client, FeatureServerError
from skewless.store import FeatureStore


def _cli(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "skewless.cli.main", "-r", str(repo), *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_new_definitions_are_served_within_a_second(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    body = {"features": ["extra_stats:purchases"], "entities": {"user_id": [1]}}
    with ServerProcess(repo) as server:
        r = httpx.post(server.url + "/get-online-features", json=body)
        assert r.status_code == 404, r.text
        add_view_definition(repo)
        applied = _cli(repo, "apply")
        assert applied.returncode == 0, applied.stderr
        done = time.monotonic()
        while True:
            r = httpx.post(server.url + "/get-online-features", json=body)
            waited = time.monotonic() - done
            if r.status_code == 200 or waited > 5:
                break
            time.sleep(0.02)
        assert r.status_code == 200, r.text
        assert r.json()["results"][1]["statuses"] == ["NOT_FOUND"]
        assert waited < 1.0, f"served the new view after {waited:.2f} s"
        assert httpx.get(server.url + "/health").json()["registry_version"] == 2


def test_killing_the_server_mid_push_loses_no_acknowledged_row(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    server = ServerProcess(repo)
    acknowledged: list[int] = []
    failures: list[BaseException] = []
    stop = threading.Event()

    def pusher() -> None:
        with Client(server.url, timeout=5) as client:
            i = 0
            while not stop.is_set():
                i += 1
                row = {"user_id": 10_000 + i, "event_timestamp": T0 + timedelta(seconds=i)}
                try:
                    client.push("events_push", [{**row, "clicks": i}], to="online_and_offline")
                except FeatureServerError as exc:
                    failures.append(exc)
                    return
                acknowledged.append(i)

    thread = threading.Thread(target=pusher)
    thread.start()
    time.sleep(1.5)
    server.kill()
    thread.join(10)
    stop.set()
    assert len(acknowledged) > 5, "too few pushes before the kill to test anything"
    assert failures, "the pusher should have seen the server go away"

    with ServerProcess(repo) as restarted, Client(restarted.url) as client:
        users = [10_000 + i for i in acknowledged]
        out = client.get_online_features(["user_events:clicks"], {"user_id": users})
        assert out.statuses["clicks"] == ["PRESENT"] * len(users)
        assert out.to_dict()["clicks"] == acknowledged
    with FeatureStore(repo) as store:  # and offline: every acknowledged row is in the history
        entity_df = pd.DataFrame(
            {"user_id": users, "event_timestamp": [datetime(2030, 1, 1, tzinfo=UTC)] * len(users)}
        )
        offline = store.get_historical_features(entity_df, ["user_events:clicks"]).to_df()
        assert offline["clicks"].tolist() == acknowledged


def test_serve_refuses_a_directory_without_a_repository(tmp_path: Path) -> None:
    result = _cli(tmp_path, "serve", "--port", "1")
    assert result.returncode == 1
    assert result.stderr.startswith("error: no feature_store.yaml"), result.stderr


def test_serve_with_two_workers(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    with ServerProcess(repo, "--workers", "2") as server:
        body = {"features": ["user_stats:logins"], "entities": {"user_id": [3]}}
        for _ in range(10):
            r = httpx.post(server.url + "/get-online-features", json=body)
            assert r.json()["results"][1]["values"] == [30]


@pytest.mark.parametrize("option", [["--workers", "0"], ["--max-body-bytes", "0"]])
def test_serve_rejects_bad_options(tmp_path: Path, option: list[str]) -> None:
    repo = make_repo(tmp_path / "repo")
    result = _cli(repo, "serve", *option)
    assert result.returncode == 1 and result.stderr.startswith("error: --"), result.stderr


def test_serving_from_a_redis_online_store(tmp_path: Path) -> None:
    from redis_server import RedisServer, find_redis_server

    if find_redis_server() is None:
        pytest.skip("redis-server is not installed: apt-get install -y redis-server")
    with RedisServer() as redis:
        online = f'type: redis\n  connection_string: "{redis.connection_string}"'
        repo = make_repo(tmp_path / "repo", online_store=online)
        with ServerProcess(repo) as server, Client(server.url) as client:
            out = client.get_online_features(["user_stats:logins"], {"user_id": [5, 999]})
            assert out.to_dict() == {"user_id": [5, 999], "logins": [50, None]}
            assert out.statuses["logins"] == ["PRESENT", "NOT_FOUND"]
            row = {"user_id": 77, "event_timestamp": T0, "clicks": 3}
            assert client.push("events_push", [row])["rows"] == 1
            assert client.get_online_features(["user_events:clicks"], [{"user_id": 77}]).to_dict()[
                "clicks"
            ] == [3]
            features = [f"user_stats:{f}" for f in ("purchases", "amount", "category", "active")]
            check_concurrent_reads(server, features)
