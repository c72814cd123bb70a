"""Pushed event times may not lie beyond the maximum clock skew past ``store.now()``
(docs/semantics.md "Push", "The clock"): real DuckDB, SQLite registry and online store."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from push_repo import HISTORY, USER, events_view, h, write_history

from skewless import FeatureStore
from skewless.config import RepoConfig
from skewless.errors import ConfigError
from skewless.push import PushValidationError

NOW = h(100)


def store_at(root: Path, **push: Any) -> FeatureStore:
    config = RepoConfig(
        project="shop",
        registry={"path": str(root / "registry.db")},
        online_store={"type": "sqlite", "path": str(root / "online.db")},
        push=push,
        repo_path=root,
    )
    store = FeatureStore(config=config, clock=lambda: NOW)
    store.apply([USER, events_view()])
    return store


@pytest.fixture
def store(tmp_path: Path) -> Iterator[FeatureStore]:
    write_history(tmp_path, HISTORY)
    store = store_at(tmp_path)
    yield store
    store.close()


def row(user: int, when: Any, score: int) -> dict[str, Any]:
    return {"user_id": user, "event_timestamp": when, "score": score, "label": "p", "amount": 0.5}


def files(store: FeatureStore) -> list[str]:
    return sorted(p.name for p in (store.repo_path / "data" / "events").iterdir())


def score(store: FeatureStore, user: int) -> Any:
    return store.get_online_features(["events:score"], [{"user_id": user}]).to_dict()["score"][0]


@pytest.mark.parametrize("to", ["online", "offline", "online_and_offline"])
@pytest.mark.parametrize("when", ["9999-01-01T00:00:00Z", "2024-03-05T04:05:01Z"])
def test_a_row_from_the_future_refuses_the_whole_push(
    store: FeatureStore, to: str, when: Any
) -> None:
    rows = [row(1, NOW.isoformat(), 11), row(2, when, 22)]  # NOW is 2024-03-05T04:00Z
    with pytest.raises(PushValidationError, match=r"1 row\(s\) .* in the future.*max_clock_skew"):
        store.push("events_push", rows, to=to)
    assert files(store) == ["part-000.parquet"]
    assert score(store, 1) is None and score(store, 2) is None


def test_a_row_within_the_skew_is_accepted_and_later_corrections_win(
    store: FeatureStore,
) -> None:
    store.push("events_push", [row(1, NOW + timedelta(minutes=4), 11)])
    assert score(store, 1) == 11
    store.push("events_push", [row(1, NOW + timedelta(minutes=5), 12)])
    assert score(store, 1) == 12


def test_the_skew_is_configurable_and_null_disables_it(tmp_path: Path) -> None:
    write_history(tmp_path, HISTORY)
    strict = store_at(tmp_path, max_clock_skew="30s")
    with pytest.raises(PushValidationError, match="more than 0:00:30 past now"):
        strict.push("events_push", [row(1, NOW + timedelta(minutes=1), 11)])
    strict.close()
    free = store_at(tmp_path, max_clock_skew=None)
    free.push("events_push", [row(1, "9999-01-01T00:00:00Z", 11)])
    assert score(free, 1) == 11
    free.close()


def test_the_skew_is_read_from_feature_store_yaml(tmp_path: Path) -> None:
    write_history(tmp_path, HISTORY)
    yaml = tmp_path / "feature_store.yaml"
    yaml.write_text("project: shop\nregistry: registry.db\npush:\n  max_clock_skew: 1h\n")
    store = FeatureStore(repo_path=tmp_path, clock=lambda: NOW)
    store.apply([USER, events_view()])
    store.push("events_push", [row(1, NOW + timedelta(minutes=59), 11)])
    with pytest.raises(PushValidationError, match="more than 1:00:00 past now"):
        store.push("events_push", [row(1, NOW + timedelta(minutes=61), 12)])
    assert score(store, 1) == 11
    store.close()
    yaml.write_text("project: shop\npush:\n  max_clock_skew: soon\n")
    with pytest.raises(ConfigError, match=r"`push.max_clock_skew`: 'soon' is not a duration"):
        FeatureStore(repo_path=tmp_path)
