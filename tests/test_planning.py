"""Plan and apply: diffs, checks against real source files, and what apply does online."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from skewless import Entity, FeatureService, FeatureView, Field, FileSource
from skewless.config import RepoConfig, SqliteOnlineConfig
from skewless.definitions import Definition
from skewless.errors import (
    DefinitionError,
    RegistryConflictError,
    SchemaMismatchError,
    SourceNotFoundError,
)
from skewless.offline.duckdb.engine import DuckDBEngine
from skewless.online.sqlite.store import SqliteOnlineStore
from skewless.planning import Plan, apply_plan, make_plan
from skewless.registry import Registry, RegistrySnapshot
from skewless.types import Array, Float32, Float64, Int64, String

T0 = datetime(2024, 3, 1, tzinfo=UTC)


class Repo:
    """A repository on disk: registry, online store and Parquet sources in ``tmp_path``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.config = RepoConfig(project="shop", repo_path=root)
        self.registry = Registry(self.config)
        self.online = SqliteOnlineStore(SqliteOnlineConfig(path="data/online.db"), root)
        self.engine = DuckDBEngine(self.config.offline_store, root)
        write_source(root / "stats.parquet")

    def plan(self, objects: list[Any], partial: bool = True) -> Plan:
        return make_plan(self.registry, self.engine, objects, partial=partial)

    def apply(self, objects: list[Any], partial: bool = True) -> Plan:
        plan = self.plan(objects, partial)
        apply_plan(self.registry, self.online, plan)
        return plan


def write_source(path: Path, **overrides: pa.Array) -> None:
    columns = {
        "user_id": pa.array([1, 2], pa.int64()),
        "event_timestamp": pa.array([T0, T0], pa.timestamp("us", tz="UTC")),
        "created": pa.array([T0, T0], pa.timestamp("us", tz="UTC")),
        "total": pa.array([3, 4], pa.int64()),
        "amount": pa.array([1.5, 2.5], pa.float64()),
        "category": pa.array(["a", "b"], pa.string()),
        "embedding": pa.array([[1.0], [2.0]], pa.list_(pa.float32())),
        **overrides,
    }
    pq.write_table(pa.table(columns), path)


@pytest.fixture
def repo(tmp_path: Path) -> Iterator[Repo]:
    r = Repo(tmp_path)
    yield r
    r.online.close()
    r.engine.close()


def user(keys: tuple[str, ...] = ("user_id",)) -> Entity:
    return Entity(name="user", join_keys=list(keys))


def stats(
    ttl_days: int = 1,
    schema: list[Field] | None = None,
    source: FileSource | None = None,
    entities: list[Entity] | None = None,
    description: str = "",
    name: str = "user_stats",
) -> FeatureView:
    return FeatureView(
        name=name,
        entities=entities or [user()],
        ttl=timedelta(days=ttl_days),
        schema=schema or [Field(name="total", dtype=Int64), Field(name="amount", dtype=Float64)],
        source=source or FileSource(path="stats.parquet", created_timestamp_column="created"),
        description=description,
    )


def service(features: list[Any] | None = None) -> FeatureService:
    return FeatureService(name="churn", features=features or [stats()[["total"]]])


# -- diffs and rendering ------------------------------------------------------------------------
def test_new_objects_are_added_in_dependency_order(repo: Repo) -> None:
    plan = repo.plan([service(), stats(), user()])
    assert plan.render() == (
        "+ entity user (new)\n+ feature_view user_stats (new)\n+ feature_service churn (new)"
    )
    assert [(c.action, c.base_version) for c in plan.changes] == [("add", None)] * 3
    assert not plan.is_empty and plan.registry_version == 0


def test_applying_twice_changes_nothing_the_second_time(repo: Repo) -> None:
    objects: list[Definition] = [user(), stats(), service()]
    repo.apply(objects)
    again = repo.plan(objects, partial=False)
    assert again.is_empty and again.render() == "No changes."
    assert sorted(again.unchanged) == [
        ("entity", "user"),
        ("feature_service", "churn"),
        ("feature_view", "user_stats"),
    ]
    apply_plan(repo.registry, repo.online, again)
    assert repo.registry.version() == 1


def test_changed_view_names_its_fields_and_the_online_reset(repo: Repo) -> None:
    repo.apply([user(), stats()])
    schema = [
        Field(name="total", dtype=Float64),  # retyped
        Field(name="category", dtype=String),  # added; amount removed
    ]
    plan = repo.plan([stats(ttl_days=2, schema=schema)])
    (change,) = plan.changes
    assert (change.action, change.base_version, change.resets_online) == ("change", 1, True)
    assert change.changed_fields == ("ttl", "schema")
    assert plan.render() == (
        "~ feature_view user_stats: ttl, schema (online data will be reset)\n"
        "    ttl: 1d -> 2d\n"
        "    schema: added category (String); removed amount; total Int64 -> Float64"
    )


def test_metadata_change_keeps_online_data(repo: Repo) -> None:
    repo.apply([user(), stats()])
    plan = repo.plan([stats(description="Purchases per user")])
    (change,) = plan.changes
    assert (change.changed_fields, change.resets_online) == (("description",), False)
    assert plan.render() == (
        "~ feature_view user_stats: description\n    description: '' -> 'Purchases per user'"
    )


def test_source_change_names_the_changed_source_keys(repo: Repo) -> None:
    repo.apply([user(), stats()])
    plan = repo.plan([stats(source=FileSource(path="stats.parquet"))])
    assert plan.render() == (
        "~ feature_view user_stats: source (online data will be reset)\n"
        "    source: created_timestamp_column"
    )


def test_full_plan_removes_what_the_repository_no_longer_defines(repo: Repo) -> None:
    other = Entity(name="driver", join_keys=["driver_id"])
    repo.apply([user(), other, stats(), service()])
    partial = repo.plan([user()], partial=True)
    assert partial.is_empty  # store.apply never removes
    plan = repo.plan([user(), stats()], partial=False)
    assert plan.render() == "- feature_service churn (removed)\n- entity driver (removed)"
    assert [c.base_version for c in plan.changes] == [1, 1]
    apply_plan(repo.registry, repo.online, plan)
    snap = repo.registry.snapshot()
    assert (sorted(snap.entities), sorted(snap.feature_services)) == (["user"], [])
    assert repo.registry.history("driver")[-1].removed


def test_removed_view_says_its_online_data_goes(repo: Repo) -> None:
    repo.apply([user(), stats()])
    plan = repo.plan([user()], partial=False)
    assert plan.render() == "- feature_view user_stats (removed; online data will be dropped)"
    assert plan.changes[0].resets_online


def test_base_versions_are_the_registry_versions(repo: Repo) -> None:
    repo.apply([user(), stats()])
    repo.apply([stats(ttl_days=2)])
    plan = repo.plan([user(), stats(ttl_days=3)])
    assert [(c.name, c.base_version) for c in plan.changes] == [("user_stats", 2)]
    assert plan.unchanged == [("entity", "user")]
    assert plan.registry_version == repo.registry.version() == 2


# -- validation ---------------------------------------------------------------------------------
def test_two_different_objects_with_one_name_are_rejected(repo: Repo) -> None:
    with pytest.raises(
        DefinitionError, match="two different feature view definitions are named 'user_stats'"
    ):
        repo.plan([user(), stats(1), stats(2)])
    # The same definition listed twice is one object.
    assert len(repo.plan([user(), user(), stats()]).changes) == 2


def test_non_definitions_are_rejected_and_sources_skipped(repo: Repo) -> None:
    with pytest.raises(DefinitionError, match="pass Entity, FeatureView and FeatureService"):
        repo.plan([user(), "user_stats"])
    plan = repo.plan([user(), FileSource(path="stats.parquet"), stats()])
    assert [c.kind for c in plan.changes] == ["entity", "feature_view"]


def test_view_with_unknown_entity_is_rejected(repo: Repo) -> None:
    with pytest.raises(DefinitionError, match="unknown entity 'user'"):
        repo.plan([stats()])
    repo.apply([user()])
    assert [c.name for c in repo.plan([stats()], partial=True).changes] == ["user_stats"]
    with pytest.raises(DefinitionError, match="unknown entity 'user'"):
        repo.plan([stats()], partial=False)  # the entity would be removed


def test_entity_join_keys_must_match_the_view(repo: Repo) -> None:
    with pytest.raises(DefinitionError, match=r"join keys \['user_id'\].*\['uid'\]"):
        repo.plan([user(("uid",)), stats()])
    repo.apply([user(), stats()])
    # Changing the entity alone would leave the registered view inconsistent.
    with pytest.raises(DefinitionError, match="entity 'user'"):
        repo.plan([user(("uid",))])


def test_service_must_name_existing_views_and_features(repo: Repo) -> None:
    ghost = FeatureView(
        name="ghost",
        entities=[user()],
        schema=[Field(name="total", dtype=Int64)],
        source=FileSource(path="stats.parquet"),
    )
    with pytest.raises(DefinitionError, match="unknown feature view 'ghost'"):
        repo.plan([user(), stats(), service([ghost])])
    repo.apply([user(), stats(), service()])
    narrower = stats(schema=[Field(name="amount", dtype=Float64)])
    with pytest.raises(DefinitionError, match=r"feature\(s\) \['total'\].*'user_stats'"):
        repo.plan([narrower])  # the registered service still uses `total`


@pytest.mark.parametrize(
    ("view", "message"),
    [
        (
            stats(schema=[Field(name="clicks", dtype=Int64)]),
            r"'user_stats': feature 'clicks' is not a column .*columns: user_id, event_timestamp",
        ),
        (
            stats(entities=[Entity(name="user", join_keys=["customer"])]),
            r"join key 'customer' is not a column",
        ),
        (
            stats(source=FileSource(path="stats.parquet", timestamp_field="ts")),
            r"timestamp field 'ts' is not a column",
        ),
        (
            stats(source=FileSource(path="stats.parquet", created_timestamp_column="updated_at")),
            r"created timestamp column 'updated_at' is not a column",
        ),
        (
            stats(schema=[Field(name="category", dtype=Int64)]),
            r"feature 'category' is declared Int64 but source 'stats.parquet' holds string",
        ),
        (
            stats(schema=[Field(name="amount", dtype=Int64)]),
            r"'amount' is declared Int64 but .* holds double",
        ),
        (
            stats(schema=[Field(name="user_id", dtype=String), Field(name="total", dtype=Int64)]),
            r"join key 'user_id' is declared String but .* holds int64",
        ),
        (
            stats(source=FileSource(path="stats.parquet", timestamp_field="category")),
            r"timestamp field 'category' is expected to be a timestamp but .* holds string",
        ),
    ],
)
def test_view_must_match_its_source_schema(repo: Repo, view: FeatureView, message: str) -> None:
    entity = view.entities[0]
    with pytest.raises(SchemaMismatchError, match=message):
        repo.plan([entity, view])
    assert repo.registry.version() == 0


@pytest.mark.parametrize(
    ("column", "entity"),
    [
        ("total", user()),
        ("user_id", Entity(name="user", join_keys=["user_id"], value_type=Int64)),
    ],
)
def test_an_unsigned_64_bit_column_is_refused_for_int64_at_plan_time(
    repo: Repo, column: str, entity: Entity
) -> None:
    # docs/semantics.md "Values and their types": uint64 values past 2^63 do not fit Int64.
    write_source(repo.root / "stats.parquet", **{column: pa.array([1, 2**63], pa.uint64())})
    view = stats(entities=[entity], schema=[Field(name="total", dtype=Int64)])
    with pytest.raises(SchemaMismatchError, match=rf"'{column}' is declared Int64 .* uint64"):
        repo.plan([entity, view])
    assert repo.registry.version() == 0
    write_source(repo.root / "stats.parquet", **{column: pa.array([1, 2], pa.uint32())})
    assert len(repo.plan([entity, view]).changes) == 2  # uint32 fits in Int64


def test_compatible_types_and_field_mapping_pass(repo: Repo) -> None:
    schema = [
        Field(name="total", dtype=Float32),  # an integer column read as a float
        Field(name="embedding", dtype=Array(Float32)),
        Field(name="spend", dtype=Float64),
    ]
    source = FileSource(path="stats.parquet", field_mapping={"amount": "spend"})
    plan = repo.plan([user(), stats(schema=schema, source=source)])
    assert len(plan.changes) == 2


@pytest.mark.parametrize("timestamp_field", ["event_timestamp", "ts"])
def test_a_mapped_timestamp_column_may_be_named_raw_or_mapped(
    repo: Repo, timestamp_field: str
) -> None:
    source = FileSource(
        path="stats.parquet",
        timestamp_field=timestamp_field,
        field_mapping={"event_timestamp": "ts"},
    )
    plan = repo.plan([user(), stats(source=source)])
    assert len(plan.changes) == 2


def test_missing_source_file_is_reported(repo: Repo) -> None:
    with pytest.raises(SourceNotFoundError, match="nowhere"):
        repo.plan([user(), stats(source=FileSource(path="nowhere.parquet"))])


def test_csv_and_directory_sources_are_checked_too(repo: Repo) -> None:
    table = pq.read_table(repo.root / "stats.parquet").drop_columns(["embedding"])
    csv_path = repo.root / "stats.csv"
    pacsv.write_csv(table.drop_columns(["amount"]), csv_path)
    csv_source = FileSource(path="stats.csv", created_timestamp_column="created")
    fine = stats(schema=[Field(name="total", dtype=Int64)], source=csv_source)
    assert len(repo.plan([user(), fine]).changes) == 2
    with pytest.raises(SchemaMismatchError, match=r"feature 'amount' is not a column .*stats\.csv"):
        repo.plan([user(), stats(source=csv_source)])
    (repo.root / "pushed").mkdir()
    pq.write_table(table, repo.root / "pushed" / "part-0.parquet")
    in_dir = stats(source=FileSource(path="pushed", created_timestamp_column="created"))
    assert len(repo.plan([user(), in_dir]).changes) == 2


# -- apply ---------------------------------------------------------------------------------------
def online_rows(repo: Repo, view: FeatureView) -> list[Any]:
    table = RegistrySnapshot(project="shop").online_table(view)
    return repo.online.read([(table, [b"k"])])[0]


def put_online(repo: Repo, view: FeatureView) -> None:
    repo.online.write(RegistrySnapshot(project="shop").online_table(view), [(b"k", 1, None, b"v")])


def test_apply_drops_online_rows_only_when_data_changes(repo: Repo) -> None:
    v1 = stats()
    repo.apply([user(), v1])
    put_online(repo, v1)
    repo.apply([stats(description="docs")])
    assert online_rows(repo, v1) == [(1, b"v")]
    v2 = stats(ttl_days=5)
    repo.apply([v2])
    assert online_rows(repo, v1) == [None]
    put_online(repo, v2)
    repo.apply([user()], partial=False)
    assert online_rows(repo, v2) == [None]


def test_apply_conflicts_when_another_apply_came_first(repo: Repo) -> None:
    repo.apply([user(), stats()])
    mine, theirs = repo.plan([stats(ttl_days=2)]), repo.plan([stats(ttl_days=3)])
    apply_plan(repo.registry, repo.online, theirs)
    with pytest.raises(RegistryConflictError, match="changed since you planned"):
        apply_plan(repo.registry, repo.online, mine)
    assert repo.registry.snapshot().feature_views["user_stats"].ttl == timedelta(days=3)


def test_failed_drop_is_logged_not_raised(
    repo: Repo, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    repo.apply([user(), stats()])
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "online.db").mkdir()  # a directory where the database should be
    broken = SqliteOnlineStore(SqliteOnlineConfig(path="broken/online.db"), tmp_path)
    with caplog.at_level(logging.WARNING, logger="skewless.planning"):
        apply_plan(repo.registry, broken, repo.plan([stats(ttl_days=9)]))
    assert "could not drop obsolete online tables" in caplog.text
    assert repo.registry.snapshot().feature_views["user_stats"].ttl == timedelta(days=9)
