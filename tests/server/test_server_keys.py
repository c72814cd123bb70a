"""Over HTTP, a key of the wrong type and a push from the future are 422 JSON errors that say
what to send (docs/semantics.md "Time, keys, TTL", "Push"): a real ``skewless serve``."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from feature_server import FEATURES_PY, ServerProcess, make_repo

from skewless.repo import load_repo_objects
from skewless.store import FeatureStore


@pytest.fixture(scope="module")
def typed_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    root = make_repo(tmp_path_factory.mktemp("typed") / "repo")
    declared = 'Entity(name="user", join_keys=["user_id"], value_type=Int64)'
    (root / "features.py").write_text(
        FEATURES_PY.replace('Entity(name="user", join_keys=["user_id"])', declared)
    )
    with FeatureStore(root) as store:
        store.apply(load_repo_objects(root), partial=False)
    with ServerProcess(root) as process:
        yield process


def post(server: ServerProcess, path: str, body: Any) -> httpx.Response:
    return httpx.post(server.url + path, json=body, timeout=10)


def read(server: ServerProcess, keys: list[Any]) -> httpx.Response:
    body = {"features": ["user_stats:purchases"], "entities": {"user_id": keys}}
    return post(server, "/get-online-features", body)


def test_a_string_key_for_an_int64_key_is_422(typed_server: ServerProcess) -> None:
    r = read(typed_server, [2, "3"])
    assert r.status_code == 422, r.text
    detail = r.json()["detail"]
    assert "'user_id' takes Int64 values" in detail and "a string, '3'" in detail


def test_an_integral_float_key_is_read_as_the_integer(typed_server: ServerProcess) -> None:
    r = read(typed_server, [2.0, 3])
    assert r.status_code == 200, r.text
    assert r.json()["results"][1]["values"] == [2, 3]


def test_a_push_from_the_future_is_422_and_writes_nothing(typed_server: ServerProcess) -> None:
    row = {"user_id": [5], "event_timestamp": ["9999-01-01T00:00:00Z"], "clicks": [1]}
    r = post(typed_server, "/push", {"push_source_name": "events_push", "df": row, "to": "online"})
    assert r.status_code == 422, r.text
    assert "in the future" in r.json()["detail"]
    clicks = {"features": ["user_events:clicks"], "entities": {"user_id": [5]}}
    got = post(typed_server, "/get-online-features", clicks).json()
    assert got["results"][1]["values"] == [None]
