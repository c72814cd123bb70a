"""Materialization throughput: source rows per second into the SQLite online store.

The data: USERS users x DAYS days of history (1M source rows for 100k users x 10 days), six
features including a string, with created timestamps. It is generated once into
``bench/data/`` (or ``--data``) and reused.

Two runs, each best of ``--repeat``, each on a fresh repository:

- ``fresh store``: the whole history into an empty online store;
- ``over stored rows``: history with corrections (1% of rows re-state another row's key and
  event time with a later created time, some of them twice: full ties) into an online store
  that already holds the history up to the middle of the last day. Every key is written
  again: about half get a newer row, the others re-state the same row, so the upsert's
  ``ON CONFLICT`` branch and its monotonic check run for every row.

Each run times ``FeatureStore.materialize`` end to end and, in the same run on the same rows,
the floors:

- ``engine only``: the offline engine's latest-per-key pull alone (no encoding, no writes);
- ``raw sqlite3``: the already-encoded winning rows sorted by key (as the store sorts them)
  and written with one ``executemany`` in one transaction: a plain ``INSERT`` into an empty
  table for the fresh run, a hand-written ``INSERT ... ON CONFLICT DO UPDATE ... WHERE`` with
  the write rule of docs/semantics.md, "Materialization", into a copy of the stored rows for
  the other.

After each run the store's table and the floor's table are compared row by row (key, times
and payload bytes); a disagreement exits non-zero. Targets: at least 1M source rows/s end to
end, and the end-to-end time within 2.5x of the engine pull.

Run: ``.venv/bin/python bench/materialize.py`` (``--users 100000 --days 10 --repeat 3``);
``--quick`` for a tiny run that checks the floors agree.
"""

from __future__ import annotations

import argparse
import operator
import shutil
import sqlite3
import statistics
import sys
import time
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
from _agree import Disagreement, require_equal
from _data import START, feature_day

from skewless import Entity, FeatureStore, FeatureView, Field, FileSource
from skewless.config import RepoConfig
from skewless.online.codec import ViewCodec
from skewless.types import Float32, Float64, Int32, Int64, String

DATA = Path(__file__).resolve().parent / "data"
TARGET_ROWS_PER_S = 1_000_000
TARGET_VS_ENGINE = 2.5


def ensure_source(users: int, days: int, *, corrections: bool = False, data: Path = DATA) -> Path:
    """The directory of Parquet files holding ``users x days`` rows (generated once)."""
    folder = data / f"user_stats_{users}x{days}{'_corrections' if corrections else ''}"
    done = folder / "_complete"
    if done.exists():
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    rng = np.random.default_rng(42)
    for day in range(days):
        table = feature_day(rng, users, day, first_id=1001, corrections=corrections)
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


Row = tuple[bytes, int, int | None, bytes]

_UPSERT = (
    "INSERT INTO t VALUES (?, ?, ?, ?) ON CONFLICT (key) DO UPDATE SET ts = excluded.ts, "
    "created = excluded.created, payload = excluded.payload WHERE (excluded.ts, "
    f"coalesce(excluded.created, {-(2**63)})) >= (t.ts, coalesce(t.created, {-(2**63)}))"
)


def _floor_db(path: Path, stored: list[Row]) -> sqlite3.Connection:
    """A floor table like the store's, holding ``stored`` (not timed)."""
    path.unlink(missing_ok=True)
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA cache_size=-65536")
    conn.execute(
        "CREATE TABLE t (key BLOB PRIMARY KEY, ts INTEGER NOT NULL, created INTEGER, "
        "payload BLOB NOT NULL) WITHOUT ROWID"
    )
    if stored:
        conn.execute("BEGIN")
        conn.executemany("INSERT INTO t VALUES (?, ?, ?, ?)", stored)
        conn.execute("COMMIT")
    return conn


def floor_write(rows: list[Row], conn: sqlite3.Connection, upsert: bool) -> float:
    """Seconds to sort ``rows`` by key and write them in one transaction."""
    began = time.perf_counter()
    ordered = sorted(rows, key=operator.itemgetter(0))
    conn.execute("BEGIN")
    conn.executemany(_UPSERT if upsert else "INSERT INTO t VALUES (?, ?, ?, ?)", ordered)
    conn.execute("COMMIT")
    return time.perf_counter() - began


def rows_of(conn: sqlite3.Connection, table: str) -> list[Row]:
    quoted = '"' + table.replace('"', '""') + '"'
    return list(conn.execute(f"SELECT key, ts, created, payload FROM {quoted} ORDER BY key"))


@dataclass
class Run:
    """The timings of one run, best of the repeats (seconds)."""

    name: str
    end_to_end: list[float] = field(default_factory=list)
    engine: list[float] = field(default_factory=list)
    encode: list[float] = field(default_factory=list)
    floor: list[float] = field(default_factory=list)
    written: int = 0
    hits: int = 0
    newer: int = 0
    ties: int = 0


def one_run(run: Run, work: Path, source: Path, days: int, over_stored: bool) -> None:
    """One repeat of ``run``: materialize through the store, then the floors, then compare."""
    start, end = START - timedelta(days=1), START + timedelta(days=days)
    store = open_repo(work, source)
    view = store.get_feature_view("user_stats")
    table = store.snapshot().online_table(view)
    online = sqlite3.connect(work / "online.db")
    stored: list[Row] = []
    if over_stored:
        store.materialize(start, end - timedelta(hours=12))
        stored = rows_of(online, table)
    began = time.perf_counter()
    report = store.materialize(start, end)
    run.end_to_end.append(time.perf_counter() - began)

    began = time.perf_counter()
    batches = list(store.offline_engine.latest_per_key(view, start, end))
    run.engine.append(time.perf_counter() - began)
    codec = ViewCodec(view)
    began = time.perf_counter()
    rows = [row for batch in batches for row in codec.encode_rows(batch)]
    run.encode.append(time.perf_counter() - began)
    floor = _floor_db(work / "floor.db", stored)
    run.floor.append(floor_write(rows, floor, upsert=over_stored))

    ours, theirs = rows_of(online, table), rows_of(floor, "t")
    require_equal("raw sqlite3 floor", theirs, "store.materialize", ours)
    if report.rows != len(rows):
        raise Disagreement(
            f"bench: store.materialize wrote {report.rows:,} rows, not {len(rows):,}"
        )
    before = {key: (ts, created) for key, ts, created, _ in stored}
    run.written = len(rows)
    run.hits = sum(1 for key, *_ in rows if key in before)
    run.newer = sum(1 for key, ts, *_ in rows if key in before and before[key][0] < ts)
    run.ties = sum(1 for key, ts, c, _ in rows if before.get(key) == (ts, c))
    online.close()
    floor.close()
    store.close()


def report_lines(run: Run, source_rows: int, repeat: int) -> list[str]:
    def line(name: str, seconds: list[float], note: str = "") -> str:
        best, med = min(seconds), statistics.median(seconds)
        return (
            f"  {name:<44} {best:7.3f} s  {source_rows / best / 1e6:6.2f}M source rows/s"
            f"  (median {med:.3f} s){note}"
        )

    e2e, engine = min(run.end_to_end), min(run.engine)
    rate, ratio = source_rows / e2e, e2e / engine
    floors = engine + min(run.floor)
    ratio_met = "met" if ratio <= TARGET_VS_ENGINE else "not met"
    rate_met = "met" if rate >= TARGET_ROWS_PER_S else "not met"
    conflicts = (
        f"; {run.hits:,} over a stored key ({run.newer:,} newer, {run.ties:,} ties)"
        if run.hits
        else ""
    )
    return [
        f"{run.name}: {run.written:,} rows written, best of {repeat}{conflicts}",
        line("store.materialize (end to end)", run.end_to_end),
        line("floor: engine latest-per-key only", run.engine),
        line("part: encoding the winning rows", run.encode),
        line("floor: raw sqlite3, sorted, one executemany", run.floor),
        f"  end to end / (engine pull + raw write): {e2e / floors:.2f}x",
        f"  end to end / engine pull: {ratio:.2f}x (target {TARGET_VS_ENGINE}x: {ratio_met}); "
        f"{rate / 1e6:.2f}M source rows/s (target {TARGET_ROWS_PER_S / 1e6:g}M: {rate_met})",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--days", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--data", type=Path, default=DATA, help="where generated data goes")
    parser.add_argument("--quick", action="store_true", help="2,000 users x 3 days, one run")
    args = parser.parse_args()
    if args.quick:
        args.users, args.days, args.repeat = 2_000, 3, 1

    source_rows = args.users * args.days
    work = args.data / "materialize_repo"
    runs = [Run("fresh store"), Run("over stored rows, with corrections and ties")]
    sources = [
        ensure_source(args.users, args.days, data=args.data),
        ensure_source(args.users, args.days, corrections=True, data=args.data),
    ]
    for _ in range(args.repeat):
        for run, source, over_stored in zip(runs, sources, (False, True), strict=True):
            one_run(run, work, source, args.days, over_stored)
    if not runs[1].newer or not runs[1].ties:
        raise Disagreement("bench: the run over stored rows met no newer rows or no ties")

    print(
        f"materialize {source_rows:,} source rows ({args.users:,} keys x {args.days} days, "
        f"6 features incl. a string, created timestamps) into SQLite"
    )
    print("answers agree: the store's table equals the raw sqlite3 floor's, row by row")
    for run in runs:
        print("\n".join(report_lines(run, source_rows, args.repeat)))
    print(f"Python {sys.version.split()[0]}, SQLite {sqlite3.sqlite_version}")


if __name__ == "__main__":
    main()
