"""Point-in-time retrieval: wall time and peak memory, next to a hand-written DuckDB floor.

Data (generated once into ``bench/data/``): USERS users x 10 days of history, one Parquet
file per day, six features (one a string) and a created timestamp; 1% of rows are
corrections that repeat another row's (user, event time) with a later created time. The
entity frame holds random users (5% unknown) at random times.

- small: 1M feature rows (100k users) x 100k entity rows
- large: 10M feature rows (1M users) x 1M entity rows

Measured, each in a fresh subprocess, on the same files and the same in-memory entity table:

- ``skewless``: ``store.get_historical_features(entity_table, features).to_arrow()`` through a
  real repository (``feature_store.yaml``, registry, ``apply``);
- ``floor``: the best hand-written DuckDB query for the same answer: one ``ASOF LEFT JOIN``
  whose candidates are ordered by a struct of (event time, created time, file, row), so the
  row it picks is already the winner without deduplicating first, then the TTL as a
  ``CASE``, to Arrow. It does not restore the entity order;
- ``textbook query``: the usual way to write it: deduplicate per (user, event time) keeping
  the latest created row (``QUALIFY row_number()``), ASOF-join on the event time, then the TTL.

Before timing, every variant runs once on the same entity table and its answer is compared
with the floor's, exactly (same rows and values, row order aside); a disagreement stops the
benchmark with a non-zero exit.

Wall time is the best of N runs; peak memory is the peak RSS of a process that runs the
retrieval once (and its growth over the process's RSS just before the call).
Targets: time within 1.2x of the floor, peak memory within 1.5x.

With ``--engine spark`` (or ``--engine duckdb,spark``) the same retrieval also runs through a
repository whose ``offline_store`` is ``{type: spark, master: "local[2]"}`` (same files, same
registry contents), in the same run: ``spark`` is the best warm run, ``spark (cold)`` the
first one of a fresh process (session start, JVM warm-up and planning included). Spark runs
default to the small size; ``tiny`` (100k x 10k) separates Spark's fixed cost per query from
its cost per row.

``--materialize`` (with ``--engine duckdb,spark``) also times the latest-per-key
materialization of the whole history into a fresh ``redis-server`` (started on a free loopback
port, stopped at the end): DuckDB streaming to the driver, Spark streaming to the driver, and
Spark's executors writing Redis themselves (:mod:`skewless.offline.spark.materialize`).

Run: ``.venv/bin/python bench/pit.py --sizes small,large`` (``--repeat 5``, ``--no-write``);
``.venv/bin/python bench/pit.py --engine duckdb,spark --sizes tiny,small``;
``.venv/bin/python bench/pit.py --quick`` (a few seconds: the ``smoke`` size, one run, no
write; ``--data DIR`` puts the generated data elsewhere than ``bench/data/``).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from _agree import require_same_tables
from _data import START, feature_day
from _pit_spark import (
    SPARK_MASTER,
    children_rss_mb,
    materialize_lines,
    materialize_worker,
    per_row_costs,
    write_spark_results,
)
from _results import RESULTS, conditions, replace_section

BENCH = Path(__file__).resolve().parent
DATA = BENCH / "data"
SECTION = "## Point-in-time retrieval (`bench/pit.py`)"
DAYS = 10
TTL_DAYS = 2
FEATURES = [
    "total_purchases",
    "avg_purchase_amount",
    "days_since_last_login",
    "preferred_category",
    "session_minutes",
    "churn_score",
]
SIZES = {
    "smoke": (2_000, 2_000),
    "tiny": (10_000, 10_000),
    "small": (100_000, 100_000),
    "large": (1_000_000, 1_000_000),
}
ENGINES = ("duckdb", "spark")
TARGET_TIME, TARGET_MEMORY = 1.2, 1.5


@dataclass(frozen=True)
class Dataset:
    name: str
    users: int
    entities: int
    data: Path = DATA

    @classmethod
    def of(cls, size: str, data: Path = DATA) -> Dataset:
        return cls(size, *SIZES[size], data)

    @property
    def root(self) -> Path:
        return self.data / f"pit_{self.name}"

    @property
    def features(self) -> Path:
        return self.root / "user_stats"

    @property
    def entity_file(self) -> Path:
        return self.root / "entities.parquet"

    @property
    def repo(self) -> Path:
        return self.root / "repo"

    @property
    def spark_repo(self) -> Path:
        return self.root / "repo_spark"


# -- data ---------------------------------------------------------------------------------
def generate(ds: Dataset) -> None:
    """Write the feature files, the entity frame and the repository (once)."""
    done = ds.root / "_complete"
    if done.exists():
        return
    shutil.rmtree(ds.root, ignore_errors=True)
    ds.features.mkdir(parents=True)
    rng = np.random.default_rng(7)
    n = ds.users
    for day in range(DAYS):
        table = feature_day(rng, n, day, corrections=True)
        pq.write_table(table, ds.features / f"day-{day:02d}.parquet", row_group_size=122_880)
    span = (DAYS + 1) * 86_400_000_000
    at = np.datetime64(START.replace(tzinfo=None), "us") + rng.integers(
        0, span, ds.entities
    ).astype("timedelta64[us]")
    entities = pa.table(
        {
            "user_id": rng.integers(0, int(n * 1.05), ds.entities).astype(np.int64),
            "event_timestamp": pa.array(at, pa.timestamp("us", "UTC")),
            "label": rng.integers(0, 2, ds.entities).astype(np.int8),
        }
    )
    pq.write_table(entities, ds.entity_file)
    make_repo(ds)
    done.touch()


def make_repo(ds: Dataset, engine: str = "duckdb") -> None:
    from skewless import Entity, FeatureStore, FeatureView, Field, FileSource
    from skewless.types import Float32, Float64, Int32, Int64, String

    repo = ds.repo if engine == "duckdb" else ds.spark_repo
    offline = (
        "{type: duckdb}"
        if engine == "duckdb"
        else f'{{type: spark, master: "{SPARK_MASTER}", spark_conf: '
        '{"spark.driver.memory": "4g", "spark.sql.shuffle.partitions": "4"}}'
    )
    repo.mkdir(parents=True, exist_ok=True)
    (repo / "feature_store.yaml").write_text(
        "project: pit_bench\n"
        "registry: registry.db\n"
        "provider: local\n"
        "online_store: {type: sqlite, path: online.db}\n"
        f"offline_store: {offline}\n"
    )
    user = Entity(name="user", join_keys=["user_id"])
    types = [Int64, Float64, Int32, String, Float32, Float64]
    view = FeatureView(
        name="user_stats",
        entities=[user],
        ttl=timedelta(days=TTL_DAYS),
        schema=[Field(name=f, dtype=t) for f, t in zip(FEATURES, types, strict=True)],
        source=FileSource(
            path="../user_stats",
            timestamp_field="event_timestamp",
            created_timestamp_column="created",
        ),
    )
    with FeatureStore(repo_path=repo) as store:
        store.apply([user, view])


def ensure_spark_repo(ds: Dataset) -> None:
    """The Spark repository of a dataset (made once, beside the DuckDB one)."""
    if not (ds.spark_repo / "registry.db").exists():
        make_repo(ds, "spark")


# -- the measured variants (run inside a worker process) -----------------------------------
def _fresh(column: str) -> str:
    """A feature of the joined row, null when the row is older than the TTL."""
    oldest = f"e.event_timestamp - INTERVAL {TTL_DAYS} DAY"
    return f"CASE WHEN f.event_timestamp >= {oldest} THEN f.{column} END AS {column}"


def floor_sql(ds: Dataset) -> str:
    """The floor: one ASOF join whose candidates are ordered by a struct of (event time,
    created time, file, row), so the greatest one at or before the entity time is the winner
    of docs/semantics.md, "Which row wins", without deduplicating first; then the TTL."""
    files = f"read_parquet('{ds.features}/*.parquet')"  # the glob is in path order
    order = "{'t': event_timestamp, 'c': created, 'f': file_index, 'r': file_row_number}"
    probe = (
        "{'t': e.event_timestamp, 'c': 'infinity'::TIMESTAMPTZ, "
        f"'f': {2**63 - 1}::UBIGINT, 'r': {2**63 - 1}::BIGINT}}"
    )
    return (
        f"SELECT e.*, {', '.join(_fresh(c) for c in FEATURES)} FROM entity AS e "
        f"ASOF LEFT JOIN (SELECT user_id, event_timestamp, {order} AS o, {', '.join(FEATURES)} "
        f"FROM {files}) AS f ON e.user_id = f.user_id AND {probe} >= f.o"
    )


def textbook_sql(ds: Dataset) -> str:
    """The textbook query: keep the latest row per (user, event time) with ``row_number()``,
    then ASOF-join on the event time alone; then the TTL."""
    files = f"read_parquet('{ds.features}/*.parquet')"
    latest = (
        f"SELECT user_id, event_timestamp, {', '.join(FEATURES)} FROM {files} "
        "QUALIFY row_number() OVER (PARTITION BY user_id, event_timestamp "
        "ORDER BY created DESC, file_index DESC, file_row_number DESC) = 1"
    )
    return (
        f"SELECT e.*, {', '.join(_fresh(c) for c in FEATURES)} FROM entity AS e "
        f"ASOF LEFT JOIN ({latest}) AS f "
        "ON e.user_id = f.user_id AND e.event_timestamp >= f.event_timestamp"
    )


def runner(ds: Dataset, variant: str) -> Any:
    """A callable running one retrieval to an Arrow table."""
    if variant in ("skewless", "spark"):
        from skewless import FeatureStore

        # A local Spark master starts Python workers: the same interpreter as this one.
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)

        store = FeatureStore(repo_path=ds.repo if variant == "skewless" else ds.spark_repo)
        refs = [f"user_stats:{f}" for f in FEATURES]
        return lambda entity: store.get_historical_features(entity, refs).to_arrow()
    import duckdb

    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    sql = {"floor": floor_sql, "textbook_query": textbook_sql}[variant](ds)

    def run(entity: pa.Table) -> pa.Table:
        con.register("entity", entity)
        try:
            return con.sql(sql).to_arrow_table()
        finally:
            con.unregister("entity")

    return run


def check_worker(ds: Dataset, chosen: list[str]) -> dict[str, Any]:
    """Run every variant once on the same entity table; exit non-zero unless each answer
    equals the floor's (same rows, same values, compared exactly; row order aside)."""
    entity = pq.read_table(ds.entity_file)
    reference = runner(ds, "floor")(entity)
    for variant in chosen:
        if variant != "floor":
            require_same_tables("floor", reference, variant, runner(ds, variant)(entity))
    return {"agree": chosen, "rows": reference.num_rows}


def rss_mb() -> float:
    import psutil

    return float(psutil.Process().memory_info().rss) / 2**20


def worker(ds: Dataset, variant: str, repeat: int) -> dict[str, Any]:
    entity = pq.read_table(ds.entity_file)
    run = runner(ds, variant)
    before = rss_mb()
    times = []
    rows = 0
    for _ in range(repeat):
        began = time.perf_counter()
        rows = run(entity).num_rows
        times.append(time.perf_counter() - began)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    return {
        "best": min(times),
        "times": times,
        "rows": rows,
        "peak": peak,
        "base": before,
        "jvm": children_rss_mb(),
    }


def measure(ds: Dataset, variant: str, repeat: int, extra: tuple[str, ...] = ()) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--worker", variant, "--size", ds.name]
    cmd += ["--repeat", str(repeat), "--data", str(ds.data), *extra]
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=BENCH.parent)
    if out.returncode:
        sys.exit(f"{variant} worker failed:\n{out.stderr.strip()}")
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


# -- report ---------------------------------------------------------------------------------
VARIANTS = ["floor", "skewless", "textbook query"]


def variants(engines: list[str]) -> list[str]:
    """The measured variants of the chosen engines."""
    return (VARIANTS if "duckdb" in engines else []) + (["spark"] if "spark" in engines else [])


def bench_size(
    ds: Dataset, repeat: int, rounds: int, engines: list[str] | None = None
) -> dict[str, dict[str, Any]]:
    """Time (best over alternating rounds) and memory (one fresh single run) per variant.

    Spark's first run of each process is its cold time (kept apart from the warm ones)."""
    chosen = variants(engines or ["duckdb"])
    measure(ds, "check", 1, ("--variants", ",".join(v.replace(" ", "_") for v in chosen)))
    timing: dict[str, list[float]] = {v: [] for v in chosen}
    cold: list[float] = []
    single: dict[str, dict[str, Any]] = {}
    for _ in range(rounds):
        for variant in chosen:
            run = measure(ds, variant.replace(" ", "_"), repeat + (variant == "spark"))
            times = run["times"]
            if variant == "spark":
                cold.append(times[0])
                times = times[1:]
            elif repeat == 1:
                single[variant] = run  # a fresh process that ran the retrieval once
            timing[variant] += times
    result = {}
    for variant in chosen:
        memory = single.get(variant) or measure(ds, variant.replace(" ", "_"), 1)
        result[variant] = {
            "best": min(timing[variant]),
            "median": float(np.median(timing[variant])),
            "peak": memory["peak"],
            "growth": memory["peak"] - memory["base"],
            "rows": memory["rows"],
            "jvm": memory["jvm"],
        }
        if variant == "spark":
            result["spark (cold)"] = {**result["spark"], "best": min(cold)}
            result["spark (cold)"]["median"] = float(np.median(cold))
    return result


def table(results: dict[str, dict[str, dict[str, Any]]]) -> list[str]:
    spark = any("spark" in by_variant for by_variant in results.values())
    lines = [
        "| size | variant | best time | median | vs floor | peak RSS | RSS growth | vs floor |"
        + (" JVM RSS |" if spark else ""),
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |" + (" ---: |" if spark else ""),
    ]
    for size, by_variant in results.items():
        users, entities = SIZES[size]
        label = f"{size}: {users * DAYS / 1e6:g}M x {entities / 1e3:g}k"
        floor = by_variant.get("floor")
        for variant, r in by_variant.items():
            vs_time = f"{r['best'] / floor['best']:.2f}x" if floor else "-"
            vs_peak = f"{r['peak'] / floor['peak']:.2f}x" if floor else "-"
            jvm = (f" {r['jvm']:.0f} MB |" if r.get("jvm") else " - |") if spark else ""
            lines.append(
                f"| {label} | {variant} | {r['best']:.3f} s | {r['median']:.3f} s | "
                f"{vs_time} | {r['peak']:.0f} MB | {r['growth']:.0f} MB | {vs_peak} |{jvm}"
            )
    return lines


def write_results(command: str, lines: list[str], verdicts: list[str]) -> None:
    body = [
        SECTION,
        "",
        f"Command: `{command}` ({conditions()}).",
        "",
        "Time is the best of the runs (median beside it); memory is the peak RSS of a fresh "
        "process that loads the entity table and runs the retrieval once (growth: over its RSS "
        "just before the call). The floor is one ASOF join ordered by a struct of (event time, "
        "created time, file, row), then the TTL; the textbook query deduplicates per (user, "
        "event time) with `row_number()` first. Every variant's answer was checked equal to "
        "the floor's before timing. Targets: time within "
        f"{TARGET_TIME}x of the floor, peak memory within {TARGET_MEMORY}x.",
        "",
        *lines,
        "",
        *verdicts,
        "",
        "skewless does the floor's work plus the microsecond/UTC normalization of the source "
        "times, the null-created ranking and restoring the entity order.",
        "",
    ]
    replace_section(SECTION, body)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", help="default: small,large; small with --engine spark")
    parser.add_argument("--engine", default="duckdb", help="duckdb, spark or duckdb,spark")
    parser.add_argument("--repeat", type=int, default=3, help="runs per process")
    parser.add_argument("--rounds", type=int, default=2, help="processes per variant")
    parser.add_argument("--no-write", action="store_true", help="do not update RESULTS.md")
    parser.add_argument(
        "--quick", action="store_true", help="smoke size, one run, no write (checks agreement)"
    )
    parser.add_argument("--data", type=Path, default=DATA, help="where generated data goes")
    parser.add_argument(
        "--materialize", action="store_true", help="also time materialization into Redis"
    )
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--size", help=argparse.SUPPRESS)
    parser.add_argument("--variants", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.quick:
        args.sizes, args.repeat, args.rounds, args.no_write = "smoke", 1, 1, True

    if args.worker:
        ds = Dataset.of(args.size, args.data)
        if args.worker == "materialize":
            out = materialize_worker(ds.repo, ds.spark_repo, DAYS, args.repeat)
        elif args.worker == "check":
            out = check_worker(ds, args.variants.split(","))
        else:
            out = worker(ds, args.worker, args.repeat)
        print(json.dumps(out))
        return

    engines = [e.strip() for e in args.engine.split(",") if e.strip()]
    unknown = [e for e in engines if e not in ENGINES]
    if unknown or not engines:
        parser.error(f"--engine {args.engine!r}: use duckdb, spark or duckdb,spark")
    sizes = args.sizes or ("small" if "spark" in engines else "small,large")
    bad = [s for s in sizes.split(",") if s not in SIZES]
    if bad:
        parser.error(f"--sizes {sizes!r}: use some of {', '.join(SIZES)}")
    results = {}
    verdicts = []
    for size in sizes.split(","):
        ds = Dataset.of(size, args.data)
        print(f"[{size}] preparing data in {ds.root} ...", flush=True)
        generate(ds)
        if "spark" in engines:
            ensure_spark_repo(ds)
        results[size] = bench_size(ds, args.repeat, args.rounds, engines)
        r = results[size]
        print(f"[{size}] answers agree: {', '.join(variants(engines))}", flush=True)
        if "duckdb" not in engines:
            print("\n".join(table({size: r})), flush=True)
            continue
        t = r["skewless"]["best"] / r["floor"]["best"]
        m = r["skewless"]["peak"] / r["floor"]["peak"]
        verdicts.append(
            f"- {size}: time {t:.2f}x (target {TARGET_TIME}x: "
            f"{'met' if t <= TARGET_TIME else 'not met'}), peak memory {m:.2f}x (target "
            f"{TARGET_MEMORY}x: {'met' if m <= TARGET_MEMORY else 'not met'})"
        )
        print("\n".join(table({size: r})), flush=True)
    lines = table(results)
    costs = per_row_costs(results, {size: SIZES[size][0] * DAYS for size in SIZES})
    if args.materialize and "spark" in engines:
        size = sizes.split(",")[-1]
        print(f"[{size}] materialization into Redis ...", flush=True)
        done = measure(Dataset.of(size, args.data), "materialize", args.repeat)
        label = f"{size}: {SIZES[size][0] * DAYS / 1e6:g}M source rows, {SIZES[size][0]:,} keys"
        costs += ["", f"Materialization ({label}):", "", *materialize_lines(done)]
    print("\n" + "\n".join([*lines, "", *verdicts, *costs]))
    if not args.no_write:
        command = (".venv/bin/python bench/pit.py " + " ".join(sys.argv[1:])).strip()
        if "spark" in engines:
            write_spark_results(command, lines, costs)
        else:
            write_results(command, lines, verdicts)
        print(f"\nwrote {RESULTS.relative_to(BENCH.parent)}")


if __name__ == "__main__":
    main()
