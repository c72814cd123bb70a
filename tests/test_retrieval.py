"""``get_historical_features``: entity frames of every kind, checks before work, the job."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from skewless import Entity, FeatureService, FeatureView, Field, FileSource
from skewless.config import DuckDBOfflineConfig
from skewless.errors import EntityFrameError, FeatureNotFoundError
from skewless.offline.duckdb.engine import DuckDBEngine
from skewless.registry.snapshot import RegistrySnapshot
from skewless.retrieval import RetrievalJob, get_historical_features
from skewless.types import Float64, Int64, String

T0 = datetime(2024, 3, 1, tzinfo=UTC)
US_UTC = pa.timestamp("us", tz="UTC")
user = Entity(name="user", join_keys=["user_id"])
stats = FeatureView(
    name="stats",
    entities=[user],
    ttl=timedelta(hours=1),
    schema=[Field(name="score", dtype=Int64), Field(name="label", dtype=String)],
    source=FileSource(path="stats.parquet", timestamp_field="ts"),
)
other = FeatureView(
    name="other",
    entities=[user],
    schema=[Field(name="score", dtype=Int64), Field(name="amount", dtype=Float64)],
    source=FileSource(path="missing/other.parquet", timestamp_field="ts"),
)
SNAPSHOT = RegistrySnapshot(
    project="shop",
    feature_views={"stats": stats, "other": other},
    feature_services={"model": FeatureService(name="model", features=[stats[["label"]]])},
)


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[DuckDBEngine]:
    pq.write_table(
        pa.table(
            {
                "user_id": pa.array([1, 2, 2], pa.int64()),
                "ts": pa.array([T0, T0, T0 + timedelta(minutes=5)], US_UTC),
                "score": pa.array([10, 20, None], pa.int64()),
                "label": pa.array(["a", "b", "c"]),
            }
        ),
        tmp_path / "stats.parquet",
    )
    made = DuckDBEngine(DuckDBOfflineConfig(), tmp_path)
    yield made
    made.close()


def frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "user_id": [2, 1, 3, 2],
            "event_timestamp": pd.to_datetime(
                [T0 + timedelta(minutes=m) for m in (10, 10, 10, 1)], utc=True
            ),
            "note": ["w", "x", "y", "z"],
        }
    )


def fetch(engine: DuckDBEngine, entity_df, features=("stats:score",), full=False) -> RetrievalJob:
    return get_historical_features(engine, SNAPSHOT, entity_df, list(features), full)


EXPECTED_SCORES = [None, 10, None, 20]


@pytest.mark.parametrize("kind", ["pandas", "arrow", "polars", "parquet", "parquet_str"])
def test_every_kind_of_entity_frame_gives_the_same_result(
    engine: DuckDBEngine, tmp_path: Path, kind: str
) -> None:
    df = frame()
    df.to_parquet(tmp_path / "e.parquet")
    inputs = {
        "pandas": lambda: df,
        "arrow": lambda: pa.Table.from_pandas(df),
        "polars": lambda: pl.from_pandas(df),
        "parquet": lambda: tmp_path / "e.parquet",
        "parquet_str": lambda: str(tmp_path / "e.parquet"),
    }
    out = fetch(engine, inputs[kind]()).to_arrow()
    assert out.column_names == ["user_id", "event_timestamp", "note", "score"]
    assert out.column("score").to_pylist() == EXPECTED_SCORES
    assert out.column("note").to_pylist() == ["w", "x", "y", "z"]
    assert out.schema.field("event_timestamp").type == US_UTC


def test_int_with_nulls_stays_int_in_arrow_and_is_float64_in_pandas(engine: DuckDBEngine) -> None:
    job = fetch(engine, frame())
    assert job.to_arrow().schema.field("score").type == pa.int64()
    df = job.to_df()
    assert df["score"].dtype == np.float64
    assert df["score"].isna().tolist() == [True, False, True, False]
    assert str(df["event_timestamp"].dt.tz) == "UTC"


def test_to_polars_and_to_parquet(engine: DuckDBEngine, tmp_path: Path) -> None:
    job = fetch(engine, frame(), ["stats:score", "stats:label"])
    job.to_parquet(tmp_path / "engine.parquet")  # written by the engine, nothing computed yet
    out = job.to_arrow()
    job.to_parquet(tmp_path / "cached.parquet")  # written from the kept result
    for name in ("engine.parquet", "cached.parquet"):
        assert pq.read_table(tmp_path / name).cast(out.schema).equals(out)
    polars = job.to_polars()
    assert polars["score"].dtype == pl.Int64
    assert polars["label"].to_list() == ["c", "a", None, "b"]


def test_the_result_is_computed_once(engine: DuckDBEngine) -> None:
    job = fetch(engine, frame())
    assert job.to_arrow() is job.to_arrow()


def test_metadata_and_feature_service(engine: DuckDBEngine) -> None:
    job = get_historical_features(engine, SNAPSHOT, frame(), SNAPSHOT.feature_services["model"])
    assert job.to_arrow().column_names[-1] == "label"
    meta = job.metadata
    assert meta.feature_refs == ("stats:label",)
    assert meta.feature_views == ("stats",)
    assert meta.join_keys == ("user_id",)
    assert meta.entity_columns == ("user_id", "event_timestamp", "note")
    assert meta.min_event_timestamp == T0 + timedelta(minutes=1)
    assert meta.max_event_timestamp == T0 + timedelta(minutes=10)
    by_name = get_historical_features(engine, SNAPSHOT, frame(), "model")
    assert by_name.to_arrow().equals(job.to_arrow())


def test_full_feature_names(engine: DuckDBEngine) -> None:
    out = fetch(engine, frame(), ["stats:score", "stats:label"], full=True).to_arrow()
    assert out.column_names[-2:] == ["stats__score", "stats__label"]


def test_a_name_clash_needs_full_feature_names(engine: DuckDBEngine) -> None:
    with pytest.raises(FeatureNotFoundError, match="full_feature_names=True"):
        fetch(engine, frame(), ["stats:score", "other:score"])


@pytest.mark.parametrize(
    ("refs", "message"),
    [(["nope:score"], "stats"), (["stats:nope"], "score, label"), (["stats"], "view:feature")],
)
def test_unknown_views_and_features_list_what_exists(
    engine: DuckDBEngine, refs: list[str], message: str
) -> None:
    with pytest.raises(FeatureNotFoundError, match=message):
        fetch(engine, frame(), refs)


def test_missing_join_key_is_named_with_the_columns_the_frame_has(engine: DuckDBEngine) -> None:
    # The "other" view's source does not exist: the frame is checked before any source is read.
    df = frame().drop(columns=["user_id"])
    with pytest.raises(EntityFrameError, match=r"'user_id'.*it has: event_timestamp, note"):
        fetch(engine, df, ["other:amount"])


def test_missing_event_timestamp(engine: DuckDBEngine) -> None:
    df = frame().rename(columns={"event_timestamp": "ts"})
    with pytest.raises(EntityFrameError, match=r"no 'event_timestamp' column.*user_id, ts, note"):
        fetch(engine, df)


def test_null_event_timestamps_are_counted(engine: DuckDBEngine) -> None:
    df = frame()
    df.loc[[1, 3], "event_timestamp"] = pd.NaT
    with pytest.raises(EntityFrameError, match=r"null in 2 of 4 entity rows.*row 1"):
        fetch(engine, df)


def test_a_non_time_event_timestamp_is_an_error(engine: DuckDBEngine) -> None:
    df = frame().assign(event_timestamp=[1, 2, 3, 4])
    with pytest.raises(EntityFrameError, match="int64, not timestamps"):
        fetch(engine, df)


@pytest.mark.parametrize(
    "texts",
    [
        ["2024-03-01T00:10:00Z", "2024-03-01T01:10:00+01:00", "2024-03-01T00:10:00Z",
         "2024-03-01T00:01:00+00:00"],
        ["2024-03-01T00:10:00", "2024-03-01 00:10:00", "2024-03-01T00:10:00",
         "2024-03-01T00:01:00"],
    ],
)  # fmt: skip
def test_iso_text_times_are_parsed(engine: DuckDBEngine, texts: list[str]) -> None:
    df = frame().assign(event_timestamp=texts)
    out = fetch(engine, df).to_arrow()
    assert out.column("score").to_pylist() == EXPECTED_SCORES
    assert out.column("event_timestamp")[3].as_py() == T0 + timedelta(minutes=1)


def test_unparsable_or_mixed_text_times_are_an_error(engine: DuckDBEngine) -> None:
    df = frame().assign(event_timestamp=["2024-03-01T00:10:00Z", "2024-03-01", "x", "y"])
    with pytest.raises(EntityFrameError, match="ISO-8601"):
        fetch(engine, df)


def test_entity_column_with_a_feature_name_is_an_error(engine: DuckDBEngine) -> None:
    with pytest.raises(EntityFrameError, match="full_feature_names=True"):
        fetch(engine, frame().assign(score=1))


@pytest.mark.parametrize("bad", [[1, 2], {"user_id": [1]}, "no/such/file.parquet"])
def test_unsupported_or_missing_entity_frames(engine: DuckDBEngine, bad: object) -> None:
    with pytest.raises(EntityFrameError):
        fetch(engine, bad)
