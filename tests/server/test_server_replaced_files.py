"""Files replaced under a running server: the online SQLite file and the registry, deleted or
renamed over, are reopened (the server never keeps reading the old file)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import httpx
from feature_server import T0, ServerProcess, add_view_definition, make_repo

from skewless.repo import load_repo_objects
from skewless.store import FeatureStore

CLICKS = {"features": ["user_events:clicks"], "entities": {"user_id": [1]}}
EXTRA = {"features": ["extra_stats:purchases"], "entities": {"user_id": [4]}}


def _eventually(check: Callable[[], bool], timeout: float = 5.0) -> float:
    """Seconds until ``check`` held (fails after ``timeout``)."""
    start = time.monotonic()
    while not check():
        assert time.monotonic() - start < timeout, "the server kept serving the old file"
        time.sleep(0.05)
    return time.monotonic() - start


def _clicks(server: ServerProcess) -> tuple[str, object]:
    result = httpx.post(server.url + "/get-online-features", json=CLICKS).json()["results"][1]
    return result["statuses"][0], result["values"][0]


def _push(server: ServerProcess, clicks: int, seconds: int) -> None:
    row = {"user_id": [1], "event_timestamp": [(T0 + timedelta(seconds=seconds)).isoformat()]}
    body = {"push_source_name": "events_push", "df": {**row, "clicks": [clicks]}}
    r = httpx.post(server.url + "/push", json=body)
    assert r.status_code == 200, r.text


def _on_disk(repo: Path) -> list[object]:
    """What a new process reads from the repository's online store now."""
    with FeatureStore(repo) as store:
        return store.get_online_features(["user_events:clicks"], [{"user_id": 1}]).to_dict()[
            "clicks"
        ]


def test_an_online_file_renamed_over_or_deleted_is_reopened(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    other = tmp_path / "other"
    shutil.copytree(repo, other)
    with FeatureStore(other) as store:
        store.push("events_push", [{"user_id": 1, "event_timestamp": T0, "clicks": 99}])
    online = repo / "data" / "online.db"
    with ServerProcess(repo) as server:
        assert _clicks(server) == ("PRESENT", 0)

        os.replace(other / "data" / "online.db", online)
        _eventually(lambda: _clicks(server) == ("PRESENT", 99))
        _push(server, 7, 1)  # an acknowledged push lands in the file others read
        assert _clicks(server) == ("PRESENT", 7)
        assert _on_disk(repo) == [7]

        online.unlink()
        _eventually(lambda: _clicks(server)[0] == "NOT_FOUND")
        _push(server, 8, 2)
        assert _clicks(server) == ("PRESENT", 8)
        assert _on_disk(repo) == [8]
        assert "Traceback" not in server.log.read_text()


def _apply(repo: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "skewless.cli.main", "-r", str(repo), "apply"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr


def _status(server: ServerProcess, body: dict[str, object]) -> int:
    return httpx.post(server.url + "/get-online-features", json=body).status_code


def test_a_registry_renamed_over_or_deleted_is_reopened(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    other = tmp_path / "other"
    shutil.copytree(repo, other)
    add_view_definition(other)
    with FeatureStore(other) as store:
        store.apply(load_repo_objects(other), partial=False)
    registry = repo / "data" / "registry.db"
    with ServerProcess(repo) as server:
        assert _status(server, EXTRA) == 404

        os.replace(other / "data" / "registry.db", registry)
        waited = _eventually(lambda: _status(server, EXTRA) == 200)
        assert waited < 2.0, waited
        assert httpx.get(server.url + "/health").json()["registry_version"] == 2

        registry.unlink()  # what a server started now would serve: nothing
        _eventually(lambda: _status(server, EXTRA) == 404)
        assert _status(server, CLICKS) == 404
        _apply(repo)  # applied again: served again
        _eventually(lambda: _status(server, CLICKS) == 200)
        assert "Traceback" not in server.log.read_text()


def test_a_registry_replaced_at_the_same_version_is_reread(tmp_path: Path) -> None:
    """The version poll alone would miss a replacement at an equal version."""
    repo = make_repo(tmp_path / "repo")
    other = tmp_path / "other"
    other.mkdir()
    (other / "feature_store.yaml").write_text((repo / "feature_store.yaml").read_text())
    (other / "features.py").write_text((repo / "features.py").read_text())
    add_view_definition(other)
    shutil.copytree(repo / "data", other / "data", ignore=shutil.ignore_patterns("registry.db*"))
    with FeatureStore(other) as store:  # a fresh registry: version 1, with one more view
        store.apply(load_repo_objects(other), partial=False)
        assert store.registry.version() == 1
    with ServerProcess(repo) as server:
        assert _status(server, EXTRA) == 404
        os.replace(other / "data" / "registry.db", repo / "data" / "registry.db")
        _eventually(lambda: _status(server, EXTRA) == 200)


def test_unusable_files_answer_503_and_recover(tmp_path: Path) -> None:
    """A path that cannot be opened (here a directory where the file was) is an outage: the
    online store answers 503, the registry shows down in /health (reads go on with the
    definitions already read), each logged once, and both recover when the file is back."""
    repo = make_repo(tmp_path / "repo")
    data = repo / "data"
    with ServerProcess(repo) as server:
        assert _clicks(server) == ("PRESENT", 0)
        for name in ("online.db", "registry.db"):
            os.replace(data / name, tmp_path / name)
            (data / name).mkdir()

        def registry_down() -> bool:
            state = httpx.get(server.url + "/health").json()["components"]["registry"]
            return bool(state["status"] == "down")

        _eventually(registry_down)
        _eventually(lambda: _status(server, CLICKS) == 503)
        r = httpx.post(server.url + "/get-online-features", json=CLICKS)
        assert r.json()["error"] == "online_store_unavailable", r.text
        assert r.headers["retry-after"] == "1"
        health = httpx.get(server.url + "/health")
        assert health.status_code == 503
        assert "registry.db" in health.json()["components"]["registry"]["detail"]

        for name in ("online.db", "registry.db"):
            (data / name).rmdir()
            os.replace(tmp_path / name, data / name)
        _eventually(lambda: httpx.get(server.url + "/health?deep=1").status_code == 200)
        assert _clicks(server) == ("PRESENT", 0)
        log = server.log.read_text()
    for component in ("online_store", "registry"):
        assert log.count(f"{component} is unavailable") == 1, log
        assert log.count(f"{component} is reachable again") == 1, log
    assert "Traceback" not in log, log
