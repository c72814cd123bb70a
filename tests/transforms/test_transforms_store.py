"""The blocks in a real store: offline at T == online at now=T == a per-row reference, in both
on-demand modes; rolling windows and their trend ratio offline, point in time."""

from __future__ import annotations

import math
import tempfile
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pyarrow as pa
from embedded_store import embedded_store
from fe_repo import (
    AGE_LABELS,
    T0,
    fe_pd,
    fe_py,
    profile,
    trend_pd,
    trend_py,
    txns,
    user,
    write_profile,
    write_txns,
)
from hypothesis import given, settings
from hypothesis import strategies as st
from reference import RefAggregation, RefView, point_in_time, window_aggregates

from skewless.transforms import stable_hash

TIMES = [T0 + timedelta(hours=h) for h in range(0, 48, 6)]
KEYS = [1, 2, 3, 4]
FEATURES = ("dow", "hour", "weekend", "purchase_rate", "age_bucket", "age_x_gender")
US_UTC = pa.timestamp("us", "UTC")

profile_rows = st.lists(
    st.fixed_dictionaries(
        {
            "user_id": st.sampled_from(KEYS[:3]),
            "ts": st.sampled_from(TIMES[:4]),
            "age": st.one_of(st.integers(1, 99), st.sampled_from([0, 25, 100, 101, -3]), st.none()),
            "gender": st.one_of(st.sampled_from(["f", "m", "x"]), st.none()),
            "purchases": st.one_of(st.integers(0, 30), st.none()),
            "visits": st.one_of(st.integers(0, 10), st.none()),
        }
    ),
    min_size=3,
    max_size=15,
)
visit_times = st.lists(
    st.one_of(
        st.datetimes(
            min_value=datetime(2020, 1, 1),
            max_value=datetime(2030, 1, 1),
            timezones=st.sampled_from([UTC, timezone(timedelta(hours=-7))]),
        ),
        st.none(),
    ),
    min_size=len(KEYS),
    max_size=len(KEYS),
)


def engineered(row: dict[str, Any]) -> dict[str, Any]:
    """The on-demand outputs for one joined row, written out value by value."""
    ts = row["visit_ts"]
    utc = None if ts is None else ts.astimezone(UTC)
    age, gender = row["age"], row["gender"]
    bucket = None
    if age is not None:
        for i, (low, high) in enumerate([(0, 25), (25, 35), (35, 50), (50, 100)]):
            if low < age <= high:
                bucket = AGE_LABELS[i]
    crossed = None if bucket is None or gender is None else f"{bucket}_x_{gender}"
    purchases, visits = row["purchases"], row["visits"]
    rate = None if purchases is None else (purchases / visits if visits else 0.0)
    return {
        "dow": None if utc is None else utc.weekday(),
        "hour": None if utc is None else utc.hour,
        "weekend": None if utc is None else utc.weekday() >= 5,
        "purchase_rate": rate,
        "age_bucket": bucket,
        "age_x_gender": crossed,
        "age_gender_bucket": None if crossed is None else stable_hash(crossed, 64),
    }


@settings(max_examples=25)
@given(rows=profile_rows, visits=visit_times, t=st.sampled_from(TIMES[2:6]))
def test_engineered_features_offline_online_and_reference_agree(rows, visits, t) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        write_profile(root, rows)
        store = embedded_store(root, t, project="fe")
        store.apply([user, profile, fe_py, fe_pd])
        store.materialize(t - profile.ttl, t)

        names = (*FEATURES, "age_gender_bucket")
        refs = [f"{view}:{f}" for view in ("fe_py", "fe_pd") for f in names]
        entity = pa.table(
            {
                "user_id": KEYS,
                "event_timestamp": pa.array([t] * len(KEYS), US_UTC),
                "visit_ts": pa.array(visits, US_UTC),
            }
        )
        offline = store.get_historical_features(entity, refs, full_feature_names=True)
        offline_rows = offline.to_arrow().to_pylist()
        online = store.get_online_features(
            refs, {"user_id": KEYS, "visit_ts": visits}, full_feature_names=True
        ).to_dict()

        features = ("age", "gender", "purchases", "visits")
        ref_view = RefView("profile", ("user_id",), features, profile.ttl, rows)
        joined = point_in_time(entity.to_pylist(), [(ref_view, features, features)])
        for i, row in enumerate(joined):
            row["visit_ts"] = visits[i]
            want = engineered(row)
            for view in ("fe_py", "fe_pd"):
                for f in names:
                    got_offline = offline_rows[i][f"{view}__{f}"]
                    got_online = online[f"{view}__{f}"][i]
                    assert got_offline == got_online == want[f], (view, f, row)
        store.close()


# -- rolling windows and the trend ratio, offline -----------------------------------------------
EVENT_TIMES = [T0 - timedelta(days=d) for d in (0, 1, 3, 6, 7, 8, 15, 29, 30, 31, 45)]
events = st.lists(
    st.fixed_dictionaries(
        {
            "user_id": st.sampled_from(KEYS[:3]),
            "ts": st.sampled_from(EVENT_TIMES),
            "amount": st.one_of(
                st.integers(1, 100).map(float), st.none(), st.just(0.0), st.integers(-20, 0)
            ).map(lambda a: None if a is None else float(a)),
        }
    ),
    min_size=4,
    max_size=25,
)
entity_rows = st.lists(
    st.tuples(
        st.sampled_from([*KEYS[:3], *KEYS]),
        st.sampled_from([*EVENT_TIMES, T0 + timedelta(days=3)]),
    ),
    min_size=3,
    max_size=8,
)
WINDOWED = [RefAggregation(a.function, a.column, a.time_window, a.name) for a in txns.aggregations]


def close(got: Any, want: Any) -> bool:
    if want is None or got is None:
        return got is want
    return math.isclose(got, want, rel_tol=1e-9, abs_tol=1e-12)


@settings(max_examples=30)
@given(data=events, wanted=entity_rows)
def test_rolling_means_and_trend_ratio_offline_match_the_reference(data, wanted) -> None:
    assert txns.feature_names == (
        "mean_amount_7d",
        "mean_amount_30d",
        "count_amount_30d",
        "max_amount_30d",
    )
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        write_txns(root, data)
        store = embedded_store(root, T0, project="fe")
        store.apply([user, txns, trend_py, trend_pd])
        entity = pa.table(
            {
                "user_id": pa.array([k for k, _ in wanted], pa.int64()),
                "event_timestamp": pa.array([t for _, t in wanted], US_UTC),
            }
        )
        refs = [f"txns:{f}" for f in txns.feature_names]
        refs += ["trend_py:amount_trend", "trend_pd:amount_trend"]
        got = store.get_historical_features(entity, refs, full_feature_names=True)
        got_rows = got.to_arrow().to_pylist()

        ref_view = RefView("txns", ("user_id",), ("amount",), None, data)
        want = window_aggregates(entity.to_pylist(), ref_view, WINDOWED)
        for row, expected in zip(got_rows, want, strict=True):
            for name in txns.feature_names:
                assert close(row[f"txns__{name}"], expected[name]), (name, row, expected)
            short, long = expected["mean_amount_7d"], expected["mean_amount_30d"]
            trend = None if short is None or not long else short / long
            assert close(row["trend_py__amount_trend"], trend), (row, expected)
            assert row["trend_py__amount_trend"] == row["trend_pd__amount_trend"]

        # Online at now = T0 (every event is at or before T0): the same values.
        store.materialize(T0 - timedelta(days=60), T0)
        keys = sorted({k for k, _ in wanted})
        online = store.get_online_features(
            refs, [{"user_id": k} for k in keys], full_feature_names=True
        ).to_dict()
        at_t0 = pa.table(
            {
                "user_id": pa.array(keys, pa.int64()),
                "event_timestamp": pa.array([T0] * len(keys), US_UTC),
            }
        )
        offline = store.get_historical_features(at_t0, refs, full_feature_names=True)
        for i, row in enumerate(offline.to_arrow().to_pylist()):
            for name in row:
                if name not in ("user_id", "event_timestamp"):
                    assert close(online[name][i], row[name]), (name, online[name][i], row)
        store.close()


def test_trend_ratio_on_a_known_history() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        rows = [
            {"user_id": 1, "ts": T0 - timedelta(days=20), "amount": 10.0},
            {"user_id": 1, "ts": T0 - timedelta(days=2), "amount": 40.0},
            {"user_id": 2, "ts": T0 - timedelta(days=20), "amount": 0.0},
        ]
        write_txns(root, rows)
        store = embedded_store(root, T0, project="fe")
        store.apply([user, txns, trend_py, trend_pd])
        entity = pa.table(
            {
                "user_id": [1, 1, 2],
                "event_timestamp": pa.array([T0, T0 - timedelta(days=5), T0], US_UTC),
            }
        )
        got = store.get_historical_features(
            entity, ["txns:mean_amount_7d", "txns:mean_amount_30d", "trend_pd:amount_trend"]
        ).to_arrow()
        assert got.column("mean_amount_7d").to_pylist() == [40.0, None, None]
        assert got.column("mean_amount_30d").to_pylist() == [25.0, 10.0, 0.0]
        # 40 / 25 now; no purchase in the 7 days before day -5; user 2's 30d mean is zero.
        assert got.column("amount_trend").to_pylist() == [1.6, None, None]
        store.materialize(T0 - timedelta(days=60), T0)
        online = store.get_online_features(
            ["txns:mean_amount_7d", "txns:mean_amount_30d", "trend_py:amount_trend"],
            [{"user_id": 1}, {"user_id": 2}],
        ).to_dict()
        assert online["mean_amount_7d"] == [40.0, None]
        assert online["mean_amount_30d"] == [25.0, 0.0]
        assert online["amount_trend"] == [1.6, None]
        store.close()
