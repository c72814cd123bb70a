"""The registry on every backend: versions, history, removal, search and watermarks."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from registry_backends import RegistryBackend

from skewless import Entity, FeatureService, FeatureView, Field, FileSource
from skewless.config import RepoConfig
from skewless.errors import RegistryConflictError, RegistryError, UnknownObjectError
from skewless.registry import (
    ObjectChange,
    PostgresRegistry,
    Registry,
    SqliteRegistry,
    data_version,
)
from skewless.types import Float64, Int64, String

T0 = datetime(2024, 1, 1, tzinfo=UTC)
TABLES_SQL = (
    "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
)


def make_registry(backend: RegistryBackend, project: str = "demo") -> Registry:
    return backend.open(project)


def user() -> Entity:
    return Entity(name="user", join_keys=["user_id"], description="A customer", owner="crm")


def stats(ttl_days: int = 1, extra: bool = False, description: str = "") -> FeatureView:
    schema = [Field(name="total", dtype=Int64), Field(name="amount", dtype=Float64)]
    if extra:
        schema.append(Field(name="category", dtype=String))
    return FeatureView(
        name="user_stats",
        entities=[user()],
        ttl=timedelta(days=ttl_days),
        schema=schema,
        source=FileSource(path="data/stats.parquet"),
        tags={"team": "Growth"},
        description=description,
    )


def add(obj: object, base: int | None = None) -> ObjectChange:
    kind = {Entity: "entity", FeatureView: "feature_view", FeatureService: "feature_service"}
    return ObjectChange(kind[type(obj)], obj.name, "change" if base else "add", base, new=obj)


def remove(kind: str, name: str, base: int) -> ObjectChange:
    return ObjectChange(kind, name, "remove", base)


def test_reading_a_missing_registry_is_empty_and_creates_nothing(
    registry_backend: RegistryBackend,
) -> None:
    registry = make_registry(registry_backend)
    assert registry.version() == 0
    snap = registry.snapshot()
    assert (snap.version, dict(snap.feature_views), snap.project) == (0, {}, "demo")
    assert registry.object_versions() == {}
    assert registry.get_watermark(stats()) is None
    assert registry.search("user") == []
    with pytest.raises(UnknownObjectError, match="none yet"):
        registry.history("user_stats")
    assert registry.commit([]) == 0
    if registry_backend.name == "sqlite":
        assert list(registry_backend.repo.iterdir()) == []
    else:
        assert registry_backend.query(TABLES_SQL) == []


def test_first_commit_creates_the_registry(registry_backend: RegistryBackend) -> None:
    registry = make_registry(registry_backend)
    assert registry.commit([add(user()), add(stats())]) == 1
    if isinstance(registry, SqliteRegistry):
        assert registry.path == registry_backend.repo / "data" / "registry.db"
        assert registry.path.is_file()
        mode = sqlite3.connect(registry.path).execute("PRAGMA journal_mode").fetchone()[0]
        assert mode == "wal"
    else:
        assert isinstance(registry, PostgresRegistry)
        tables = sorted(row[0] for row in registry_backend.query(TABLES_SQL))
        assert tables == [
            "skewless_object_history",
            "skewless_objects",
            "skewless_registry_meta",
            "skewless_watermarks",
        ]
    # A second Registry object (another process, in effect) reads the same state.
    other = make_registry(registry_backend)
    snap = other.snapshot()
    assert snap.version == 1
    assert snap.get_feature_view("user_stats") == stats()
    assert snap.get_entity("user") == user()
    assert other.object_versions() == {("entity", "user"): 1, ("feature_view", "user_stats"): 1}


def test_unchanged_commit_creates_no_version(registry_backend: RegistryBackend) -> None:
    registry = make_registry(registry_backend)
    registry.commit([add(user())])
    assert registry.commit([add(user(), base=1)]) == 1
    assert registry.version() == 1
    assert [v.version for v in registry.history("user")] == [1]


def test_history_records_versions_hashes_and_times(registry_backend: RegistryBackend) -> None:
    registry = make_registry(registry_backend)
    before = datetime.now(UTC)
    registry.commit([add(user()), add(stats(1))])
    registry.commit([add(stats(2), base=1)])
    registry.commit([add(stats(2, description="now documented"), base=2)])
    after = datetime.now(UTC)
    history = registry.history("user_stats")
    assert [(h.kind, h.version, h.removed) for h in history] == [
        ("feature_view", 1, False),
        ("feature_view", 2, False),
        ("feature_view", 3, False),
    ]
    assert len({h.hash for h in history}) == 3
    assert [h.spec["ttl_seconds"] for h in history] == [86400, 172800, 172800]
    for h in history:
        assert h.created_at.tzinfo is not None and before <= h.created_at <= after
    assert history[0].created_at <= history[1].created_at <= history[2].created_at
    assert registry.version() == 3
    assert registry.object_versions()[("feature_view", "user_stats")] == 3
    assert registry.snapshot().get_feature_view("user_stats").description == "now documented"


def test_history_of_an_unknown_name_lists_known_names(registry_backend: RegistryBackend) -> None:
    registry = make_registry(registry_backend)
    registry.commit([add(user()), add(stats())])
    with pytest.raises(UnknownObjectError, match=r"'user_stat'.*known: user, user_stats"):
        registry.history("user_stat")
    with pytest.raises(UnknownObjectError, match="no entity named 'user_stats'"):
        registry.history("user_stats", kind="entity")
    assert [h.kind for h in registry.history("user_stats", kind="feature_view")] == ["feature_view"]


def test_removal_is_a_history_record_and_re_adding_continues_the_numbering(
    registry_backend: RegistryBackend,
) -> None:
    registry = make_registry(registry_backend)
    registry.commit([add(user()), add(stats())])
    assert registry.commit([remove("feature_view", "user_stats", 1)]) == 2
    assert "user_stats" not in registry.snapshot().feature_views
    assert ("feature_view", "user_stats") not in registry.object_versions()
    history = registry.history("user_stats")
    assert [(h.version, h.removed) for h in history] == [(1, False), (2, True)]
    assert history[1].spec == stats().to_spec()
    # Re-adding is planned against "did not exist" and gets the next number.
    registry.commit([add(stats(3))])
    assert [(h.version, h.removed) for h in registry.history("user_stats")][-1] == (3, False)
    assert registry.object_versions()[("feature_view", "user_stats")] == 3


def test_conflicting_commit_writes_nothing(registry_backend: RegistryBackend) -> None:
    registry = make_registry(registry_backend)
    registry.commit([add(user()), add(stats(1))])
    registry.commit([add(stats(2), base=1)])
    service = FeatureService(name="model", features=[stats(2)])
    with pytest.raises(
        RegistryConflictError,
        match=r"feature_view user_stats changed since you planned \(version 1, now 2\): "
        r"re-run plan/apply",
    ):
        registry.commit([add(service), add(stats(5), base=1)])
    assert registry.version() == 2
    assert "model" not in registry.snapshot().feature_services
    with pytest.raises(RegistryConflictError, match=r"entity user .*\(version absent, now 1\)"):
        registry.commit([add(user())])
    with pytest.raises(RegistryConflictError, match=r"\(version 4, now absent\)"):
        registry.commit([remove("feature_service", "model", 4)])
    assert registry.version() == 2


def test_snapshot_sees_changes_made_through_another_registry_object(
    registry_backend: RegistryBackend,
) -> None:
    reader, writer = make_registry(registry_backend), make_registry(registry_backend)
    writer.commit([add(user()), add(stats(1))])
    first = reader.snapshot()
    assert reader.snapshot() is first  # unchanged version: the parsed snapshot is reused
    writer.commit([add(stats(4), base=1)])
    assert reader.version() == 2
    assert reader.snapshot().get_feature_view("user_stats").ttl == timedelta(days=4)


def test_projects_share_a_registry_without_seeing_each_other(
    registry_backend: RegistryBackend,
) -> None:
    a, b = make_registry(registry_backend, "alpha"), make_registry(registry_backend, "beta")
    a.commit([add(user())])
    assert b.version() == 0 and b.snapshot().entities == {}
    b.commit([add(user()), add(stats())])
    assert (a.version(), b.version()) == (1, 1)
    assert list(a.snapshot().feature_views) == []


def test_search_matches_name_description_tags_owner_and_features(
    registry_backend: RegistryBackend,
) -> None:
    registry = make_registry(registry_backend)
    service = FeatureService(
        name="churn_model", features=[stats()], tags={"stage": "Prod"}, owner="ml@x.io"
    )
    registry.commit([add(user()), add(stats(extra=True)), add(service)])

    def names(text: str) -> list[tuple[str, str]]:
        return [(kind, name) for kind, name, _ in registry.search(text)]

    assert names("USER") == [("entity", "user"), ("feature_view", "user_stats")]
    assert names("customer") == [("entity", "user")]  # description
    assert names("CRM") == [("entity", "user")]  # owner
    assert names("growth") == [("feature_view", "user_stats")]  # tag value
    assert names("tea") == [("feature_view", "user_stats")]  # tag key
    assert names("categ") == [("feature_view", "user_stats")]  # feature name
    assert names("prod") == [("feature_service", "churn_model")]
    assert names("ml@") == [("feature_service", "churn_model")]
    assert names("nothing like it") == []
    kind, name, obj = registry.search("churn")[0]
    assert (kind, name) == ("feature_service", "churn_model")
    assert isinstance(obj, FeatureService) and obj.feature_refs == service.feature_refs


def test_watermarks_never_move_backwards(registry_backend: RegistryBackend) -> None:
    registry = make_registry(registry_backend)
    view = stats()
    registry.commit([add(user()), add(view)])
    assert registry.get_watermark(view) is None
    assert registry.set_watermark(view, T0 + timedelta(days=2), T0 + timedelta(days=1))
    registry.set_watermark(view, T0 + timedelta(days=1), None)  # older: ignored
    mark = registry.get_watermark(view)
    assert mark is not None
    assert (mark.watermark, mark.max_created) == (T0 + timedelta(days=2), T0 + timedelta(days=1))
    registry.set_watermark(view, T0, T0 + timedelta(days=5))  # only max_created moves
    registry.set_watermark(view, T0 + timedelta(days=3, microseconds=7))
    mark = registry.get_watermark(view)
    assert mark is not None
    assert mark.watermark == T0 + timedelta(days=3, microseconds=7)
    assert mark.max_created == T0 + timedelta(days=5)
    assert mark.watermark.tzinfo is not None and mark.updated_at.tzinfo is not None
    naive = datetime(2030, 1, 1)  # naive means UTC
    registry.set_watermark(view, naive)
    assert registry.get_watermark(view).watermark == naive.replace(tzinfo=UTC)  # type: ignore[union-attr]


def test_watermark_resets_when_the_view_data_changes(registry_backend: RegistryBackend) -> None:
    registry = make_registry(registry_backend)
    v1 = stats(1)
    registry.commit([add(user()), add(v1)])
    registry.set_watermark(v1, T0)
    # A description change keeps the data version, and so the watermark.
    documented = stats(1, description="docs")
    assert data_version(documented) == data_version(v1)
    registry.commit([add(documented, base=1)])
    assert registry.get_watermark(documented) is not None
    # A TTL change is a new data version: it starts with no watermark...
    v2 = stats(2)
    registry.commit([add(v2, base=2)])
    assert data_version(v2) != data_version(v1)
    assert registry.get_watermark(v2) is None
    # ...and going back to the old definition does not revive the old watermark, whose
    # online rows were dropped.
    registry.commit([add(v1, base=3)])
    assert registry.get_watermark(v1) is None


def test_watermark_of_a_stale_or_removed_view_is_not_recorded(
    registry_backend: RegistryBackend,
) -> None:
    registry = make_registry(registry_backend)
    v1, v2 = stats(1), stats(2)
    registry.commit([add(user()), add(v1)])
    registry.commit([add(v2, base=1)])
    assert registry.set_watermark(v1, T0) is False  # a materialization of the old definition
    assert registry.get_watermark(v1) is None
    registry.commit([remove("feature_view", "user_stats", 2)])
    assert registry.set_watermark(v2, T0) is False
    registry.commit([add(v2)])
    assert registry.get_watermark(v2) is None


def test_a_file_that_is_not_a_registry_gives_a_registry_error(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "registry.db").write_text("this is not sqlite" * 100)
    registry = Registry(RepoConfig(project="demo", repo_path=tmp_path))
    with pytest.raises(RegistryError, match=r"registry\.db"):
        registry.version()
    with pytest.raises(RegistryError, match=r"registry\.db"):
        registry.commit([add(user())])


def test_change_without_a_spec_is_rejected() -> None:
    with pytest.raises(ValueError, match="needs the new spec"):
        ObjectChange("entity", "user", "add", None)
    with pytest.raises(ValueError, match="action"):
        ObjectChange("entity", "user", "rename", None, new=user())  # type: ignore[arg-type]


def test_one_registry_shared_by_threads(registry_backend: RegistryBackend) -> None:
    from concurrent.futures import ThreadPoolExecutor

    registry = make_registry(registry_backend)
    registry.commit([add(user())])

    def apply_view(i: int) -> int:
        view = FeatureView(
            name=f"view_{i}",
            entities=[user()],
            schema=[Field(name="total", dtype=Int64)],
            source=FileSource(path="s.parquet"),
        )
        registry.commit([add(view)])
        return registry.snapshot().version

    with ThreadPoolExecutor(4) as pool:
        versions = list(pool.map(apply_view, range(8)))
    assert all(v >= 2 for v in versions)
    assert registry.version() == 9
    assert sorted(registry.snapshot().feature_views) == [f"view_{i}" for i in range(8)]
    registry.close()
    assert registry.version() == 9  # reopens after close


def test_concurrent_watermark_updates_keep_the_maximum(registry_backend: RegistryBackend) -> None:
    """Eight registries (eight connections) move one watermark at once, in shuffled order."""
    import random
    from concurrent.futures import ThreadPoolExecutor

    view = stats()
    make_registry(registry_backend).commit([add(user()), add(view)])
    writers = [make_registry(registry_backend) for _ in range(8)]
    offsets = list(range(160))
    random.Random(7).shuffle(offsets)

    def move(i: int) -> None:
        for offset in offsets[i::8]:
            moment = T0 + timedelta(minutes=offset)
            assert writers[i].set_watermark(view, moment, moment + timedelta(seconds=1))

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(move, range(8)))
    mark = make_registry(registry_backend).get_watermark(view)
    assert mark is not None
    assert mark.watermark == T0 + timedelta(minutes=159)
    assert mark.max_created == T0 + timedelta(minutes=159, seconds=1)
    for writer in writers:
        writer.close()
