"""Materialization throughput: source rows per second into the SQLite online store.

The data: USERS users x DAYS days of history (1M source rows for 100k users x 10 days), six
features including a string, with created timestamps. It is generated once into
``bench/data/`` and reused.

Each run materializes the whole history into a fresh online store through
``FeatureStore.materialize`` and reports source rows per second, next to floors measured in
the same run on the same rows:

- ``engine only``: the offline engine's latest-per-key pull alone (no encoding, no writes);
- ``executemany``: a raw ``sqlite3`` ``executemany`` INSERT of the already-encoded rows into
  an empty table, in one transaction (no upsert rule, no encoding, no engine).

Run: ``.venv/bin/python bench/materialize.py`` (``--users 100000 --days 10 --repeat 3``).
"""

from __future__ import annotations

import argparse
import shutil
import sqlite3
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
from _data import START, feature_day

from skewless import Entity, FeatureStore, FeatureView, Field, FileSource
from skewless.config import RepoConfig
from skewless.online.codec import ViewCodec
from skewless.types import Float32, Float64, Int32, Int64, String

DATA = Path(__file__).resolve().parent / "data"


def ensure_source(users: int, days: int) -> Path:
    """The directory of Parquet files holding ``users x days`` rows (generated once)."""
    folder = DATA / f"user_stats_{users}x{days}"
    done = folder / "_complete"
    if done.exists():
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    rng = np.random.default_rng(42)
    for day in range(days):
        table = feature_day(rng, users, day, first_id=1001)
        pq.write_table(table, folder / f"day-{day:02d}.parquet")
    done.touch()
    return folder


USER = Entity(name="user", join_keys=["user_id"])


def feature_view(source: Path, ttl: timedelta | None = None) -> FeatureView:
    return FeatureView(
        name="user_stats",
        entities=[USER],
        ttl=ttl,
        schema=[
            Field(name="total_purchases", dtype=Int64),
            Field(name="avg_purchase_amount", dtype=Float64),
            Field(name="days_since_last_login", dtype=Int32),
            Field(name="preferred_category", dtype=String),
            Field(name="session_minutes", dtype=Float32),
            Field(name="churn_score", dtype=Float64),
        ],
        source=FileSource(
            path=str(source),
            timestamp_field="event_timestamp",
            created_timestamp_column="created",
        ),
    )


def open_repo(root: Path, source: Path, ttl: timedelta | None = None, **kw: object) -> FeatureStore:
    """A fresh repository in ``root`` with the benchmark's one view applied."""
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    config = RepoConfig(
        project="bench",
        registry={"path": str(root / "registry.db")},
        online_store={"type": "sqlite", "path": str(root / "online.db")},
        repo_path=root,
    )
    store = FeatureStore(config=config, **kw)  # type: ignore[arg-type]
    store.apply([USER, feature_view(source, ttl)])
    return store


def _floor_executemany(rows: list[tuple], path: Path) -> float:
    path.unlink(missing_ok=True)
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute(
        "CREATE TABLE t (key BLOB PRIMARY KEY, ts INTEGER, created INTEGER, payload BLOB) "
        "WITHOUT ROWID"
    )
    began = time.perf_counter()
    conn.execute("BEGIN")
    conn.executemany("INSERT INTO t VALUES (?, ?, ?, ?)", rows)
    conn.execute("COMMIT")
    seconds = time.perf_counter() - began
    conn.close()
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--days", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    source = ensure_source(args.users, args.days)
    source_rows = args.users * args.days
    work = DATA / "materialize_repo"
    end = START + timedelta(days=args.days)

    runs, engine_runs, encode_runs, floors = [], [], [], []
    for _ in range(args.repeat):
        store = open_repo(work, source)
        began = time.perf_counter()
        report = store.materialize(START - timedelta(days=1), end)
        runs.append(time.perf_counter() - began)
        assert report.rows == args.users, report.render()

        view = store.get_feature_view("user_stats")
        began = time.perf_counter()
        batches = list(store.offline_engine.latest_per_key(view, START - timedelta(days=1), end))
        engine_runs.append(time.perf_counter() - began)
        codec = ViewCodec(view)
        began = time.perf_counter()
        rows = [row for batch in batches for row in codec.encode_rows(batch)]
        encode_runs.append(time.perf_counter() - began)
        floors.append(_floor_executemany(rows, work / "floor.db"))
        store.close()

    def line(name: str, seconds: list[float], note: str = "") -> str:
        best, med = min(seconds), statistics.median(seconds)
        return (
            f"{name:<36} {best:7.3f} s  {source_rows / best / 1e6:6.2f}M source rows/s"
            f"  (median {med:.3f} s){note}"
        )

    print(
        f"materialize {source_rows:,} source rows ({args.users:,} keys x {args.days} days, "
        f"6 features incl. a string, created timestamps) into SQLite; best of {args.repeat}"
    )
    print(line("store.materialize (end to end)", runs))
    print(line("  floor: engine latest-per-key only", engine_runs))
    print(line("  part: encoding the winning rows", encode_runs))
    print(line("  floor: raw executemany INSERT", floors, f"; {args.users:,} rows written"))
    print(
        f"target: over 1M source rows/s; Python {sys.version.split()[0]}, SQLite "
        f"{sqlite3.sqlite_version}"
    )


if __name__ == "__main__":
    main()
