"""Saved datasets on a real embedded store: save, read back, list, split, failures."""

from __future__ import annotations

import sqlite3
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from datasets_repo import REFS, T0, build, entity_frame, model

from skewless import FeatureStore
from skewless.datasets import (
    DATASETS_DIR,
    SavedDataset,
    entity_fingerprint,
)
from skewless.errors import (
    DefinitionError,
    RegistryConflictError,
    SkewlessError,
    TimeRangeError,
    UnknownObjectError,
)


@pytest.fixture
def store(tmp_path: Path) -> Any:
    made = build(tmp_path)
    yield made
    made.close()


def files(store: FeatureStore) -> list[str]:
    """Every file (temporary ones too) in the datasets directory but the profiles, each of
    which must sit beside its dataset's file (docs/monitoring.md, "Profiles")."""
    folder = Path(store.repo_path) / DATASETS_DIR
    names = sorted(p.name for p in folder.iterdir()) if folder.exists() else []
    profiles = [n for n in names if n.endswith(".profile.json")]
    data = [n for n in names if not n.endswith(".profile.json")]
    assert sorted(n.removesuffix(".profile.json") + ".parquet" for n in profiles) == sorted(
        n for n in data if n.endswith(".parquet")
    )
    return data


def test_save_and_read_back(store: FeatureStore) -> None:
    job = store.get_historical_features(entity_frame(), REFS)
    saved = job.save_dataset("train", description="first model")
    assert saved.path.is_absolute() and saved.path.exists()
    assert saved.path.parent == (Path(store.repo_path) / DATASETS_DIR).resolve()
    assert saved.to_arrow().equals(job.to_arrow())
    assert saved.feature_refs == tuple(REFS)
    _, records = store.registry.records()
    assert saved.feature_versions == {
        "stats": records[("feature_view", "stats")].hash,
        "derived": records[("on_demand_feature_view", "derived")].hash,
    }
    assert saved.feature_service is None
    assert saved.rows == 24
    df = entity_frame()
    assert saved.start == df["event_timestamp"].min().to_pydatetime()
    assert saved.end == df["event_timestamp"].max().to_pydatetime()
    assert saved.entity_columns == ("user_id", "event_timestamp", "note")
    assert saved.columns == {
        "user_id": "Int64",
        "event_timestamp": "UnixTimestamp",
        "note": "String",
        "score": "Float64",
        "clicks": "Int64",
        "label": "String",
        "active": "Bool",
        "double_score": "Float64",
    }
    assert saved.created_at == store.now()
    assert saved.parent is None and saved.split is None
    assert saved.description == "first model"
    again = store.get_dataset("train")
    assert again == saved
    assert list(again.columns) == list(saved.columns)  # column order survives the registry
    assert [d.name for d in store.list_datasets()] == ["train"]
    pd.testing.assert_frame_equal(again.to_df(), job.to_df())


def test_stats_match_pandas(store: FeatureStore) -> None:
    saved = store.get_historical_features(entity_frame(), REFS).save_dataset("train")
    df = saved.to_df()
    score = saved.stats["score"]
    assert score["kind"] == "numeric"
    assert score["count"] == df["score"].count()
    assert score["nulls"] == df["score"].isna().sum()
    assert score["mean"] == pytest.approx(df["score"].mean(), rel=1e-12)
    assert score["std"] == pytest.approx(df["score"].std(), rel=1e-12)
    assert (score["min"], score["max"]) == (df["score"].min(), df["score"].max())
    assert score["quantiles"]["0.5"] == pytest.approx(df["score"].quantile(0.5))
    assert sum(score["histogram"]["counts"]) == score["count"]
    assert len(score["histogram"]["edges"]) == 21
    label = saved.stats["label"]
    assert label["kind"] == "categorical"
    assert label["categories"] == df["label"].value_counts().to_dict()
    assert label["nulls"] == df["label"].isna().sum()
    active = saved.stats["active"]
    counts = df["active"].value_counts()
    assert active["categories"] == {str(k).lower(): int(v) for k, v in counts.items()}
    stamp = saved.stats["event_timestamp"]
    assert stamp["kind"] == "time" and stamp["min"] == saved.start.isoformat()
    assert isinstance(saved.stats["clicks"]["min"], int)


def test_feature_service_is_recorded(store: FeatureStore) -> None:
    by_object = store.get_historical_features(entity_frame(), model).save_dataset("a")
    by_name = store.get_historical_features(entity_frame(), "model").save_dataset("b")
    assert by_object.feature_service == by_name.feature_service == "model"
    assert by_object.feature_refs == ("stats:score", "stats:label", "derived:double_score")
    assert set(by_object.feature_versions) == {"stats", "derived"}


def test_fingerprint_is_the_entity_frames_and_order_sensitive(store: FeatureStore) -> None:
    df = entity_frame()
    first = store.get_historical_features(df, REFS).save_dataset("a")
    assert first.entity_fingerprint == entity_fingerprint(pa.Table.from_pandas(df))
    reordered_columns = df[["note", "event_timestamp", "user_id"]]
    second = store.get_historical_features(reordered_columns, REFS).save_dataset("b")
    assert second.entity_fingerprint == first.entity_fingerprint
    shuffled = df.iloc[::-1].reset_index(drop=True)
    third = store.get_historical_features(shuffled, REFS).save_dataset("c")
    assert third.entity_fingerprint != first.entity_fingerprint
    changed = df.assign(note=df["note"].where(df.index != 5, "other"))
    fourth = store.get_historical_features(changed, REFS).save_dataset("d")
    assert fourth.entity_fingerprint != first.entity_fingerprint


def test_existing_name_needs_overwrite(store: FeatureStore) -> None:
    job = store.get_historical_features(entity_frame(), REFS)
    first = job.save_dataset("train")
    with pytest.raises(RegistryConflictError, match=r"'train' already exists.*overwrite=True"):
        job.save_dataset("train")
    assert files(store) == [first.path.name]
    assert store.get_dataset("train") == first
    smaller = store.get_historical_features(entity_frame(6), REFS).save_dataset(
        "train", overwrite=True
    )
    assert smaller.rows == 6 and store.get_dataset("train").rows == 6
    assert files(store) == [smaller.path.name]  # the replaced file is gone


@pytest.mark.parametrize("name", ["", "a/b", "../x", ".hidden", "with space", "x" * 200])
def test_bad_names_are_refused(store: FeatureStore, name: str) -> None:
    job = store.get_historical_features(entity_frame(), REFS)
    with pytest.raises(DefinitionError, match="dataset name"):
        job.save_dataset(name)
    assert files(store) == []


def test_unknown_dataset_names_the_known_ones(store: FeatureStore) -> None:
    with pytest.raises(UnknownObjectError, match="none yet"):
        store.get_dataset("nope")
    store.get_historical_features(entity_frame(), REFS).save_dataset("train")
    with pytest.raises(UnknownObjectError, match=r"no dataset named 'nope' \(known: train\)"):
        store.get_dataset("nope")


def test_a_failed_record_leaves_no_file(store: FeatureStore, monkeypatch: Any) -> None:
    job = store.get_historical_features(entity_frame(), REFS)

    def broken(*args: Any, **kwargs: Any) -> None:
        assert files(store), "the file is written before the record"
        raise RuntimeError("registry went away")

    monkeypatch.setattr(store.registry, "put_dataset", broken)
    with pytest.raises(RuntimeError, match="went away"):
        job.save_dataset("train")
    monkeypatch.undo()
    assert files(store) == []
    assert store.list_datasets() == []


def test_a_failed_write_leaves_nothing(store: FeatureStore, monkeypatch: Any) -> None:
    import skewless.datasets as datasets

    job = store.get_historical_features(entity_frame(), REFS)

    def broken(*args: Any, **kwargs: Any) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(datasets.pq, "write_table", broken)
    with pytest.raises(OSError, match="disk full"):
        job.save_dataset("train")
    monkeypatch.undo()
    assert files(store) == []
    assert store.list_datasets() == []


def test_a_failed_overwrite_keeps_the_old_dataset(store: FeatureStore, monkeypatch: Any) -> None:
    job = store.get_historical_features(entity_frame(), REFS)
    first = job.save_dataset("train")

    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("registry went away")

    monkeypatch.setattr(store.registry, "put_dataset", broken)
    with pytest.raises(RuntimeError):
        store.get_historical_features(entity_frame(3), REFS).save_dataset("train", overwrite=True)
    monkeypatch.undo()
    assert store.get_dataset("train") == first
    assert files(store) == [first.path.name]
    assert first.to_arrow().num_rows == 24


def test_a_job_without_store_says_how_to_save(store: FeatureStore) -> None:
    from skewless.retrieval import get_historical_features

    job = get_historical_features(store.offline_engine, store.snapshot(), entity_frame(), REFS)
    with pytest.raises(SkewlessError, match="not made by a FeatureStore"):
        job.save_dataset("train")
    assert store.save_dataset(job, "train").rows == 24


def test_split_by_time(store: FeatureStore) -> None:
    parent = store.get_historical_features(entity_frame(), REFS).save_dataset("all")
    at = T0 + timedelta(days=5)
    train, holdout = store.split_dataset("all", at)
    assert (train.name, holdout.name) == ("all_train", "all_holdout")
    assert train.rows + holdout.rows == parent.rows
    assert train.end is not None and train.end < at
    assert holdout.start is not None and holdout.start >= at
    times = parent.to_arrow().column("event_timestamp")
    before = pc.less(times, pa.scalar(at, times.type))
    assert train.to_arrow().equals(parent.to_arrow().filter(before))
    assert holdout.to_arrow().equals(parent.to_arrow().filter(pc.invert(before)))
    for part, side in ((train, "before"), (holdout, "after")):
        assert part.parent == "all"
        assert part.split == {"at": at.isoformat(), "side": side}
        assert part.feature_refs == parent.feature_refs
        assert part.feature_versions == parent.feature_versions
        assert part.entity_columns == parent.entity_columns
        entity = part.to_arrow().select(list(part.entity_columns))
        assert part.entity_fingerprint == entity_fingerprint(entity)
        assert part.stats["score"]["count"] == part.to_df()["score"].count()
        assert store.get_dataset(part.name) == part
    assert [d.name for d in store.list_datasets()] == ["all", "all_holdout", "all_train"]


def test_split_names_and_errors(store: FeatureStore) -> None:
    store.get_historical_features(entity_frame(), REFS).save_dataset("all")
    a, b = store.split_dataset("all", "2024-03-04T00:00:00Z", names=["early", "late"])
    assert (a.name, b.name) == ("early", "late")
    with pytest.raises(RegistryConflictError, match=r"'early' already exists.*other names"):
        store.split_dataset("all", "2024-03-04", names=["early", "later"])
    with pytest.raises(TimeRangeError, match="no rows after"):
        store.split_dataset("all", "2030-01-01")
    with pytest.raises(TimeRangeError, match="no rows before"):
        store.split_dataset("all", "2020-01-01")
    with pytest.raises(TimeRangeError, match="not a time"):
        store.split_dataset("all", "tomorrow")
    with pytest.raises(DefinitionError, match="two different"):
        store.split_dataset("all", "2024-03-04", names=["x", "x"])
    with pytest.raises(UnknownObjectError, match="known: all, early, late"):
        store.split_dataset("nope", "2024-03-04")
    assert [d.name for d in store.list_datasets()] == ["all", "early", "late"]


def test_a_failed_split_saves_neither_side(store: FeatureStore, monkeypatch: Any) -> None:
    store.get_historical_features(entity_frame(), REFS).save_dataset("all")
    real = store.registry.put_dataset
    calls: list[str] = []

    def second_fails(name: str, spec: str, overwrite: bool = False) -> str | None:
        calls.append(name)
        if len(calls) == 2:
            raise RuntimeError("registry went away")
        return real(name, spec, overwrite)

    monkeypatch.setattr(store.registry, "put_dataset", second_fails)
    with pytest.raises(RuntimeError):
        store.split_dataset("all", T0 + timedelta(days=5))
    monkeypatch.undo()
    assert calls == ["all_train", "all_holdout"]
    assert [d.name for d in store.list_datasets()] == ["all"]
    assert files(store) == [store.get_dataset("all").path.name]


def test_the_table_is_made_by_the_first_save(tmp_path: Path) -> None:
    with build(tmp_path) as store:
        db = store.registry.location
    tables_sql = "SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'datasets'"
    with sqlite3.connect(db) as conn:
        assert conn.execute(tables_sql).fetchall() == []
    with FeatureStore(config=store.config, clock=store.now) as again:
        assert again.list_datasets() == []
        with pytest.raises(UnknownObjectError):
            again.get_dataset("train")
        job = again.get_historical_features(entity_frame(), REFS)
        assert job.save_dataset("train").rows == 24
        assert [d.name for d in again.list_datasets()] == ["train"]


def test_datasets_in_a_postgres_registry(tmp_path: Path, postgres_url: str) -> None:
    with build(tmp_path, registry_path=postgres_url) as store:
        saved = store.get_historical_features(entity_frame(), REFS).save_dataset("train")
        with pytest.raises(RegistryConflictError):
            store.get_historical_features(entity_frame(), REFS).save_dataset("train")
        train, holdout = store.split_dataset("train", T0 + timedelta(days=5))
    with build(tmp_path, registry_path=postgres_url) as other:
        assert other.get_dataset("train") == saved
        assert [d.name for d in other.list_datasets()] == ["train", "train_holdout", "train_train"]
        assert other.get_dataset("train_holdout") == holdout
        assert other.registry.delete_dataset("train_train") is True
        assert other.registry.delete_dataset("train_train") is False
        assert [d.name for d in other.list_datasets()] == ["train", "train_holdout"]
    assert isinstance(saved, SavedDataset) and train.rows + holdout.rows == saved.rows
    assert np.isfinite(saved.stats["score"]["mean"])


def test_the_catalog_service_matches_the_facade(store: FeatureStore) -> None:
    from skewless.datasets import DatasetCatalog

    store.get_historical_features(entity_frame(), REFS).save_dataset("train")
    catalog = DatasetCatalog(store.registry, store.repo_path, store.now)
    assert catalog.get("train") == store.get_dataset("train")
    assert catalog.all() == store.list_datasets()
