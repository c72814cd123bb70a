"""Parity (docs/semantics.md): online at ``now = T`` equals offline at ``T`` on random data.

With materialized ranges that together cover ``[T - ttl, T]`` (all history when the TTL is
unbounded) and none past ``T``, every key's online value equals its point-in-time value.
"""

from __future__ import annotations

import itertools
import math
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from hypothesis import example, given, settings
from hypothesis import strategies as st
from reference import RefView, latest_per_key

from skewless import Entity, FeatureStore, FeatureView, Field, FileSource
from skewless.config import RepoConfig
from skewless.types import Float64, Int64, String

BASE = datetime(2024, 3, 1, tzinfo=UTC)
TIMES = [BASE + timedelta(hours=h) for h in range(0, 12)]
# A microsecond before a grid time: rows just outside a TTL window that ends on the grid.
NEAR = [t - timedelta(microseconds=1) for t in TIMES[1:]]
TTLS = [None, timedelta(hours=2), timedelta(hours=5)]
FEATURES = ("score", "label", "amount")

key_users = st.sampled_from([1, 2, 3])
key_regions = st.sampled_from(["eu", "us", "EU"])
rows = st.lists(
    st.fixed_dictionaries(
        {
            "user_id": key_users,
            "region": key_regions,
            "ts": st.sampled_from(TIMES + NEAR),
            "created": st.one_of(st.none(), st.sampled_from(TIMES[:4])),
            "score": st.one_of(st.none(), st.integers(-5, 5)),
            "label": st.one_of(st.none(), st.sampled_from(["x", "y"])),
            "amount": st.one_of(st.none(), st.floats(-10, 10, allow_nan=False)),
            "file": st.integers(0, 1),
        }
    ),
    min_size=0,
    max_size=30,
)


def _write(root: Path, data: list[dict]) -> None:
    src = root / "data" / "stats"
    src.mkdir(parents=True)
    for part in (0, 1):
        part_rows = [r for r in data if r["file"] == part]
        table = pa.table(
            {
                "user_id": pa.array([r["user_id"] for r in part_rows], pa.int64()),
                "region": pa.array([r["region"] for r in part_rows], pa.string()),
                "event_timestamp": pa.array(
                    [r["ts"] for r in part_rows], pa.timestamp("us", "UTC")
                ),
                "created": pa.array([r["created"] for r in part_rows], pa.timestamp("us", "UTC")),
                "score": pa.array([r["score"] for r in part_rows], pa.int64()),
                "label": pa.array([r["label"] for r in part_rows], pa.string()),
                "amount": pa.array([r["amount"] for r in part_rows], pa.float64()),
            }
        )
        pq.write_table(table, src / f"part-{part}.parquet")


def _ranges(t: datetime, ttl: timedelta | None, cuts: list[int], lead: int) -> list[tuple]:
    """Contiguous ranges covering [T - ttl - lead, T] (all history when unbounded)."""
    start = (t - ttl if ttl else TIMES[0] - timedelta(days=1)) - timedelta(hours=lead)
    span = (t - start).total_seconds()
    points = sorted({start + timedelta(seconds=span * c / 10) for c in cuts} | {start, t})
    return list(itertools.pairwise(points)) or [(start, t)]


scenarios = {
    "data": rows,
    "ttl": st.sampled_from(TTLS),
    "t": st.sampled_from(TIMES),
    "cuts": st.lists(st.integers(1, 9), max_size=3),
    "lead": st.integers(0, 3),
    "reverse": st.booleans(),
}
"""One random scenario: source rows, the view's TTL, the time T, how [T - ttl, T] is cut into
materialized ranges (starting ``lead`` hours early) and whether they run newest first."""


def check_parity(
    online_store: dict, data, ttl, t, cuts, lead, reverse, offline_store: dict | None = None
) -> None:
    """Materialize ranges covering [T - ttl, T] into ``online_store``; online == offline at T.

    Online values and statuses must also be the reference's (``_expected_online``).
    """
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        _write(root, data)
        block = dict(online_store)
        if block["type"] == "sqlite":
            block["path"] = str(root / "online.db")
        config = RepoConfig(
            project="parity",
            registry={"path": str(root / "registry.db")},
            online_store=block,
            offline_store=offline_store or {"type": "duckdb"},
            repo_path=root,
        )
        store = FeatureStore(config=config, clock=lambda: t)
        user = Entity(name="user", join_keys=["user_id"])
        region = Entity(name="region", join_keys=["region"])
        view = FeatureView(
            name="stats",
            entities=[user, region],
            ttl=ttl,
            schema=[
                Field(name="score", dtype=Int64),
                Field(name="label", dtype=String),
                Field(name="amount", dtype=Float64),
            ],
            source=FileSource(
                path="data/stats",
                timestamp_field="event_timestamp",
                created_timestamp_column="created",
            ),
        )
        store.apply([user, region, view])
        ranges = _ranges(t, ttl, cuts, lead)
        for start, end in reversed(ranges) if reverse else ranges:
            store.materialize(start, end)

        keys = [(u, r) for u in (1, 2, 3, 4) for r in ("eu", "us", "EU")]
        refs = ["stats:score", "stats:label", "stats:amount"]
        entity = pa.table(
            {
                "user_id": [k[0] for k in keys],
                "region": [k[1] for k in keys],
                "event_timestamp": pa.array([t] * len(keys), pa.timestamp("us", "UTC")),
            }
        )
        offline = store.get_historical_features(entity, refs).to_arrow().to_pylist()
        online = store.get_online_features(refs, [{"user_id": u, "region": r} for u, r in keys])
        values = online.to_dict()
        statuses = online.statuses
        expected = _expected_online(data, ttl, t, ranges[0][0], keys)
        for i, (u, r) in enumerate(keys):
            assert values["user_id"][i] == u and values["region"][i] == r
            for feature in FEATURES:
                want, got = offline[i][feature], values[feature][i]
                status = statuses[feature][i]
                assert _same(want, got), (u, r, feature, want, got, status)
                assert (got, status) == expected[(u, r)][feature], (u, r, feature)
        store.close()


def _expected_online(
    data: list[dict], ttl: timedelta | None, t: datetime, start: datetime, keys: list[tuple]
) -> dict[tuple, dict[str, tuple[object, str]]]:
    """Per key and feature, the ``(value, status)`` docs/semantics.md "Online reads" gives.

    The stored row of a key is the reference's winner over everything materialized,
    ``[start, T]``; its status follows from its age and value.
    """
    ordered = [r for part in (0, 1) for r in data if r["file"] == part]
    view = RefView("stats", ("user_id", "region"), FEATURES, ttl, ordered)
    stored = latest_per_key(view, start, t)
    out = {}
    for key in keys:
        row = stored.get(key)
        entry = {}
        for feature in FEATURES:
            if row is None:
                entry[feature] = (None, "NOT_FOUND")
            elif view.bounded and row["ts"] < t - ttl:  # type: ignore[operator]
                entry[feature] = (None, "OUTSIDE_MAX_AGE")
            elif row[feature] is None:
                entry[feature] = (None, "NULL_VALUE")
            else:
                entry[feature] = (row[feature], "PRESENT")
        out[key] = entry
    return out


def _row(user: int, region: str, hour: int, **values: object) -> dict:
    row = {"user_id": user, "region": region, "ts": TIMES[hour], "created": None, "file": 0}
    return row | {"score": None, "label": None, "amount": None} | values


# Every status at once: (1, eu) is present, (2, eu) holds nulls, (3, eu) is older than the
# TTL but materialized (the ranges start three hours early), and (4, *) was never written.
EVERY_STATUS = [
    _row(1, "eu", 9, score=1, label="x", amount=0.5),
    _row(2, "eu", 10),
    _row(3, "eu", 2, score=3, label="y", amount=1.5),
]


@settings(max_examples=60)
@example(data=EVERY_STATUS, ttl=TTLS[2], t=TIMES[10], cuts=[3], lead=3, reverse=False)
@given(**scenarios)
def test_online_at_t_equals_offline_at_t(data, ttl, t, cuts, lead, reverse) -> None:
    check_parity({"type": "sqlite"}, data, ttl, t, cuts, lead, reverse)


def _same(a: object, b: object) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=0, abs_tol=0) or a == b
    return a == b
