"""``skewless.client.Client`` against a real server: the in-process API, over HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pandas as pd
import pytest
from feature_server import T0, ServerProcess, free_port

from skewless.client import Client, FeatureServerError
from skewless.errors import EntityFrameError, FeatureNotFoundError, UnknownObjectError
from skewless.store import FeatureStore

FEATURES = ["user_stats:purchases", "user_stats:category"]


@pytest.fixture
def client(server: ServerProcess) -> Iterator[Client]:
    with Client(server.url) as c:
        yield c


def test_round_trip_matches_the_in_process_read(client: Client, server: ServerProcess) -> None:
    rows = [{"user_id": 2}, {"user_id": 3}, {"user_id": 777}]
    remote = client.get_online_features(FEATURES, rows)
    with FeatureStore(server.repo) as store:
        local = store.get_online_features(FEATURES, rows)
    assert remote.to_dict() == local.to_dict()
    assert remote.statuses == local.statuses
    assert remote.event_timestamps == local.event_timestamps
    assert remote.event_timestamps["purchases"] == [T0, T0, None]
    assert remote.feature_names == ["user_id", "purchases", "category"]


def test_entity_rows_in_every_form(client: Client) -> None:
    expected = {"user_id": [4, 5], "purchases": [4, 5]}
    features = ["user_stats:purchases"]
    assert (
        client.get_online_features(features, [{"user_id": 4}, {"user_id": 5}]).to_dict() == expected
    )
    assert client.get_online_features(features, {"user_id": [4, 5]}).to_dict() == expected
    frame = pd.DataFrame({"user_id": [4, 5]})
    assert client.get_online_features(features, frame).to_dict() == expected
    assert client.get_online_features(features, frame).to_df().equals(pd.DataFrame(expected))


def test_feature_service_by_name_and_full_names(client: Client) -> None:
    out = client.get_online_features("shop_v1", [{"user_id": 6}], full_feature_names=True)
    assert out.to_dict()["user_stats__logins"] == [60]


def test_server_errors_become_skewless_errors(client: Client) -> None:
    with pytest.raises(FeatureNotFoundError, match="no feature 'nope'") as info:
        client.get_online_features(["user_stats:nope"], [{"user_id": 1}])
    assert info.value.status == 404  # type: ignore[attr-defined]
    with pytest.raises(EntityFrameError, match="user_id"):
        client.get_online_features(FEATURES, [{"customer": 1}])
    with pytest.raises(UnknownObjectError, match="no feature service named 'missing'"):
        client.get_online_features("missing", [{"user_id": 1}])
    with pytest.raises(FeatureServerError, match="larger --max-body-bytes") as too_big:
        client.get_online_features(FEATURES, {"user_id": list(range(30_000))})
    assert too_big.value.status == 413 and too_big.value.code == "body_too_large"


def test_unreachable_server_is_a_clear_error() -> None:
    client = Client(f"http://127.0.0.1:{free_port()}", timeout=2)
    with client, pytest.raises(FeatureServerError, match="cannot reach the feature server"):
        client.health()


def test_push_then_read_back(client: Client) -> None:
    ack = client.push(
        "events_push",
        [{"user_id": 5001, "event_timestamp": datetime(2024, 3, 2, tzinfo=UTC), "clicks": 7}],
    )
    assert ack["rows"] == 1 and ack["status"] == "ok"
    out = client.get_online_features(["user_events:clicks"], [{"user_id": 5001}])
    assert out.to_dict() == {"user_id": [5001], "clicks": [7]}
    frame = pd.DataFrame(
        {
            "user_id": [5001],
            "event_timestamp": [pd.Timestamp("2024-03-03", tz="UTC")],
            "clicks": [8],
        }
    )
    client.push("events_push", frame, to="online_and_offline")
    out = client.get_online_features(["user_events:clicks"], {"user_id": [5001]})
    assert out.to_dict()["clicks"] == [8]
    assert out.event_timestamps["clicks"] == [datetime(2024, 3, 3, tzinfo=UTC)]


def test_push_errors(client: Client) -> None:
    with pytest.raises(UnknownObjectError, match="nope"):
        client.push("nope", [{"user_id": 1}])
    with pytest.raises(EntityFrameError) as info:
        client.push("events_push", [{"user_id": 5002, "clicks": 1}])  # no event_timestamp
    assert info.value.status == 422  # type: ignore[attr-defined]
    out = client.get_online_features(["user_events:clicks"], [{"user_id": 5002}])
    assert out.statuses["clicks"] == ["NOT_FOUND"]
    with pytest.raises(FeatureServerError, match="`to` must be one of"):
        client.push("events_push", [{"user_id": 1}], to="elsewhere")
