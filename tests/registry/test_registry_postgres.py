"""What only the PostgreSQL registry has: backend choice, URLs, errors, schema races, reconnects.

Behaviour shared with SQLite is tested once for both backends in test_registry_store.py.
"""

from __future__ import annotations

import multiprocessing as mp
import threading
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest
from postgres_server import PASSWORD, PostgresServer, free_port

from skewless import Entity
from skewless.config import RegistryConfig, RepoConfig, load_config
from skewless.errors import RegistryError
from skewless.registry import (
    ObjectChange,
    PostgresRegistry,
    Registry,
    SqliteRegistry,
    open_registry,
)
from skewless.registry.postgres import mask_url


def config(path: str, registry_type: str = "sql", project: str = "demo") -> RepoConfig:
    registry = RegistryConfig(path=path, registry_type=registry_type)  # type: ignore[arg-type]
    return RepoConfig(project=project, registry=registry, repo_path=Path("/nonexistent"))


def add_user(name: str = "user") -> ObjectChange:
    return ObjectChange("entity", name, "add", None, new=Entity(name=name, join_keys=["id"]))


# -- choosing the backend ------------------------------------------------------------------
@pytest.mark.parametrize(
    ("path", "registry_type", "expected"),
    [
        ("data/registry.db", "file", SqliteRegistry),
        ("data/registry.db", "sqlite", SqliteRegistry),
        ("sqlite:///data/registry.db", "sql", SqliteRegistry),
        ("postgresql://u:p@127.0.0.1:5432/db", "sql", PostgresRegistry),
        ("postgres://u@127.0.0.1/db", "sql", PostgresRegistry),
        ("postgresql+psycopg://u:p@127.0.0.1:5432/db", "sql", PostgresRegistry),
        ("postgresql://u:p@127.0.0.1:5432/db", "file", PostgresRegistry),
    ],
)
def test_registry_picks_the_backend_from_the_config(
    path: str, registry_type: str, expected: type[Registry]
) -> None:
    registry = Registry(config(path, registry_type))
    assert type(registry) is expected and isinstance(registry, Registry)
    assert type(open_registry(config(path, registry_type))) is expected
    assert type(expected(config(path, registry_type))) is expected


def test_sqlite_url_and_yaml_string_forms(tmp_path: Path) -> None:
    registry = Registry(config("sqlite:///data/reg.db", "sql").model_copy(
        update={"repo_path": tmp_path}
    ))  # fmt: skip
    assert isinstance(registry, SqliteRegistry)
    assert registry.path == tmp_path / "data" / "reg.db"
    (tmp_path / "feature_store.yaml").write_text(
        "project: p\nregistry: postgresql://me:pw@127.0.0.1:5/x\n"
    )
    assert isinstance(Registry(load_config(tmp_path)), PostgresRegistry)


def test_sql_registry_type_needs_a_database_url() -> None:
    with pytest.raises(RegistryError, match=r"registry_type: sql needs a database URL.*'data/r"):
        Registry(config("data/registry.db", "sql"))
    with pytest.raises(RegistryError, match="mysql://u:\\*\\*\\*@h/db"):
        Registry(config("mysql://u:topsecret@h/db", "sql"))


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        ("postgresql://u:secret@h:5432/db", "postgresql://u:***@h:5432/db"),
        ("postgresql://u@h/db", "postgresql://u@h/db"),
        ("postgresql://h/db?password=secret&sslmode=require",
         "postgresql://h/db?password=***&sslmode=require"),
        ("postgresql://u:p%40ss@[::1]:5432/db", "postgresql://u:***@[::1]:5432/db"),
    ],
)  # fmt: skip
def test_mask_url_hides_passwords(url: str, masked: str) -> None:
    assert mask_url(url) == masked


def test_repr_and_errors_never_show_the_password() -> None:
    registry = Registry(config("postgresql://me:topsecret@127.0.0.1:5432/db?connect_timeout=x"))
    assert "topsecret" not in repr(registry) and "***" in repr(registry)
    with pytest.raises(RegistryError) as caught:
        registry.version()
    assert "topsecret" not in str(caught.value)
    assert "me:***@127.0.0.1:5432/db" in str(caught.value)


def test_a_malformed_url_is_a_registry_error_at_once() -> None:
    with pytest.raises(RegistryError, match=r"not a valid PostgreSQL URL.*bogus.*user:password@"):
        Registry(config("postgresql://me:pw@127.0.0.1:5432/db?bogus=1"))


# -- errors from a real server ---------------------------------------------------------------
def test_unreachable_server_names_the_url_and_the_fix() -> None:
    port = free_port()
    registry = Registry(config(f"postgresql://me:topsecret@127.0.0.1:{port}/db"))
    for call in (registry.version, registry.snapshot, lambda: registry.commit([add_user()])):
        with pytest.raises(RegistryError) as caught:
            call()
        message = str(caught.value)
        assert f"cannot connect to registry postgresql://me:***@127.0.0.1:{port}/db" in message
        assert "refused" in message and "check that PostgreSQL runs" in message
        assert "topsecret" not in message


def test_wrong_password_and_missing_database(postgres_server: PostgresServer) -> None:
    wrong = Registry(config(postgres_server.url("postgres", password="not-the-password")))
    with pytest.raises(RegistryError, match="password authentication failed") as caught:
        wrong.version()
    assert "not-the-password" not in str(caught.value) and PASSWORD not in str(caught.value)
    assert "user, password and database" in str(caught.value)
    missing = Registry(config(postgres_server.url("no_such_db")))
    with pytest.raises(RegistryError, match=r'"no_such_db" does not exist.*createdb'):
        missing.commit([add_user()])


# -- schema and connections ------------------------------------------------------------------
def test_concurrent_first_writes_create_the_schema_once(postgres_url: str) -> None:
    """Eight sessions write to a database without tables at the same moment: all succeed."""
    registries = [Registry(config(postgres_url, project=f"p{i}")) for i in range(8)]
    barrier = threading.Barrier(len(registries))
    errors: list[BaseException] = []

    def first_write(registry: Registry) -> None:
        try:
            barrier.wait(30)
            registry.commit([add_user()])
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=first_write, args=(r,)) for r in registries]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    assert [r.version() for r in registries] == [1] * 8
    for registry in registries:
        registry.close()


def test_reads_survive_a_dropped_connection(postgres_url: str) -> None:
    registry = Registry(config(postgres_url))
    registry.commit([add_user()])
    assert registry.version() == 1
    with psycopg.connect(postgres_url, autocommit=True) as admin:
        killed = admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchall()
    assert killed == [(True,)]
    assert registry.version() == 1  # reconnected
    assert registry.commit([add_user("other")]) == 2
    registry.close()


def test_close_closes_every_thread_connection(postgres_url: str) -> None:
    registry = Registry(config(postgres_url))
    registry.commit([add_user()])
    threads = [threading.Thread(target=registry.version) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    def sessions() -> int:
        with psycopg.connect(postgres_url) as admin:
            row = admin.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND application_name = 'skewless-registry'"
            ).fetchone()
        assert row is not None
        return int(row[0])

    def sessions_become(expected: int) -> int:
        deadline = time.monotonic() + 10
        while (count := sessions()) != expected and time.monotonic() < deadline:
            time.sleep(0.02)  # a closed session's server process exits a moment later
        return count

    assert sessions_become(4) == 4
    registry.close()
    assert sessions_become(0) == 0
    assert registry.version() == 1  # reopens after close
    registry.close()


def _child_reads_and_writes(registry: Registry, results: Any) -> None:
    try:
        results.put(("version", registry.version()))
        results.put(("commit", registry.commit([add_user("from_child")])))
    except BaseException as exc:
        results.put(("error", repr(exc)))
    finally:
        registry.close()  # closes nothing of the parent's


def test_a_forked_child_opens_its_own_connection(postgres_url: str) -> None:
    registry = Registry(config(postgres_url))
    registry.commit([add_user()])
    assert registry.version() == 1  # the parent holds an open connection now
    ctx = mp.get_context("fork")
    results = ctx.Queue()
    child = ctx.Process(target=_child_reads_and_writes, args=(registry, results))
    child.start()
    outcome = [results.get(timeout=60), results.get(timeout=60)]
    child.join(60)
    assert child.exitcode == 0
    assert outcome == [("version", 1), ("commit", 2)]
    assert registry.version() == 2  # the parent's session survived the child
    assert registry.commit([add_user("from_parent")]) == 3
    registry.close()


def test_password_from_the_environment(
    postgres_server: PostgresServer, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    database = postgres_url.rsplit("/", 1)[1]
    url = f"postgresql://postgres@127.0.0.1:{postgres_server.port}/{database}"
    monkeypatch.setenv("PGPASSWORD", "wrong")
    with pytest.raises(RegistryError, match="password authentication failed"):
        Registry(config(url)).version()
    monkeypatch.setenv("PGPASSWORD", PASSWORD)
    registry = Registry(config(url))
    assert registry.commit([add_user()]) == 1
    registry.close()
