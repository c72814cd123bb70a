"""The one-entity read of plain views (docs/semantics.md "Online reads") over a real SQLite
online store: the same answer as the general path, and a hot path kept short."""

from __future__ import annotations

import logging
import math
import sys
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import FrameType
from typing import Any

import numpy as np
import pytest
from test_online_read import NOW, STATS, STATS_REFS, USER, _snapshot, put

from skewless import FeatureView, Field, FileSource
from skewless.config import SqliteOnlineConfig
from skewless.errors import EntityFrameError
from skewless.online.sqlite.store import SqliteOnlineStore
from skewless.online_read import OnlineReader, OnlineResponse
from skewless.registry.snapshot import RegistrySnapshot
from skewless.types import Float64, Int64

SCORES = FeatureView(
    name="scores",
    entities=[USER],
    schema=[Field(name="risk", dtype=Float64), Field(name="rank", dtype=Int64)],
    source=FileSource(path="scores.parquet"),
)
REFS = [*STATS_REFS, "scores:risk", "scores:rank"]


@pytest.fixture
def online(tmp_path: Path) -> Iterator[SqliteOnlineStore]:
    store = SqliteOnlineStore(SqliteOnlineConfig(path="online.db"), tmp_path)
    yield store
    store.close()


@pytest.fixture
def snap(online: SqliteOnlineStore) -> RegistrySnapshot:
    snapshot = _snapshot(STATS, SCORES)
    put(
        online,
        snapshot,
        STATS,
        [
            {"user_id": 1, "ts": NOW - timedelta(minutes=5), "score": 7, "label": "a",
             "amount": 0.5, "raw": b"\x00", "seen": NOW},
            {"user_id": 2, "ts": NOW - timedelta(minutes=5), "score": None, "label": "b"},
            {"user_id": 3, "ts": NOW - timedelta(hours=2), "score": 9, "label": "old"},
        ],
    )  # fmt: skip
    put(online, snapshot, SCORES, [{"user_id": 1, "ts": NOW - timedelta(days=90), "risk": 0.25}])
    return snapshot


def _answer(response: OnlineResponse) -> tuple[Any, ...]:
    return (
        response.to_dict(),
        response.statuses,
        response.event_timestamps,
        response.to_arrow(),
        response.feature_names,
        len(response),
    )


@pytest.mark.parametrize("user", [1, 2, 3, 4, None, math.nan, 1.0, "1"])
@pytest.mark.parametrize("refs", [STATS_REFS, REFS, ["scores:rank"], ["stats:label"]])
@pytest.mark.parametrize("full", [False, True])
def test_one_entity_reads_like_the_general_path(
    online: SqliteOnlineStore,
    snap: RegistrySnapshot,
    user: Any,
    refs: list[str],
    full: bool,
) -> None:
    """Every status (PRESENT, NULL_VALUE, OUTSIDE_MAX_AGE, NOT_FOUND, null keys), one view
    and two: ``[{key: v}]`` answers exactly as ``{key: [v]}`` does."""
    reader = OnlineReader(online, lambda: snap)
    one = reader.read(refs, [{"user_id": user}], full, now=NOW)
    general = reader.read(refs, {"user_id": [user]}, full, now=NOW)
    assert repr(_answer(one)) == repr(_answer(general))  # NaN keys compare by their text


def test_one_entity_statuses(online: SqliteOnlineStore, snap: RegistrySnapshot) -> None:
    reader = OnlineReader(online, lambda: snap)
    status = [reader.read(REFS, [{"user_id": u}], now=NOW).statuses for u in (1, 2, 3, 4, None)]
    assert [s["score"][0] for s in status] == [
        "PRESENT",
        "NULL_VALUE",
        "OUTSIDE_MAX_AGE",
        "NOT_FOUND",
        "NOT_FOUND",
    ]
    assert [s["risk"][0] for s in status] == ["PRESENT"] + ["NOT_FOUND"] * 4  # no TTL
    assert status[0]["rank"] == ["NULL_VALUE"]


def test_one_entity_errors_and_hint_match_the_general_path(
    online: SqliteOnlineStore, snap: RegistrySnapshot, caplog: pytest.LogCaptureFixture
) -> None:
    reader = OnlineReader(online, lambda: snap)
    with pytest.raises(Exception, match="not a join key") as extra:
        reader.read(REFS, [{"user_id": 1, "other": 2}], now=NOW)
    with pytest.raises(Exception, match="lack the join key") as missing:
        reader.read(REFS, [{"uid": 1}], now=NOW)
    assert "'other'" in str(extra.value) and "'user_id'" in str(missing.value)
    with caplog.at_level(logging.WARNING, logger="skewless"):
        reader.read(["stats:score"], [{"user_id": 3}], now=NOW)
    assert "OUTSIDE_MAX_AGE" in caplog.records[0].getMessage()


@pytest.mark.parametrize("key", ["1", True, b"1", [1]])
def test_one_entity_refuses_keys_of_the_wrong_type_like_the_general_path(
    online: SqliteOnlineStore, key: Any
) -> None:
    typed = FeatureView(
        name="typed",
        entities=[USER],
        schema=[Field(name="user_id", dtype=Int64), Field(name="rank", dtype=Int64)],
        source=FileSource(path="typed.parquet"),
    )
    snapshot = _snapshot(typed)
    put(online, snapshot, typed, [{"user_id": 1, "ts": NOW, "rank": 5}])
    reader = OnlineReader(online, lambda: snapshot)
    with pytest.raises(EntityFrameError) as general:
        reader.read(["typed:rank"], {"user_id": [key]}, now=NOW)
    with pytest.raises(EntityFrameError) as one:
        reader.read(["typed:rank"], [{"user_id": key}], now=NOW)
    assert str(one.value) == str(general.value) and "'user_id'" in str(one.value)
    for lossless in (1, 1.0, np.int64(1), None):
        assert reader.read(["typed:rank"], [{"user_id": lossless}], now=NOW).to_dict() == (
            reader.read(["typed:rank"], {"user_id": [lossless]}, now=NOW).to_dict()
        )


def test_the_clock_is_read_only_when_a_view_has_a_ttl(
    online: SqliteOnlineStore, snap: RegistrySnapshot
) -> None:
    reads: list[int] = []

    def clock() -> datetime:
        reads.append(1)
        return NOW

    reader = OnlineReader(online, lambda: snap, clock)
    reader.read(["scores:risk"], [{"user_id": 1}])
    reader.read(["scores:risk"], {"user_id": [1, 2]})
    assert reads == []
    response = reader.read(["stats:score"], [{"user_id": 3}])
    assert reads == [1] and response.statuses["score"] == ["OUTSIDE_MAX_AGE"]
    # a naive "now" means UTC; an aware one is the same instant in any timezone
    plus9 = timezone(timedelta(hours=9))
    for now in (NOW.replace(tzinfo=None), NOW.astimezone(plus9)):
        assert reader.read(["stats:score"], [{"user_id": 1}], now=now).to_dict()["score"] == [7]
    later = (NOW + timedelta(minutes=56)).astimezone(plus9)  # 61 minutes after the row
    assert reader.read(["stats:score"], [{"user_id": 1}], now=later).statuses["score"] == [
        "OUTSIDE_MAX_AGE"
    ]


# A one-entity read of plain views (here with byte and timestamp conversions) runs about 17
# Python-level calls from ``reader.read`` through ``to_dict`` (the SQLite store's error
# translation and file check included), where running it through the general path
# (entity-frame parsing, window and on-demand bookkeeping, per-call time conversions) took 28
# before those two were added. bench/online.py measures the latency this buys.
CALL_BUDGET = 18


def test_one_entity_read_stays_within_its_call_budget(
    online: SqliteOnlineStore, snap: RegistrySnapshot
) -> None:
    reader = OnlineReader(online, lambda: snap, lambda: NOW)
    rows = [{"user_id": 1}]
    reader.read(STATS_REFS, rows).to_dict()  # compile and cache the plan
    calls: list[str] = []

    def count(frame: FrameType, event: str, arg: object) -> None:
        if event == "call":
            calls.append(f"{frame.f_code.co_filename}:{frame.f_code.co_name}")

    sys.setprofile(count)
    try:
        values = reader.read(STATS_REFS, rows).to_dict()
    finally:
        sys.setprofile(None)
    assert values["score"] == [7]
    assert len(calls) <= CALL_BUDGET, "\n".join(calls)


def test_a_feature_list_changed_in_place_is_read_as_it_is_now(
    online: SqliteOnlineStore, snap: RegistrySnapshot
) -> None:
    reader = OnlineReader(online, lambda: snap, lambda: NOW)
    refs = ["stats:score"]
    assert reader.read(refs, [{"user_id": 1}]).to_dict() == {"user_id": [1], "score": [7]}
    refs[0] = "stats:label"
    assert reader.read(refs, [{"user_id": 1}]).to_dict() == {"user_id": [1], "label": ["a"]}
    assert reader.read(refs, [{"user_id": 1}], True).to_dict() == {
        "user_id": [1],
        "stats__label": ["a"],
    }


def test_without_a_clock_ttls_are_measured_against_the_wall_clock(
    online: SqliteOnlineStore, snap: RegistrySnapshot
) -> None:
    reader = OnlineReader(online, lambda: snap)
    assert datetime.now(NOW.tzinfo) > NOW + timedelta(hours=1)  # the rows are long expired
    assert reader.read(["stats:score"], [{"user_id": 1}]).statuses["score"] == ["OUTSIDE_MAX_AGE"]
    assert reader.read(["stats:score"], {"user_id": [1]}).statuses["score"] == ["OUTSIDE_MAX_AGE"]
    later = reader.read(["stats:score"], [{"user_id": 1}], now=NOW).statuses["score"]
    assert later == ["PRESENT"]
