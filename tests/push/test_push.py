"""``store.push`` (docs/semantics.md "Push") through a real repository: DuckDB over Parquet, SQLite
registry and online store in ``tmp_path``."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.parquet
import pytest
from push_repo import (
    HISTORY,
    USER,
    events_view,
    h,
    open_store,
    push_source,
    write_history,
)

from skewless import FeatureStore, FileSource, PushSource
from skewless.config import RepoConfig
from skewless.definitions import FeatureView, from_spec
from skewless.errors import DefinitionError, UnknownObjectError
from skewless.offline.sources import PushTarget, push_target
from skewless.push import PushContext, PushValidationError, push

REFS = ["events:score", "events:label", "events:amount"]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[FeatureStore]:
    write_history(tmp_path, HISTORY)
    store = open_store(tmp_path)
    store.apply([USER, events_view()])
    yield store
    store.close()


def row(user: int, hours: float, score: int, **extra: Any) -> dict[str, Any]:
    return {
        "user_id": user,
        "event_timestamp": h(hours),
        "score": score,
        "label": "p",
        "amount": 0.5,
        **extra,
    }


def files(store: FeatureStore) -> list[str]:
    return sorted(p.name for p in (store.repo_path / "data" / "events").iterdir())


def historical(store: FeatureStore, users: list[int], hours: float) -> dict[str, list[Any]]:
    entity = pd.DataFrame({"user_id": users, "event_timestamp": [h(hours)] * len(users)})
    out = store.get_historical_features(entity, REFS).to_arrow()
    return {c: out.column(c).to_pylist() for c in ("score", "label", "amount")}


def online(store: FeatureStore, users: list[int]) -> dict[str, list[Any]]:
    return store.get_online_features(REFS, [{"user_id": u} for u in users]).to_dict()


def test_offline_push_is_seen_by_the_next_retrieval(store: FeatureStore) -> None:
    before = files(store)
    report = store.push("events_push", [row(1, 3, 11), row(3, 3, 30)], to="offline")
    assert report.rows == 2 and report.views == ("events",) and report.to == "offline"
    assert len(report.files) == 1 and Path(report.files[0]).name > before[-1]
    assert historical(store, [1, 2, 3], 4)["score"] == [11, 20, 30]
    assert historical(store, [1], 2)["score"] == [10]  # still point-in-time correct
    assert online(store, [1])["score"] == [None]  # offline only


@pytest.mark.parametrize(
    "rows",
    [
        pytest.param(lambda r: r, id="dicts"),
        pytest.param(lambda r: pd.DataFrame(r), id="pandas"),
        pytest.param(lambda r: pa.Table.from_pylist(r), id="arrow"),
        pytest.param(lambda r: pl.DataFrame(r), id="polars"),
    ],
)
def test_online_push_accepts_every_frame_kind(store: FeatureStore, rows: Any) -> None:
    report = store.push("events_push", rows([row(1, 3, 11), row(2, 3, 21)]))
    assert report.files == () and report.to == "online"
    assert online(store, [1, 2]) == {
        "user_id": [1, 2],
        "score": [11, 21],
        "label": ["p", "p"],
        "amount": [0.5, 0.5],
    }
    assert files(store) == ["part-000.parquet"]


def test_online_and_offline_writes_offline_first(store: FeatureStore) -> None:
    seen: list[list[str]] = []
    real = store.online_store

    class Spy:
        def write(self, table: str, rows: Any) -> int:
            seen.append(files(store))
            return real.write(table, rows)

        def set_table_ttl(self, table: str, ttl: Any) -> None:
            real.set_table_ttl(table, ttl)

    context = PushContext(
        store.offline_engine,
        Spy(),
        store.snapshot(),
        store.repo_path,  # type: ignore[arg-type]
        store.now(),
    )
    report = push(context, "events_push", [row(1, 3, 11)], "online_and_offline")
    assert len(seen) == 1 and Path(report.files[0]).name in seen[0]
    assert online(store, [1])["score"] == [11]
    assert historical(store, [1], 3)["score"] == [11]


def test_missing_created_time_is_the_ingestion_time(tmp_path: Path) -> None:
    write_history(tmp_path, HISTORY)
    now = h(100)
    store = open_store(tmp_path, now=now)
    store.apply([USER, events_view()])
    report = store.push("events_push", [row(1, 1, 99)], to="online_and_offline")
    written = pa.parquet.read_table(report.files[0])
    assert written.column("created").to_pylist() == [now]
    # Same event time as the history row of user 1 (created h(1)): the correction wins.
    assert historical(store, [1], 2)["score"] == [99]
    assert online(store, [1])["score"] == [99]
    # An explicit created time is kept: an older correction loses, online and offline.
    store.push("events_push", [row(1, 1, 55, created=h(0.5))], to="online_and_offline")
    assert historical(store, [1], 2)["score"] == [99]
    assert online(store, [1])["score"] == [99]
    store.close()


def test_push_to_offline_only_view(tmp_path: Path) -> None:
    write_history(tmp_path, HISTORY)
    store = open_store(tmp_path)
    store.apply([USER, events_view(online=False)])
    with pytest.raises(PushValidationError, match=r"online=False.*to='offline'"):
        store.push("events_push", [row(1, 3, 11)], to="online")
    assert files(store) == ["part-000.parquet"]
    report = store.push("events_push", [row(1, 3, 11)], to="online_and_offline")
    assert report.views == ("events",) and len(report.files) == 1
    assert historical(store, [1], 4)["score"] == [11]
    store.close()


def test_one_push_source_feeds_several_views(tmp_path: Path) -> None:
    write_history(tmp_path, HISTORY)
    store = open_store(tmp_path)
    store.apply([USER, events_view(), events_view(name="events_copy", ttl=timedelta(hours=1))])
    report = store.push("events_push", [row(1, 3, 11)], to="online_and_offline")
    assert report.views == ("events", "events_copy") and len(report.files) == 1
    both = store.get_online_features(
        ["events:score", "events_copy:score"], [{"user_id": 1}], full_feature_names=True
    ).to_dict()
    assert both["events__score"] == [11] and both["events_copy__score"] == [None]  # old: ttl
    store.close()


INVALID = [
    ([{"user_id": 1, "event_timestamp": h(3), "score": 1, "label": "x"}], "missing column.*amount"),
    ([row(1, 3, 1, bogus=2)], "unknown column.*bogus"),
    ([row(1, 3, 1), row(2, 3, "many")], "score"),
    ([row(1, 3, 1), {**row(2, 3, 2), "event_timestamp": None}], "null in 1 pushed row"),
    ([row(1, 3, 1), {**row(2, 3, 2), "user_id": None}], "join key 'user_id' is null"),
    ([{**row(1, 3, 1), "event_timestamp": "yesterday"}], "'yesterday', which is not a time"),
    ([{**row(1, 3, 1), "amount": "lots"}], "amount"),
    ([row(1, 3, 1), {**row(2, 3, 2), "score": 2.5}], "score"),
    ("not rows", "cannot push a str"),
]


@pytest.mark.parametrize("to", ["online", "offline", "online_and_offline"])
@pytest.mark.parametrize(("rows", "message"), INVALID)
def test_an_invalid_push_writes_nothing(
    store: FeatureStore, rows: Any, message: str, to: str
) -> None:
    with pytest.raises(PushValidationError, match=message):
        store.push("events_push", rows, to=to)
    assert files(store) == ["part-000.parquet"]
    assert online(store, [1, 2])["score"] == [None, None]


def test_unknown_push_source_and_destination(store: FeatureStore) -> None:
    with pytest.raises(UnknownObjectError, match="push sources: events_push"):
        store.push("nope", [row(1, 3, 1)])
    with pytest.raises(PushValidationError, match="online, offline, online_and_offline"):
        store.push("events_push", [row(1, 3, 1)], to="both")
    assert files(store) == ["part-000.parquet"]


def test_single_file_batch_source_appends_rows_to_the_file(tmp_path: Path) -> None:
    # Feast's `feast init` template pushes to a view whose batch source is one Parquet file.
    folder = write_history(tmp_path, HISTORY)
    file = folder / "part-000.parquet"
    before = pa.parquet.read_table(file).num_rows
    store = open_store(tmp_path)
    store.apply([USER, events_view(push_source(path=str(file)))])
    report = store.push("events_push", [row(1, 3, 11)], to="offline")
    second = store.push("events_push", [row(1, 3, 12)], to="online_and_offline")
    assert report.files == second.files == (str(file),)
    assert sorted(p.name for p in folder.iterdir() if not p.name.startswith(".")) == [file.name]
    assert pa.parquet.read_table(file).num_rows == before + 2
    assert historical(store, [1], 4)["score"] == [12]
    store.close()


def test_glob_batch_source(tmp_path: Path) -> None:
    write_history(tmp_path, HISTORY, name="events_a.parquet")
    store = open_store(tmp_path)
    store.apply([USER, events_view(push_source(path="data/events/events_*.parquet"))])
    report = store.push("events_push", [row(1, 3, 11)], to="offline")
    name = Path(report.files[0]).name
    assert name.startswith("events_") and name.endswith(".parquet") and name > "events_a.parquet"
    assert historical(store, [1], 4)["score"] == [11]
    store.close()


def test_pushed_files_sort_after_later_named_history(store: FeatureStore) -> None:
    write_history(store.repo_path, HISTORY, name="zz-late.parquet")
    first = store.push("events_push", [row(1, 1, 98, created=h(1))], to="offline")
    second = store.push("events_push", [row(1, 1, 99, created=h(1))], to="offline")
    names = files(store)
    assert names[-2:] == [Path(first.files[0]).name, Path(second.files[0]).name]
    assert historical(store, [1], 2)["score"] == [99]  # full tie: the later file wins


def test_field_mapping_is_applied_both_ways(tmp_path: Path) -> None:
    folder = tmp_path / "data" / "events"
    folder.mkdir(parents=True)
    pd.DataFrame({"uid": [1], "event_timestamp": [h(1)], "points": [10]}).to_parquet(
        folder / "a.parquet"
    )
    source = PushSource(
        name="events_push",
        batch_source=FileSource(
            path="data/events", field_mapping={"uid": "user_id", "points": "score"}
        ),
    )
    view = FeatureView(
        name="events", entities=[USER], schema=events_view().schema[:1], source=source
    )
    store = open_store(tmp_path)
    store.apply([USER, view])
    report = store.push(
        "events_push",
        [{"user_id": 1, "event_timestamp": h(3), "score": 11}],
        to="online_and_offline",
    )
    assert pa.parquet.read_table(report.files[0]).column_names == [
        "uid",
        "event_timestamp",
        "points",
    ]
    entity = pd.DataFrame({"user_id": [1], "event_timestamp": [h(4)]})
    assert store.get_historical_features(entity, ["events:score"]).to_df()["score"].tolist() == [11]
    assert store.get_online_features(["events:score"], [{"user_id": 1}]).to_dict()["score"] == [11]
    store.close()


def test_push_source_spec_round_trip_and_registry(store: FeatureStore) -> None:
    view = events_view()
    spec = view.to_spec()
    assert spec["source"]["type"] == "push" and spec["source"]["batch_source"]["type"] == "file"
    again = from_spec("feature_view", spec)
    assert again == view and isinstance(again.source, PushSource)
    assert store.get_feature_view("events") == view
    assert view.batch_source == push_source().batch_source
    # Moving a view from its file source to a push source over the same files keeps its data.
    plain = events_view(push_source().batch_source)
    assert plain.data_spec() == view.data_spec()


def test_push_source_checks_its_arguments() -> None:
    with pytest.raises(DefinitionError, match="batch_source must be a FileSource"):
        PushSource(name="p", batch_source="data/x")  # type: ignore[arg-type]
    with pytest.raises(DefinitionError, match="not a valid name"):
        PushSource(name="bad name", batch_source=FileSource(path="data/x"))


@pytest.mark.parametrize(
    ("path", "directory", "prefix", "suffix"),
    [
        ("data/e", "data/e", "", ".parquet"),
        ("data/e/", "data/e", "", ".parquet"),
        ("data/e/*.parquet", "data/e", "", ".parquet"),
        ("data/e/**/*.parquet", "data/e", "", ".parquet"),
        ("data/e/part-*", "data/e", "part-", ""),
    ],
)
def test_push_target_of_directories_and_globs(
    tmp_path: Path, path: str, directory: str, prefix: str, suffix: str
) -> None:
    target = push_target(FileSource(path=path), tmp_path)
    assert target == PushTarget(tmp_path / directory, prefix, suffix)


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("data/*/x.parquet", "wildcards outside its file name"),
        ("data/e/part-?.parquet", "needs '\\*' and no other wildcard"),
        ("data/e.csv", "is CSV"),
    ],
)
def test_push_target_refusals(tmp_path: Path, path: str, message: str) -> None:
    with pytest.raises(DefinitionError, match=message):
        push_target(FileSource(path=path), tmp_path)


def test_new_names_sort_last_and_do_not_grow(tmp_path: Path) -> None:
    target = PushTarget(tmp_path, "", ".parquet")
    existing = [str(tmp_path / "zz.parquet"), str(tmp_path / "sub" / "a.parquet")]
    names = []
    for i in range(5):
        name = target.new_name(tuple(sorted(existing)), f"push-20240101T00000000000{i}Z-0000000{i}")
        assert str(tmp_path / name) > max(existing)
        existing.append(str(tmp_path / name))
        names.append(name)
    assert len({len(n) for n in names}) == 1  # later names reuse the base, not the last name


def test_an_empty_push_writes_nothing(store: FeatureStore) -> None:
    report = store.push("events_push", [], to="online_and_offline")
    assert (report.rows, report.files) == (0, ())
    assert files(store) == ["part-000.parquet"]


def test_pushed_files_take_the_history_column_types(tmp_path: Path) -> None:
    folder = tmp_path / "data" / "events"
    folder.mkdir(parents=True)
    naive = pa.table(
        {
            "user_id": pa.array([1], pa.int32()),
            "event_timestamp": pa.array([h(1).replace(tzinfo=None)], pa.timestamp("ns")),
            "created": pa.array([None], pa.timestamp("ns")),
            "score": pa.array([10], pa.int64()),
            "label": pa.array(["a"]),
            "amount": pa.array([1.0]),
            "note": pa.array(["kept"]),
        }
    )
    pa.parquet.write_table(naive, folder / "a.parquet")
    store = open_store(tmp_path)
    store.apply([USER, events_view()])
    report = store.push("events_push", [row(1, 3, 11)], to="offline")
    written = pa.parquet.read_table(report.files[0])
    assert written.schema == naive.schema
    assert written.column("event_timestamp").to_pylist()[0] == h(3).replace(tzinfo=None)
    assert historical(store, [1], 2)["score"] == [10]
    assert historical(store, [1], 4)["score"] == [11]
    store.close()


def test_push_online_to_redis(tmp_path: Path, clean_redis: Any) -> None:
    write_history(tmp_path, HISTORY)
    config = RepoConfig(
        project="shop",
        registry={"path": str(tmp_path / "registry.db")},
        online_store={"type": "redis", "connection_string": clean_redis.connection_string},
        repo_path=tmp_path,
    )
    store = FeatureStore(config=config, clock=lambda: h(100))
    store.apply([USER, events_view()])
    store.push("events_push", [row(1, 3, 11), row(2, 3, 21)], to="online_and_offline")
    store.push("events_push", [row(1, 2, 5)])  # older: ignored by the write rule
    assert online(store, [1, 2])["score"] == [11, 21]
    assert historical(store, [1, 2], 4)["score"] == [11, 21]
    store.close()
