"""Optimistic concurrency with real processes applying to one registry at once (every backend)."""

from __future__ import annotations

import multiprocessing as mp
import runpy
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from registry_backends import RegistryBackend

from skewless import Entity, FeatureView, Field, FileSource
from skewless.config import load_config
from skewless.planning import apply_plan
from skewless.registry import Registry
from skewless.types import Int64

WORKER = Path(__file__).with_name("registry_apply_worker.py")
_worker: dict[str, Any] = runpy.run_path(str(WORKER))
WAIT_SECONDS: int = _worker["WAIT_SECONDS"]
online_store = _worker["online_store"]
plan_for = _worker["plan_for"]


def user() -> Entity:
    return Entity(name="user", join_keys=["user_id"])


def view(name: str, ttl_days: int) -> FeatureView:
    return FeatureView(
        name=name,
        entities=[user()],
        ttl=timedelta(days=ttl_days),
        schema=[Field(name="total", dtype=Int64)],
        source=FileSource(path="stats.parquet"),
    )


def make_repo(backend: RegistryBackend) -> Path:
    tmp_path = backend.repo
    (tmp_path / "feature_store.yaml").write_text("project: race\n" + backend.yaml())
    table = pa.table(
        {
            "user_id": pa.array([1, 2], pa.int64()),
            "event_timestamp": pa.array([datetime(2024, 1, 1, tzinfo=UTC)] * 2),
            "total": pa.array([10, 20], pa.int64()),
        }
    )
    pq.write_table(table, tmp_path / "stats.parquet")
    return tmp_path


def run_concurrently(repo: Path, jobs: dict[str, list[Any]]) -> dict[str, tuple[str, str]]:
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(len(jobs))
    results = ctx.Queue()
    procs = [
        ctx.Process(
            target=runpy.run_path,
            args=(str(WORKER),),
            kwargs={
                "init_globals": {"WORKER_ARGS": (str(repo), objs, barrier, results, label)},
                "run_name": _worker["RUN_NAME"],
            },
        )
        for label, objs in jobs.items()
    ]
    outcomes = {}
    try:
        for proc in procs:
            proc.start()
        for _ in procs:
            label, status, message = results.get(timeout=WAIT_SECONDS)
            outcomes[label] = (status, message)
        for proc in procs:
            proc.join(WAIT_SECONDS)
            assert proc.exitcode == 0
    finally:
        for proc in procs:
            if proc.is_alive():
                proc.terminate()
    return outcomes


def integrity(backend: RegistryBackend) -> None:
    """History and current objects agree: every current version is the latest history row,
    and every commit that changed something has its own registry version."""
    if backend.name == "sqlite":
        assert backend.query("PRAGMA integrity_check")[0][0] == "ok"
    rows = backend.query(
        "SELECT o.kind, o.name, o.version, o.hash, "
        "(SELECT MAX(version) FROM {history} h WHERE h.project = o.project "
        "AND h.kind = o.kind AND h.name = o.name), "
        "(SELECT hash FROM {history} h WHERE h.project = o.project "
        "AND h.kind = o.kind AND h.name = o.name AND h.version = o.version) FROM {objects} o"
    )
    assert rows
    for kind, name, version, digest, latest, history_hash in rows:
        assert (version, digest) == (latest, history_hash), (kind, name)
    versions = [row[0] for row in backend.query("SELECT DISTINCT registry_version FROM {history}")]
    (current,) = backend.query("SELECT version FROM {meta}")[0]
    assert sorted(versions) == list(range(1, current + 1))


def test_two_processes_touching_different_objects_both_succeed(
    registry_backend: RegistryBackend,
) -> None:
    repo = make_repo(registry_backend)
    registry = Registry(load_config(repo))
    apply_plan(registry, online_store(repo), plan_for(registry, repo, [user()]))

    outcomes = run_concurrently(
        repo, {"a": [user(), view("stats_a", 1)], "b": [user(), view("stats_b", 2)]}
    )

    assert outcomes == {"a": ("ok", ""), "b": ("ok", "")}
    snap = registry.snapshot()
    assert sorted(snap.feature_views) == ["stats_a", "stats_b"]
    assert snap.feature_views["stats_b"].ttl == timedelta(days=2)
    assert registry.version() == 3  # the entity, then one commit per process
    integrity(registry_backend)


def test_same_object_planned_against_the_same_base_exactly_one_wins(
    registry_backend: RegistryBackend,
) -> None:
    repo = make_repo(registry_backend)
    registry = Registry(load_config(repo))
    apply_plan(
        registry,
        online_store(repo),
        plan_for(registry, repo, [user(), view("stats", 1)]),
    )

    outcomes = run_concurrently(
        repo, {"two_days": [view("stats", 2)], "three_days": [view("stats", 3)]}
    )

    statuses = sorted(status for status, _ in outcomes.values())
    assert statuses == ["conflict", "ok"], outcomes
    winner = next(label for label, (status, _) in outcomes.items() if status == "ok")
    loser_message = next(msg for status, msg in outcomes.values() if status == "conflict")
    assert "feature_view stats changed since you planned (version 1, now 2)" in loser_message
    assert "re-run plan/apply" in loser_message
    # The winner's change is stored, the loser wrote nothing: no lost or half change.
    expected_ttl = {"two_days": 2, "three_days": 3}[winner]
    assert registry.snapshot().feature_views["stats"].ttl == timedelta(days=expected_ttl)
    history = registry.history("stats")
    assert [h.version for h in history] == [1, 2]
    assert history[1].spec["ttl_seconds"] == expected_ttl * 86400
    assert registry.version() == 2
    integrity(registry_backend)


def test_many_processes_applying_distinct_objects_all_land(
    registry_backend: RegistryBackend,
) -> None:
    repo = make_repo(registry_backend)
    registry = Registry(load_config(repo))
    apply_plan(registry, online_store(repo), plan_for(registry, repo, [user()]))
    jobs = {f"p{i}": [user(), view(f"stats_{i}", i + 1)] for i in range(4)}

    outcomes = run_concurrently(repo, jobs)

    assert all(status == "ok" for status, _ in outcomes.values()), outcomes
    assert sorted(registry.snapshot().feature_views) == [f"stats_{i}" for i in range(4)]
    assert registry.version() == 5
    integrity(registry_backend)
