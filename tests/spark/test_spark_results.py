"""Spark-only surfaces: DataFrames out, Parquet written by the executors, URI sources and
sources the cluster cannot read."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from offline_data import at, entity_frame, make_view, request, source_types, write_parquet

from skewless import Entity, FeatureStore, FeatureView, Field, FileSource, on_demand_feature_view
from skewless.config import RepoConfig
from skewless.errors import ConfigError, SourceNotFoundError
from skewless.offline.spark.engine import SparkEngine
from skewless.types import Float32, Float64, Int32, Int64, String

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

pytestmark = pytest.mark.slow

US_UTC = pa.timestamp("us", tz="UTC")
FEATURES = {"score": Int32, "label": String, "ratio": Float32}
TYPES = {**source_types({"user_id": pa.int64()}, FEATURES), "score": pa.int64()}
ENTITY = {"user_id": pa.int64(), "event_timestamp": US_UTC, "note": pa.string()}


@pytest.fixture
def engine(spark: SparkSession, tmp_path: Path) -> Iterator[SparkEngine]:
    made = SparkEngine.from_session(spark, tmp_path)
    yield made
    made.close()


def _history(root: Path) -> None:
    write_parquet(
        root / "s.parquet",
        [
            {"user_id": u % 5, "ts": at(u), "score": u, "label": str(u), "ratio": u / 4}
            for u in range(40)
        ],
        TYPES,
    )


def _entities() -> pa.Table:
    rows = [{"user_id": u % 7, "event_timestamp": at(u), "note": f"n{u}"} for u in range(45, 0, -1)]
    return entity_frame(rows + rows[:3], ENTITY)  # duplicates kept


def test_to_spark_df_is_the_retrieval_in_entity_order(engine: SparkEngine, tmp_path: Path) -> None:
    _history(tmp_path)
    view = make_view("v", "s.parquet", features=FEATURES, ttl=timedelta(minutes=6))
    result = engine.historical(_entities(), [request(view)])
    frame = result.to_spark_df()
    assert type(frame).__name__ == "DataFrame"
    assert frame.columns == ["user_id", "event_timestamp", "note", "score", "label", "ratio"]
    assert [f.dataType.simpleString() for f in frame.schema.fields[3:]] == [
        "int",
        "string",
        "float",
    ]
    expected = result.to_arrow()
    assert frame.toArrow().cast(expected.schema).equals(expected)


def test_to_parquet_writes_one_file_and_replaces_an_old_one(
    engine: SparkEngine, tmp_path: Path
) -> None:
    _history(tmp_path)
    view = make_view("v", "s.parquet", features=FEATURES, ttl=timedelta(minutes=6))
    result = engine.historical(_entities(), [request(view)])
    target = tmp_path / "out" / "train.parquet"
    target.parent.mkdir()
    target.write_bytes(b"old")
    result.to_parquet(target)
    assert sorted(p.name for p in target.parent.iterdir()) == ["train.parquet"]
    written = pq.read_table(target)
    expected = result.to_arrow()
    assert written.schema.field("event_timestamp").type == US_UTC
    assert written.schema.field("score").type == pa.int32()
    assert written.cast(expected.schema).equals(expected)
    uri = (tmp_path / "out" / "again.parquet").as_uri()
    result.to_parquet(uri)
    assert pq.read_table(tmp_path / "out" / "again.parquet").cast(expected.schema).equals(expected)


def test_latest_per_key_frame_has_the_batch_layout(engine: SparkEngine, tmp_path: Path) -> None:
    _history(tmp_path)
    view = make_view("v", "s.parquet", features=FEATURES)
    frame = engine.latest_per_key_frame(view, at(0), at(30))
    assert frame.columns == ["user_id", "__event_ts", "__created_ts", "score", "label", "ratio"]
    assert [f.dataType.simpleString() for f in frame.schema.fields] == [
        "bigint",
        "timestamp",
        "timestamp",
        "int",
        "string",
        "float",
    ]
    batches = list(engine.latest_per_key(view, at(0), at(30), batch_rows=2))
    assert all(b.num_rows <= 2 for b in batches)
    streamed = pa.Table.from_batches(batches).sort_by("user_id")
    assert streamed.equals(
        pa.Table.from_batches([b for b in frame.toArrow().to_batches()])
        .cast(streamed.schema)
        .sort_by("user_id")
    )
    assert streamed.column("score").to_pylist() == [30, 26, 27, 28, 29]


def test_a_uri_source_goes_to_spark_as_it_is(engine: SparkEngine, tmp_path: Path) -> None:
    tie = {"user_id": 1, "ts": at(0), "created": at(1)}
    write_parquet(tmp_path / "d" / "b.parquet", [{**tie, "score": 2}], TYPES)
    write_parquet(tmp_path / "d" / "a b.parquet", [{**tie, "score": 1}], TYPES)  # space sorts first
    view = make_view("v", (tmp_path / "d").as_uri(), features=FEATURES)
    frame = entity_frame([{"user_id": 1, "event_timestamp": at(5), "note": ""}], ENTITY)
    out = engine.historical(frame, [request(view)]).to_arrow()
    assert out.column("score").to_pylist() == [2]  # full tie: the later path wins


def test_a_source_the_cluster_cannot_read_names_the_path(
    engine: SparkEngine, tmp_path: Path
) -> None:
    missing = (tmp_path / "nowhere" / "events").as_uri()
    view = make_view("v", missing, features=FEATURES)
    with pytest.raises(SourceNotFoundError, match=r"nowhere/events.*can read it"):
        engine.source_schema(view)
    with pytest.raises(SourceNotFoundError, match=r"nowhere/events"):
        engine.historical(entity_frame([], ENTITY), [request(view)])
    with pytest.raises(SourceNotFoundError, match=r"nowhere/events"):
        engine.latest_per_key(view, None, at(0))


def test_feature_store_on_spark_matches_duckdb(spark: SparkSession, tmp_path: Path) -> None:
    _history(tmp_path)
    user = Entity(name="user", join_keys=["user_id"])
    view = FeatureView(
        name="stats",
        entities=[user],
        ttl=timedelta(minutes=10),
        schema=[Field(name="score", dtype=Int64), Field(name="label", dtype=String)],
        source=FileSource(
            path="s.parquet", timestamp_field="ts", created_timestamp_column="created"
        ),
    )
    entities = _entities()
    results = {}
    for name, block in (("duckdb", {"type": "duckdb"}), ("spark", {"type": "spark"})):
        config = RepoConfig(
            project="p",
            registry={"path": str(tmp_path / f"{name}.db")},
            online_store={"type": "sqlite", "path": str(tmp_path / f"{name}-online.db")},
            offline_store=block,
            repo_path=tmp_path,
        )
        with FeatureStore(config=config, clock=lambda: at(100)) as store:
            store.apply([user, view])
            job = store.get_historical_features(entities, ["stats:score", "stats:label"])
            store.materialize(at(0), at(100))
            online = store.get_online_features(
                ["stats:score"], [{"user_id": u} for u in range(6)]
            ).to_dict()
            results[name] = (job.to_arrow(), online)
    assert results["spark"][0].equals(results["duckdb"][0])
    assert results["spark"][1] == results["duckdb"][1]
    assert spark.range(1).count() == 1  # the store's engine reused the session, left it open


def test_a_store_over_a_session_passed_in_gives_spark_frames(
    spark: SparkSession, tmp_path: Path
) -> None:
    """``FeatureStore(offline_engine=SparkEngine.from_session(...))``: the retrieval job gives a
    Spark DataFrame equal to its Arrow table, and closing the store leaves the session up."""
    _history(tmp_path)
    view = make_view("v", "s.parquet", features=FEATURES, ttl=timedelta(minutes=6))
    config = RepoConfig(
        project="p",
        registry={"path": str(tmp_path / "registry.db")},
        online_store={"type": "sqlite", "path": str(tmp_path / "online.db")},
        repo_path=tmp_path,
    )
    store = FeatureStore(config=config, offline_engine=SparkEngine.from_session(spark, tmp_path))
    try:
        store.apply([*view.entities, view])
        job = store.get_historical_features(_entities(), ["v:score", "v:label"])
        frame = job.to_spark_df()
        got = pa.Table.from_pandas(frame.toPandas(), preserve_index=False)
        want = job.to_arrow()
        assert got.column("score").to_pylist() == want.column("score").to_pylist()
        assert got.column("label").to_pylist() == want.column("label").to_pylist()
    finally:
        store.close()
    assert spark.range(1).count() == 1  # the session a user passed in is still running


def test_to_spark_df_needs_the_spark_engine(tmp_path: Path) -> None:
    _history(tmp_path)
    view = make_view("v", "s.parquet", features=FEATURES)
    config = RepoConfig(
        project="p",
        registry={"path": str(tmp_path / "registry.db")},
        online_store={"type": "sqlite", "path": str(tmp_path / "online.db")},
        repo_path=tmp_path,
    )
    with FeatureStore(config=config) as store:
        store.apply([*view.entities, view])
        job = store.get_historical_features(_entities(), ["v:score"])
        with pytest.raises(ConfigError, match="offline_store type spark"):
            job.to_spark_df()


@on_demand_feature_view(
    sources=[make_view("v", "s.parquet", features=FEATURES)[["score", "ratio"]]],
    schema=[Field(name="score_per_ratio", dtype=Float64)],
    mode="python",
)
def score_per_ratio(inputs: dict[str, list]) -> dict[str, list]:
    return {
        "score_per_ratio": [
            s / r if s is not None and r else None
            for s, r in zip(inputs["score"], inputs["ratio"], strict=True)
        ]
    }


def test_on_demand_features_over_spark_equal_duckdb(spark: SparkSession, tmp_path: Path) -> None:
    """An on-demand view over a plain view: the same values from Spark and DuckDB, and
    to_parquet writes them."""
    _history(tmp_path)
    view = make_view("v", "s.parquet", features=FEATURES)
    config = RepoConfig(
        project="p",
        registry={"path": str(tmp_path / "registry.db")},
        online_store={"type": "sqlite", "path": str(tmp_path / "online.db")},
        repo_path=tmp_path,
    )
    refs = ["v:label", "score_per_ratio:score_per_ratio"]
    with FeatureStore(config=config) as duck:
        duck.apply([*view.entities, view, score_per_ratio])
        want = duck.get_historical_features(_entities(), refs).to_arrow()
    spark_store = FeatureStore(
        config=config, offline_engine=SparkEngine.from_session(spark, tmp_path)
    )
    try:
        job = spark_store.get_historical_features(_entities(), refs)
        assert job.to_arrow().equals(want)
        job.to_parquet(tmp_path / "out.parquet")
        assert pq.read_table(tmp_path / "out.parquet").equals(want)
    finally:
        spark_store.close()
