"""The skew audit on a real embedded store (DuckDB, SQLite registry and online store)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from audit_repo import (
    T0,
    build,
    corrupt,
    h,
    stats,
    write_stats,
)
from embedded_store import embedded_store

from skewless.audit_report import AuditReport, FeatureAudit, values_equal
from skewless.errors import FeatureNotFoundError, SkewlessError

STATS_REFS = ["stats:score", "stats:amount", "stats:ratio", "stats:label", "stats:weights"]


def by_ref(report: AuditReport) -> dict[str, FeatureAudit]:
    return {f.ref: f for f in report.features}


def views(report: AuditReport) -> dict[str, str]:
    return {v.name: v.status for v in report.views}


def test_a_consistent_store_has_no_skew(tmp_path: Path) -> None:
    store = build(tmp_path)
    report = store.audit()
    assert report.ok, report.render()
    found = by_ref(report)
    assert set(found) == {
        *STATS_REFS,
        "recent:clicks",
        "derived:double_amount",
        "derived:big",
    }
    assert found["stats:score"].compared == 4  # users 1-4
    assert found["recent:clicks"].compared == 3  # user 2 is past the TTL: null both ways
    assert found["derived:double_amount"].compared == 4
    assert views(report) == {
        "stats": "audited",
        "recent": "audited",
        "derived": "audited",
        "priced": "skipped",
    }
    priced = next(v for v in report.views if v.name == "priced")
    assert "request data" in priced.reason and "price" in priced.reason
    assert all(v.at == T0 for v in report.views if v.status == "audited")
    assert {lag.name: lag.pending_keys for lag in report.lag} == {"stats": 0, "recent": 0}
    assert "no skew" in report.render()


def test_on_demand_views_with_request_data_are_audited_when_it_is_given(tmp_path: Path) -> None:
    store = build(tmp_path)
    report = store.audit(["priced:share"], request_data={"price": 3.0})
    assert report.ok, report.render()
    assert by_ref(report)["priced:share"].compared == 4
    assert views(report) == {"priced": "audited"}
    assert [lag.name for lag in report.lag] == ["stats"]  # its source's lag


def test_an_injected_mismatch_is_caught_with_its_key(tmp_path: Path) -> None:
    store = build(tmp_path)
    corrupt(store, stats, 1, score=100)
    report = store.audit()
    assert not report.ok
    score = by_ref(report)["stats:score"]
    assert (score.compared, score.mismatches) == (4, 1)
    assert score.mismatch_rate == 0.25
    assert score.examples == [({"user_id": 1}, 100, 7)]
    others = [f for f in report.features if f.ref != "stats:score"]
    assert all(f.mismatches == 0 for f in others), report.render()
    assert "SKEW: 1 mismatching values" in report.render()


def test_a_corrupted_input_shows_in_the_on_demand_features_over_it(tmp_path: Path) -> None:
    store = build(tmp_path)
    corrupt(store, stats, 4, amount=-5.0)
    found = by_ref(store.audit())
    assert found["stats:amount"].examples == [({"user_id": 4}, -5.0, -4.0)]
    assert found["derived:double_amount"].examples == [({"user_id": 4}, -10.0, -8.0)]
    assert found["derived:big"].mismatches == 0


@pytest.mark.parametrize(
    ("values", "caught"),
    [
        ({"amount": 0.1 + 0.2 + 1e-15}, False),  # within the float tolerance
        ({"amount": 0.3 + 1e-6}, True),
        ({"weights": [0.5]}, True),
        ({"label": "B"}, True),
        ({"score": 0}, True),  # None online becomes 0
        ({"ratio": 0.25}, True),
    ],
)
def test_what_counts_as_a_mismatch(tmp_path: Path, values: dict[str, object], caught: bool) -> None:
    store = build(tmp_path)
    corrupt(store, stats, 2, **values)
    report = store.audit(STATS_REFS)
    assert report.ok is not caught, report.render()
    if caught:
        (feature,) = values
        assert by_ref(report)[f"stats:{feature}"].examples[0][0] == {"user_id": 2}


def test_rows_newer_than_the_watermark_are_lag_not_skew(tmp_path: Path) -> None:
    build(tmp_path).close()
    newer = [
        {"user_id": 1, "ts": h(1), "created": h(1), "score": 50, "amount": 9.0},
        {"user_id": 6, "ts": h(2), "created": h(2), "score": 60},
    ]
    write_stats(tmp_path, newer, part=1)
    later = embedded_store(tmp_path, h(3), project="audit")
    report = later.audit()
    assert report.ok, report.render()
    lag = {item.name: item for item in report.lag}
    assert lag["stats"].pending_keys == 2 and lag["stats"].watermark == T0
    assert lag["stats"].behind == h(3) - T0
    assert lag["recent"].pending_keys == 0
    assert by_ref(report)["stats:score"].compared == 4  # user 6 does not exist at T
    assert next(v for v in report.views if v.name == "stats").at == T0


def test_late_rows_are_lag_not_skew(tmp_path: Path) -> None:
    build(tmp_path).close()
    late = [{"user_id": 4, "ts": h(-0.5), "created": h(1), "score": 2, "amount": -6.0}]
    write_stats(tmp_path, late, part=1)
    later = embedded_store(tmp_path, h(2), project="audit")
    report = later.audit([*STATS_REFS, "derived:double_amount", "derived:big"])
    assert report.ok, report.render()
    assert report.lag[0].late_keys == 1
    found = by_ref(report)
    assert (found["stats:score"].mismatches, found["stats:score"].lagging) == (0, 1)
    assert found["derived:double_amount"].lagging == 1
    assert found["derived:big"].lagging == 0  # 1 and 2 are both small: nothing to explain
    assert found["stats:label"].lagging == 1  # the late row has no label


def test_a_view_never_materialized_is_reported_as_such(tmp_path: Path) -> None:
    store = build(tmp_path, materialize=False)
    store.materialize_incremental(T0, ["recent"])
    report = store.audit()
    assert report.ok
    assert views(report) == {
        "stats": "not materialized",
        "recent": "audited",
        "derived": "not materialized",
        "priced": "skipped",
    }
    assert "stats" in next(v.reason for v in report.views if v.name == "derived")
    assert {lag.name: lag.watermark for lag in report.lag} == {"stats": None, "recent": T0}
    assert [f.ref for f in report.features] == ["recent:clicks"]


def test_online_rows_newer_than_t_are_compared_at_their_own_time(tmp_path: Path) -> None:
    future = [{"user_id": 1, "ts": h(5), "created": h(5), "score": 11, "amount": 3.0}]
    store = build(tmp_path, materialize=False)
    write_stats(tmp_path, future, part=1)
    store.materialize(h(-100), h(10), ["stats"])  # past the clock (T0)
    report = store.audit(["stats:score", "derived:double_amount"])
    assert report.ok, report.render()
    audited = {v.name: v for v in report.views}
    assert audited["stats"].at == T0 and audited["stats"].ahead == 1
    assert audited["derived"].ahead == 1
    assert by_ref(report)["stats:score"].compared == 4
    assert by_ref(report)["derived:double_amount"].compared == 3
    corrupt(store, stats, 1, end=h(10), score=12)
    found = by_ref(store.audit(["stats:score"]))["stats:score"]
    assert found.examples == [({"user_id": 1}, 12, 11)]


def test_features_by_reference_or_service(tmp_path: Path) -> None:
    store = build(tmp_path)
    corrupt(store, stats, 3, label="x")
    report = store.audit("model")
    assert [f.ref for f in report.features] == [
        "stats:score",
        "stats:label",
        "derived:double_amount",
        "derived:big",
    ]
    assert by_ref(report)["stats:label"].examples == [({"user_id": 3}, "x", None)]
    only = store.audit(["recent:clicks"])
    assert only.ok and [f.ref for f in only.features] == ["recent:clicks"]


def test_bad_requests_fail_clearly(tmp_path: Path) -> None:
    store = build(tmp_path)
    with pytest.raises(FeatureNotFoundError, match="no feature 'nope'"):
        store.audit(["stats:nope"])
    with pytest.raises(FeatureNotFoundError, match="unknown feature view 'ghost'"):
        store.audit(["ghost:x"])
    with pytest.raises(SkewlessError, match="positive"):
        store.audit(sample=0)


def test_the_sample_is_seeded_and_bounded(tmp_path: Path) -> None:
    rows = [
        {"user_id": u, "ts": h(-u / 10), "created": h(-u / 10), "score": u, "amount": u / 7}
        for u in range(100, 160)
    ]
    write_stats(tmp_path, rows, part=1)
    store = build(tmp_path)
    corrupt(store, stats, 1, score=0)

    def keys(seed: int) -> list[int]:
        report = store.audit(["stats:score"], sample=12, seed=seed)
        (feature,) = report.features
        assert feature.compared == 12
        return [k["user_id"] for k, _, _ in feature.examples] + [feature.mismatches]

    assert keys(0) == keys(0)
    everything = store.audit(["stats:score"], sample=1000).features[0]
    assert (everything.compared, everything.mismatches) == (64, 1)
    sampled = [store.audit(["stats:score"], sample=12, seed=s).ok for s in range(12)]
    assert any(sampled) and not all(sampled)  # some samples hold user 1, some do not


def test_the_report_is_json_and_text(tmp_path: Path) -> None:
    store = build(tmp_path)
    corrupt(store, stats, 1, weights=[float("nan")], amount=float("inf"))
    report = store.audit(at=h(-1))
    data = json.loads(json.dumps(report.to_dict(), allow_nan=False))
    assert data["ok"] is False
    assert {v["at"] for v in data["views"] if v["status"] == "audited"} == {h(-1).isoformat()}
    amount = next(f for f in data["features"] if f["feature"] == "stats:amount")
    assert amount["examples"] == [{"key": {"user_id": 1}, "online": "inf", "offline": 2.25}]
    assert amount["mismatch_rate"] == 0.25
    text = report.render()
    assert "user_id=1: online=inf offline=2.25" in text


def test_values_equal() -> None:
    assert values_equal(float("nan"), float("nan"))
    assert not values_equal(None, 0)
    assert not values_equal([1], [1, 2])
    assert not values_equal(True, 1.0)
    assert values_equal(T0, T0.replace(tzinfo=None))


def test_views_without_keys_at_t_compare_nothing(tmp_path: Path) -> None:
    store = build(tmp_path, materialize=False)
    store.materialize(h(-1000), h(-100))  # before every row
    report = store.audit()
    assert report.ok
    assert all(f.compared == 0 for f in report.features)
    assert {v.name: v.at for v in report.views if v.status == "audited"} == {
        "stats": h(-100),
        "recent": h(-100),
        "derived": h(-100),
    }
    assert {lag.name: lag.pending_keys for lag in report.lag} == {"stats": 4, "recent": 3}
