"""Window aggregations offline: hand-picked edges, definitions, plan-time checks, the store.

docs/semantics.md "Window aggregations": at entity time ``t``, rows of the key with
``t - w < ts <= t``; nulls ignored; count of nothing is 0; other functions of nothing null.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from offline_engines import EngineFactory

from skewless import (
    Aggregation,
    BatchFeatureView,
    Entity,
    FeatureService,
    FeatureStore,
    FeatureView,
    Field,
    FileSource,
)
from skewless._contracts import ViewRequest
from skewless.config import RepoConfig
from skewless.definitions import definition_hash, from_spec, kind_of
from skewless.errors import (
    DefinitionError,
    SchemaMismatchError,
)
from skewless.types import Float64, Int64, String

T0 = datetime(2024, 3, 1, tzinfo=UTC)
US_UTC = pa.timestamp("us", tz="UTC")
USER = Entity(name="user", join_keys=["user_id"])
DAY = timedelta(days=1)
WEEK = timedelta(days=7)


def d(days: float, micros: int = 0) -> datetime:
    return T0 + timedelta(days=days, microseconds=micros)


def write_events(root: Path, rows: list[dict[str, Any]], name: str = "events.parquet") -> None:
    columns = {
        "user_id": pa.int64(),
        "ts": US_UTC,
        "amount": pa.float64(),
        "cat": pa.string(),
        "txn": pa.int64(),
    }
    table = pa.table({c: pa.array([r.get(c) for r in rows], t) for c, t in columns.items()})
    pq.write_table(table, root / name)


def view(*aggs: Aggregation, event_id: str = "", **kw: Any) -> BatchFeatureView:
    return BatchFeatureView(
        name="txns",
        entities=[USER],
        source=FileSource(path="events.parquet", timestamp_field="ts"),
        schema=[Field(name="amount", dtype=Float64), Field(name="cat", dtype=String)],
        aggregations=list(aggs),
        event_id=event_id,
        **kw,
    )


def run(
    engine_factory: EngineFactory,
    root: Path,
    fv: BatchFeatureView,
    entities: list[tuple[int | None, datetime]],
) -> list[dict[str, Any]]:
    frame = pa.table(
        {
            "user_id": pa.array([e[0] for e in entities], pa.int64()),
            "event_timestamp": pa.array([e[1] for e in entities], US_UTC),
        }
    )
    engine = engine_factory(root)
    try:
        names = fv.feature_names
        table = engine.historical(frame, [ViewRequest(fv, names, names)]).to_arrow()
    finally:
        engine.close()
    return [{k: r[k] for k in names} for r in table.to_pylist()]


# -- naming and definitions ---------------------------------------------------------------
@pytest.mark.parametrize(
    ("window", "label"),
    [
        (timedelta(minutes=30), "30m"),
        (timedelta(hours=1), "1h"),
        (timedelta(minutes=90), "90m"),
        (timedelta(hours=36), "36h"),
        (timedelta(days=7), "7d"),
        (timedelta(days=90), "90d"),
        (timedelta(seconds=45), "45s"),
        (None, "lifetime"),
    ],
)
def test_default_names_write_the_window_in_its_largest_whole_unit(
    window: timedelta | None, label: str
) -> None:
    agg = Aggregation(column="amount", function="mean", time_window=window)
    assert agg.name == f"mean_amount_{label}"


def test_feature_names_and_types_are_derived() -> None:
    fv = view(
        Aggregation(column="amount", function="count", time_window=WEEK),
        Aggregation(column="cat", function="count_distinct", time_window=WEEK),
        Aggregation(column="amount", function="sum", time_window=WEEK),
        Aggregation(column="amount", function="mean", time_window=WEEK, name="avg7"),
        Aggregation(column="amount", function="std", time_window=None),
        Aggregation(column="amount", function="max", time_window=DAY),
        Aggregation(column="cat", function="last", time_window=DAY),
    )
    assert fv.feature_names == (
        "count_amount_7d",
        "count_distinct_cat_7d",
        "sum_amount_7d",
        "avg7",
        "std_amount_lifetime",
        "max_amount_1d",
        "last_cat_1d",
    )
    assert [str(f.dtype) for f in fv.features] == [
        "Int64",
        "Int64",
        "Float64",
        "Float64",
        "Float64",
        "Float64",
        "String",
    ]
    assert fv[["avg7"]].refs == ["txns:avg7"]


def test_spec_round_trip_and_hash() -> None:
    fv = view(
        Aggregation(column="amount", function="mean", time_window=WEEK),
        Aggregation(column="cat", function="last", time_window=None, name="last_cat"),
        event_id="txn",
        ttl=DAY,
        tags={"team": "risk"},
    )
    assert kind_of(fv) == "feature_view"
    back = from_spec("feature_view", fv.to_spec())
    assert isinstance(back, BatchFeatureView)
    assert back == fv and back.to_spec() == fv.to_spec()
    assert FeatureView.from_spec(fv.to_spec()) == fv
    changed = view(
        Aggregation(column="amount", function="mean", time_window=timedelta(days=6)),
        Aggregation(column="cat", function="last", time_window=None, name="last_cat"),
        event_id="txn",
        ttl=DAY,
        tags={"team": "risk"},
    )
    assert definition_hash(changed.to_spec()) != definition_hash(fv.to_spec())
    assert changed.data_spec() != fv.data_spec()


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: Aggregation(column="amount", function="median"), "unknown function"),
        (
            lambda: Aggregation(column="amount", function="sum", time_window=timedelta(0)),
            "not positive",
        ),
        (
            lambda: Aggregation(column="amount", function="sum", time_window=-DAY),
            "not positive",
        ),
        (lambda: view(Aggregation(column="price", function="sum")), "does not declare"),
        (lambda: view(Aggregation(column="cat", function="mean")), "needs a numeric column"),
        (lambda: view(Aggregation(column="user_id", function="count")), "join key"),
        (lambda: view(), "no aggregations"),
        (lambda: Aggregation(column="amount", function="share_above"), "numeric threshold"),
        (
            lambda: Aggregation(column="amount", function="share_above", threshold=float("nan")),
            "not finite",
        ),
        (
            lambda: Aggregation(column="amount", function="sum", threshold=1.0),
            "takes no threshold",
        ),
        (
            lambda: view(Aggregation(column="cat", function="share_above", threshold=1)),
            "needs a numeric column",
        ),
        (
            lambda: view(
                Aggregation(column="amount", function="sum", name="x"),
                Aggregation(column="amount", function="max", name="x"),
            ),
            "several aggregations named",
        ),
    ],
)
def test_bad_definitions_fail_when_built(make: Any, message: str) -> None:
    with pytest.raises(DefinitionError, match=message):
        make()


def test_share_above_names_and_round_trips() -> None:
    agg = Aggregation(column="amount", function="share_above", threshold=0.5, time_window=DAY)
    assert agg.name == "share_above_0p5_amount_1d"
    assert Aggregation.from_spec(agg.to_spec()) == agg
    negative = Aggregation(column="amount", function="share_above", threshold=-2)
    assert negative.name == "share_above_m2_amount_lifetime"
    assert negative.threshold == -2.0


# -- boundaries ---------------------------------------------------------------------------
def test_window_is_left_open_and_right_closed(
    engine_factory: EngineFactory, tmp_path: Path
) -> None:
    write_events(
        tmp_path,
        [
            {"user_id": 1, "ts": d(0), "amount": 1.0},  # exactly t - w at t = d(1): excluded
            {"user_id": 1, "ts": d(0, 1), "amount": 2.0},  # a microsecond inside
            {"user_id": 1, "ts": d(1), "amount": 4.0},  # exactly t: included
            {"user_id": 1, "ts": d(1, 1), "amount": 8.0},  # after t: never
        ],
    )
    fv = view(
        Aggregation(column="amount", function="sum", time_window=DAY),
        Aggregation(column="amount", function="count", time_window=DAY),
        Aggregation(column="amount", function="sum", time_window=None),
    )
    got = run(engine_factory, tmp_path, fv, [(1, d(1)), (1, d(0)), (1, d(0, -1))])
    assert got == [
        {"sum_amount_1d": 6.0, "count_amount_1d": 2, "sum_amount_lifetime": 7.0},
        {"sum_amount_1d": 1.0, "count_amount_1d": 1, "sum_amount_lifetime": 1.0},
        {"sum_amount_1d": None, "count_amount_1d": 0, "sum_amount_lifetime": None},
    ]


def test_nulls_empty_windows_and_unknown_keys(
    engine_factory: EngineFactory, tmp_path: Path
) -> None:
    write_events(
        tmp_path,
        [
            {"user_id": 1, "ts": d(0), "amount": 3.0, "cat": "a"},
            {"user_id": 1, "ts": d(0.5), "amount": None, "cat": None},
            {"user_id": 1, "ts": None, "amount": 100.0, "cat": "z"},  # no time: ignored
            {"user_id": None, "ts": d(0), "amount": 100.0, "cat": "z"},  # no key: ignored
        ],
    )
    functions = ("count", "count_distinct", "sum", "mean", "min", "max", "std", "last")
    aggs = [
        Aggregation(column="cat" if f == "count_distinct" else "amount", function=f, name=f)
        for f in functions
    ]
    fv = view(*aggs)
    got = run(engine_factory, tmp_path, fv, [(1, d(1)), (2, d(1)), (None, d(1)), (1, d(-1))])
    one = {
        "count": 1,
        "count_distinct": 1,
        "sum": 3.0,
        "mean": 3.0,
        "min": 3.0,
        "max": 3.0,
        "std": None,  # fewer than two values
        "last": 3.0,  # the later row's value is null: the last non-null value wins
    }
    empty = {f: None for f in functions} | {"count": 0, "count_distinct": 0}
    assert got == [one, empty, empty, empty]


def test_duplicates_count_unless_an_event_id_dedupes_them(
    engine_factory: EngineFactory, tmp_path: Path
) -> None:
    rows = [
        {"user_id": 1, "ts": d(0), "amount": 5.0, "txn": 7},
        {"user_id": 1, "ts": d(0), "amount": 5.0, "txn": 7},  # re-delivered
        {"user_id": 1, "ts": d(0.2), "amount": 1.0, "txn": None},
        {"user_id": 1, "ts": d(0.2), "amount": 1.0, "txn": None},  # no id: both count
    ]
    write_events(tmp_path, rows)
    aggs = (
        Aggregation(column="amount", function="count", time_window=DAY),
        Aggregation(column="amount", function="sum", time_window=DAY),
    )
    plain = run(engine_factory, tmp_path, view(*aggs), [(1, d(0.5))])
    deduped = run(engine_factory, tmp_path, view(*aggs, event_id="txn"), [(1, d(0.5))])
    assert plain == [{"count_amount_1d": 4, "sum_amount_1d": 12.0}]
    assert deduped == [{"count_amount_1d": 3, "sum_amount_1d": 7.0}]


def test_last_and_min_max_over_several_windows(
    engine_factory: EngineFactory, tmp_path: Path
) -> None:
    write_events(
        tmp_path,
        [
            {"user_id": 1, "ts": d(0), "amount": 10.0, "cat": "old"},
            {"user_id": 1, "ts": d(6), "amount": -1.0, "cat": "mid"},
            {"user_id": 1, "ts": d(6.5), "amount": 4.0, "cat": "new"},
            {"user_id": 1, "ts": d(6.5), "amount": 2.0, "cat": "tie"},  # later in the file
        ],
    )
    fv = view(
        Aggregation(column="cat", function="last", time_window=DAY),
        Aggregation(column="amount", function="min", time_window=WEEK),
        Aggregation(column="amount", function="max", time_window=timedelta(days=30)),
        Aggregation(column="amount", function="mean", time_window=timedelta(hours=12)),
        Aggregation(column="amount", function="mean", time_window=timedelta(hours=13)),
    )
    got = run(engine_factory, tmp_path, fv, [(1, d(7)), (1, d(0))])
    assert got == [
        {
            "last_cat_1d": "tie",
            "min_amount_7d": -1.0,
            "max_amount_30d": 10.0,  # d(0) is exactly 7 days before: outside the 7d only
            "mean_amount_12h": None,  # d(6.5) is exactly 12 hours before
            "mean_amount_13h": 3.0,
        },
        {
            "last_cat_1d": "old",
            "min_amount_7d": 10.0,
            "max_amount_30d": 10.0,
            "mean_amount_12h": 10.0,
            "mean_amount_13h": 10.0,
        },
    ]


def test_compound_keys(engine_factory: EngineFactory, tmp_path: Path) -> None:
    table = pa.table(
        {
            "user_id": pa.array([1, 1, 1], pa.int64()),
            "shop": pa.array(["a", "b", "a"]),
            "ts": pa.array([d(0.5), d(0.5), d(0.6)], US_UTC),
            "amount": pa.array([1.0, 10.0, 2.0]),
        }
    )
    pq.write_table(table, tmp_path / "events.parquet")
    fv = BatchFeatureView(
        name="txns",
        entities=[USER, Entity(name="shop", join_keys=["shop"])],
        source=FileSource(path="events.parquet", timestamp_field="ts"),
        schema=[Field(name="amount", dtype=Float64)],
        aggregations=[Aggregation(column="amount", function="sum", time_window=DAY)],
    )
    frame = pa.table(
        {
            "user_id": pa.array([1, 1, 1], pa.int64()),
            "shop": pa.array(["a", "b", "c"]),
            "event_timestamp": pa.array([d(1), d(1), d(1)], US_UTC),
        }
    )
    engine = engine_factory(tmp_path)
    try:
        got = engine.historical(frame, [ViewRequest(fv, ("sum_amount_1d",), ("s",))]).to_arrow()
    finally:
        engine.close()
    assert got.column("s").to_pylist() == [3.0, 10.0, None]


# -- through the store --------------------------------------------------------------------
@pytest.fixture
def store(tmp_path: Path) -> Iterator[FeatureStore]:
    write_events(
        tmp_path,
        [
            {"user_id": 1, "ts": d(0), "amount": 2.0},
            {"user_id": 1, "ts": d(1), "amount": 4.0},
            {"user_id": 2, "ts": d(1), "amount": 9.0},
        ],
    )
    pq.write_table(
        pa.table(
            {
                "user_id": pa.array([1, 2], pa.int64()),
                "ts": pa.array([d(0), d(0)], US_UTC),
                "tier": pa.array(["gold", "silver"]),
            }
        ),
        tmp_path / "profile.parquet",
    )
    config = RepoConfig(
        project="shop",
        registry={"path": str(tmp_path / "registry.db")},
        online_store={"type": "sqlite", "path": str(tmp_path / "online.db")},
        repo_path=tmp_path,
    )
    made = FeatureStore(config=config)
    yield made
    made.close()


PROFILE = FeatureView(
    name="profile",
    entities=[USER],
    schema=[Field(name="tier", dtype=String)],
    source=FileSource(path="profile.parquet", timestamp_field="ts"),
)


def test_store_serves_aggregations_with_plain_views(store: FeatureStore) -> None:
    txns = view(
        Aggregation(column="amount", function="mean", time_window=WEEK),
        Aggregation(column="amount", function="count", time_window=DAY),
    )
    service = FeatureService(name="model", features=[txns[["mean_amount_7d"]], PROFILE])
    store.apply([USER, txns, PROFILE, service])
    assert store.get_feature_view("txns") == txns  # rebuilt from the registry as it was
    assert store.plan([USER, txns, PROFILE, service]).is_empty
    changed = view(
        Aggregation(column="amount", function="mean", time_window=WEEK),
        Aggregation(column="amount", function="count", time_window=timedelta(hours=12)),
    )
    plan = store.plan([changed])
    assert [(c.name, c.changed_fields) for c in plan.changes] == [("txns", ("aggregations",))]
    assert plan.changes[0].resets_online
    frame = pa.table(
        {
            "user_id": pa.array([2, 1, 1, 3], pa.int64()),
            "event_timestamp": pa.array([d(2), d(1), d(1), d(1)], US_UTC),
            "label": pa.array([1, 0, 0, 1], pa.int64()),
        }
    )
    got = store.get_historical_features(
        frame, ["txns:mean_amount_7d", "profile:tier", "txns:count_amount_1d"]
    ).to_arrow()
    assert got.column_names == [
        "user_id",
        "event_timestamp",
        "label",
        "mean_amount_7d",
        "count_amount_1d",
        "tier",
    ]
    assert got.column("mean_amount_7d").to_pylist() == [9.0, 3.0, 3.0, None]
    assert got.column("count_amount_1d").to_pylist() == [0, 1, 1, 0]  # d(1) is 1d before d(2)
    assert got.column("tier").to_pylist() == ["silver", "gold", "gold", None]
    out = store.repo_path / "training.parquet"
    store.get_historical_features(
        frame, ["txns:mean_amount_7d", "profile:tier", "txns:count_amount_1d"]
    ).to_parquet(out)
    assert pq.read_table(out).to_pylist() == got.to_pylist()
    by_service = store.get_historical_features(frame, store.get_feature_service("model"))
    assert by_service.to_arrow().column("mean_amount_7d").to_pylist() == [9.0, 3.0, 3.0, None]

    # Online, the same definitions serve the values at the store's clock.
    store.materialize(d(0) - timedelta(days=30), store.now())
    refs = ["txns:mean_amount_7d", "txns:count_amount_1d", "profile:tier"]
    online = store.get_online_features(refs, [{"user_id": u} for u in (1, 2, 3)]).to_dict()
    at_now = pa.table(
        {
            "user_id": pa.array([1, 2, 3], pa.int64()),
            "event_timestamp": pa.array([store.now()] * 3, US_UTC),
        }
    )
    offline = store.get_historical_features(at_now, refs).to_arrow().to_pydict()
    for name in ("mean_amount_7d", "count_amount_1d", "tier"):
        assert online[name] == offline[name], name


def test_plan_time_checks_against_the_source(store: FeatureStore) -> None:
    missing = BatchFeatureView(
        name="txns",
        entities=[USER],
        source=FileSource(path="events.parquet", timestamp_field="ts"),
        schema=[Field(name="price", dtype=Float64)],
        aggregations=[Aggregation(column="price", function="sum", time_window=DAY)],
    )
    with pytest.raises(SchemaMismatchError, match="aggregated column 'price'"):
        store.apply([USER, missing])
    not_numeric = BatchFeatureView(
        name="txns",
        entities=[USER],
        source=FileSource(path="events.parquet", timestamp_field="ts"),
        schema=[Field(name="cat", dtype=Int64)],
        aggregations=[Aggregation(column="cat", function="mean", time_window=DAY)],
    )
    with pytest.raises(SchemaMismatchError, match="'cat'"):
        store.apply([USER, not_numeric])
    no_event_id = view(Aggregation(column="amount", function="sum"), event_id="event_uuid")
    with pytest.raises(SchemaMismatchError, match="event_id column 'event_uuid'"):
        store.apply([USER, no_event_id])


def test_csv_source_with_mapped_columns(engine_factory: EngineFactory, tmp_path: Path) -> None:
    (tmp_path / "events.csv").write_text(
        "uid,when,amt\n1,2024-03-01T00:00:00Z,1.5\n1,2024-03-01T12:00:00Z,\n1,2024-03-02T00:00:00Z,4\n"
    )
    fv = BatchFeatureView(
        name="txns",
        entities=[USER],
        source=FileSource(
            path="events.csv",
            timestamp_field="when",
            field_mapping={"uid": "user_id", "amt": "amount"},
        ),
        schema=[Field(name="amount", dtype=Float64)],
        aggregations=[
            Aggregation(column="amount", function="sum", time_window=DAY),
            Aggregation(column="amount", function="count", time_window=None),
        ],
    )
    got = run(engine_factory, tmp_path, fv, [(1, d(1)), (1, d(0.75))])
    assert got == [
        {"sum_amount_1d": 4.0, "count_amount_lifetime": 2},
        {"sum_amount_1d": 1.5, "count_amount_lifetime": 1},
    ]
