"""The feature server over HTTP: Feast's request/response shapes, every error path, metrics."""

from __future__ import annotations

import re
from typing import Any

import httpx
import orjson
import pytest
from feature_server import N_USERS, ServerProcess, check_concurrent_reads

FEATURES = [f"user_stats:{f}" for f in ("purchases", "amount", "ratio", "category", "active")]


def post(server: ServerProcess, path: str, body: Any, **kwargs: Any) -> httpx.Response:
    content = body if isinstance(body, bytes) else orjson.dumps(body)
    return httpx.post(server.url + path, content=content, timeout=10, **kwargs)


def error(response: httpx.Response, status: int, code: str) -> str:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["error"] == code, body
    assert isinstance(body["detail"], str) and body["detail"]
    return body["detail"]


def test_response_has_feasts_shape(server: ServerProcess) -> None:
    r = post(
        server, "/get-online-features", {"features": FEATURES, "entities": {"user_id": [2, 999, 3]}}
    )
    assert r.status_code == 200, r.text
    body = r.json()
    names = ["user_id", "purchases", "amount", "ratio", "category", "active"]
    assert body["metadata"] == {"feature_names": names}
    results = dict(zip(names, body["results"], strict=True))
    assert results["user_id"] == {
        "values": [2, 999, 3],
        "statuses": ["PRESENT"] * 3,
        "event_timestamps": ["1970-01-01T00:00:00Z"] * 3,
    }
    assert results["purchases"]["values"] == [2, None, 3]
    assert results["purchases"]["statuses"] == ["PRESENT", "NOT_FOUND", "PRESENT"]
    assert results["purchases"]["event_timestamps"] == [
        "2024-03-01T12:00:00Z",
        "1970-01-01T00:00:00Z",
        "2024-03-01T12:00:00Z",
    ]
    assert results["amount"]["values"] == [3.0, None, 4.5]
    assert results["ratio"]["values"][0] == pytest.approx(0.02)
    assert results["category"]["values"] == ["c2", None, None]
    assert results["category"]["statuses"] == ["PRESENT", "NOT_FOUND", "NULL_VALUE"]
    assert results["active"]["values"] == [False, None, True]


def test_feature_service_and_full_feature_names(server: ServerProcess) -> None:
    r = post(
        server,
        "/get-online-features",
        {"feature_service": "shop_v1", "entities": {"user_id": [4]}, "full_feature_names": True},
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["metadata"]["feature_names"][:3] == [
        "user_id",
        "user_stats__purchases",
        "user_stats__amount",
    ]
    assert len(body["results"]) == 7
    assert body["results"][6]["values"] == [40]


def test_empty_entity_lists_give_empty_results(server: ServerProcess) -> None:
    r = post(
        server, "/get-online-features", {"features": FEATURES[:1], "entities": {"user_id": []}}
    )
    assert r.status_code == 200, r.text
    assert r.json()["results"] == [{"values": [], "statuses": [], "event_timestamps": []}] * 2


def test_many_entities_in_one_request(server: ServerProcess) -> None:
    users = list(range(1, N_USERS + 1))
    r = post(
        server, "/get-online-features", {"features": FEATURES[:1], "entities": {"user_id": users}}
    )
    assert r.json()["results"][1]["values"] == users


@pytest.mark.parametrize(
    ("body", "status", "code", "needle"),
    [
        (b"{", 400, "malformed_json", "not valid JSON"),
        (b"", 400, "empty_body", "empty"),
        (b"[1, 2]", 400, "malformed_json", "JSON object"),
        ({"entities": {"user_id": [1]}}, 422, "invalid_request", "`features`"),
        ({"features": [], "entities": {"user_id": [1]}}, 422, "invalid_request", "non-empty"),
        ({"features": "user_stats:purchases", "entities": {}}, 422, "invalid_request", "list"),
        (
            {"features": ["purchases"], "entities": {"user_id": [1]}},
            422,
            "invalid_request",
            "malformed",
        ),
        ({"features": [1], "entities": {"user_id": [1]}}, 422, "invalid_request", "malformed"),
        (
            {"features": FEATURES, "feature_service": "shop_v1", "entities": {"user_id": [1]}},
            422,
            "invalid_request",
            "not both",
        ),
        ({"features": FEATURES}, 422, "invalid_request", "`entities`"),
        ({"features": FEATURES, "entities": [1]}, 422, "invalid_request", "object"),
        ({"features": FEATURES, "entities": {"user_id": 1}}, 422, "invalid_request", "list"),
        ({"features": FEATURES, "entities": {"user_id": [[1]]}}, 422, "invalid_request", "array"),
        (
            {"features": FEATURES, "entities": {"user_id": [1], "x": [1, 2]}},
            422,
            "invalid_request",
            "different lengths",
        ),
        (
            {"features": FEATURES, "entities": {"user_id": [1]}, "full_feature_names": "yes"},
            422,
            "invalid_request",
            "full_feature_names",
        ),
        (
            {"features": ["nope:purchases"], "entities": {"user_id": [1]}},
            404,
            "feature_not_found",
            "unknown feature view 'nope'",
        ),
        (
            {"features": ["user_stats:nope"], "entities": {"user_id": [1]}},
            404,
            "feature_not_found",
            "no feature 'nope'",
        ),
        (
            {"feature_service": "nope", "entities": {"user_id": [1]}},
            404,
            "unknown_object",
            "'nope'",
        ),
        ({"features": FEATURES, "entities": {"customer": [1]}}, 422, "invalid_entities", "user_id"),
        (
            {"features": FEATURES, "entities": {"user_id": [1], "extra": [2]}},
            422,
            "invalid_entities",
            "'extra'",
        ),
    ],
)
def test_bad_requests_answer_4xx_naming_the_problem(
    server: ServerProcess, body: Any, status: int, code: str, needle: str
) -> None:
    assert needle in error(post(server, "/get-online-features", body), status, code)


def test_body_limit_checked_from_content_length(server: ServerProcess) -> None:
    big = orjson.dumps({"features": FEATURES, "entities": {"user_id": list(range(20_000))}})
    assert len(big) > 65536
    detail = error(post(server, "/get-online-features", big), 413, "body_too_large")
    assert "--max-body-bytes" in detail


def test_body_limit_checked_while_streaming(server: ServerProcess) -> None:
    def chunks() -> Any:  # no Content-Length: chunked transfer encoding
        yield b'{"features": ["user_stats:purchases"], "entities": {"user_id": ['
        for _ in range(200):
            yield b"1," * 500
        yield b"1]}}"

    r = httpx.post(server.url + "/get-online-features", content=chunks(), timeout=10)
    assert "content-length" not in r.request.headers
    error(r, 413, "body_too_large")


def test_wrong_method_and_unknown_route(server: ServerProcess) -> None:
    r = httpx.get(server.url + "/get-online-features")
    assert error(r, 405, "method_not_allowed")
    assert r.headers["allow"] == "POST"
    assert "/get-online-features" in error(httpx.get(server.url + "/nowhere"), 404, "not_found")
    error(httpx.post(server.url + "/health"), 405, "method_not_allowed")


def test_health_and_openapi(server: ServerProcess) -> None:
    health = httpx.get(server.url + "/health").json()
    components = health.pop("components")
    assert health == {"status": "ok", "project": "served", "registry_version": 1}
    assert {name: c["status"] for name, c in components.items()} == {
        "online_store": "up",
        "registry": "up",
    }
    deep = httpx.get(server.url + "/health?deep=1")
    assert deep.status_code == 200 and deep.json()["status"] == "ok", deep.text
    doc = httpx.get(server.url + "/openapi.json").json()
    assert set(doc["paths"]) == {"/get-online-features", "/push", "/health", "/metrics"}
    assert "GetOnlineFeaturesRequest" in doc["components"]["schemas"]


def _metric(text: str, name: str, **labels: str) -> float:
    wanted = ",".join(f'{k}="{v}"' for k, v in labels.items())
    selector = re.escape(name) + (r"\{" + re.escape(wanted) + r"\}" if labels else "")
    match = re.search(rf"^{selector} (\S+)$", text, re.M)
    return float(match.group(1)) if match else 0.0


def test_metrics_move_with_requests(server: ServerProcess) -> None:
    before = httpx.get(server.url + "/metrics").text
    ok = {"route": "/get-online-features", "method": "POST", "status": "200"}
    bad = {"route": "/get-online-features", "method": "POST", "status": "404"}
    for _ in range(3):
        post(server, "/get-online-features", {"features": FEATURES, "entities": {"user_id": [1]}})
    post(server, "/get-online-features", {"features": ["x:y"], "entities": {"user_id": [1]}})
    r = httpx.get(server.url + "/metrics")
    assert r.headers["content-type"].startswith("text/plain")
    after = r.text
    assert (
        _metric(after, "skewless_http_requests_total", **ok)
        == _metric(before, "skewless_http_requests_total", **ok) + 3
    )
    assert (
        _metric(after, "skewless_http_requests_total", **bad)
        == _metric(before, "skewless_http_requests_total", **bad) + 1
    )
    errors = {"route": "/get-online-features", "error": "feature_not_found"}
    assert (
        _metric(after, "skewless_http_errors_total", **errors)
        == _metric(before, "skewless_http_errors_total", **errors) + 1
    )
    count = {"route": "/get-online-features"}
    inf = {"route": "/get-online-features", "le": "+Inf"}
    assert _metric(after, "skewless_http_request_duration_seconds_bucket", **inf) == _metric(
        after, "skewless_http_request_duration_seconds_count", **count
    )
    assert _metric(after, "skewless_http_request_duration_seconds_count", **count) >= 4
    assert _metric(after, "skewless_registry_version") == 1


def test_concurrent_reads_are_coalesced_and_each_gets_its_own_answer(
    server: ServerProcess,
) -> None:
    before = httpx.get(server.url + "/metrics").text
    check_concurrent_reads(server, FEATURES)
    after = httpx.get(server.url + "/metrics").text
    reads = _metric(after, "skewless_online_store_reads_total") - _metric(
        before, "skewless_online_store_reads_total"
    )
    # 120 sequential reads, then 120 concurrent ones that should share store calls
    assert 120 < reads < 228, reads
