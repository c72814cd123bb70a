"""The Spark parts of bench/pit.py: materialization into Redis per path, and the report."""

from __future__ import annotations

import os
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from _data import START
from _results import conditions, replace_section

SPARK_SECTION = "## Spark offline engine (`bench/pit.py --engine duckdb,spark`)"
SPARK_MASTER = "local[2]"
BENCH = Path(__file__).resolve().parent


def materialize_worker(duck_repo: Path, spark_repo: Path, days: int, repeat: int) -> dict[str, Any]:
    """Seconds to materialize all history into Redis, per path (best of ``repeat``, each on
    an emptied server), and the rows written."""
    sys.path.insert(0, str(BENCH.parent / "tests"))
    from redis_server import RedisServer

    from skewless import FeatureStore
    from skewless.config import RedisOnlineConfig
    from skewless.offline.spark.materialize import write_from_executors
    from skewless.online.codec import ViewCodec
    from skewless.online.redis.store import RedisOnlineStore

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    end = START + timedelta(days=days + 1)
    out: dict[str, Any] = {}
    with (
        RedisServer() as server,
        FeatureStore(repo_path=duck_repo) as duck,
        FeatureStore(repo_path=spark_repo) as spark,
    ):
        online = RedisOnlineStore(
            RedisOnlineConfig(connection_string=server.connection_string), duck_repo.parent
        )
        view = duck.get_feature_view("user_stats")
        codec = ViewCodec(view)

        def driver(engine: Any) -> int:
            written = 0
            for batch in engine.latest_per_key(view, None, end):
                written += online.write("t", codec.encode_rows(batch))
            return written

        paths = {
            "duckdb, driver": lambda: driver(duck.offline_engine),
            "spark, driver": lambda: driver(spark.offline_engine),
            "spark, executors": lambda: write_from_executors(
                spark.offline_engine, online, view, "t", None, end
            ),
        }
        paths["spark, executors"]()  # warm the session and the Python workers
        for name, run in paths.items():
            times = []
            for _ in range(repeat):
                server.flushall()
                began = time.perf_counter()
                rows = run()
                times.append(time.perf_counter() - began)
            out[name] = {"best": min(times), "rows": rows}
        online.close()
    return out


def materialize_lines(result: dict[str, Any]) -> list[str]:
    lines = [
        "| materialize all history into Redis | best time | rows written | rows/s |",
        "| --- | ---: | ---: | ---: |",
    ]
    for name, r in result.items():
        lines.append(
            f"| {name} | {r['best']:.2f} s | {r['rows']:,} | {r['rows'] / r['best'] / 1e3:.0f}k |"
        )
    return lines


def write_spark_results(command: str, lines: list[str], costs: list[str]) -> None:
    """Replace (or append) the Spark section of RESULTS.md."""
    body = [
        SPARK_SECTION,
        "",
        f"Command: `{command}` ({conditions()}, Spark `{SPARK_MASTER}`).",
        "",
        "The same retrieval (`get_historical_features(...).to_arrow()`, six features, TTL, "
        "created-timestamp tie-break) on the same files, through a DuckDB repository and a "
        "Spark repository, in one run; every variant's answer is checked equal to the floor's "
        "before timing. `spark` is the best warm run in a process; "
        "`spark (cold)` the first run of a fresh process (session start and JVM warm-up "
        "included). Peak RSS is the Python driver's; JVM RSS is Spark's JVM after the run.",
        "",
        *lines,
        "",
        "Cost per feature row and fixed cost per query (two-point fit):",
        "",
        *costs,
        "",
    ]
    replace_section(SPARK_SECTION, body)


def children_rss_mb() -> float:
    """The RSS of this process's child processes now (Spark's JVM), in MB."""
    import psutil

    total = 0
    for child in psutil.Process().children(recursive=True):
        try:
            total += child.memory_info().rss
        except psutil.Error:
            continue
    return total / 2**20


def per_row_costs(
    results: dict[str, dict[str, dict[str, Any]]], feature_rows: dict[str, int]
) -> list[str]:
    """Fixed cost per query and cost per feature row of each engine, fitted on two sizes
    (``t = fixed + rows x per_row`` through the smallest and the largest size measured;
    ``feature_rows`` gives each size's rows, smallest first)."""
    sizes = [s for s in feature_rows if s in results]
    if len(sizes) < 2:
        return []
    low, high = sizes[0], sizes[-1]
    rows = {s: feature_rows[s] for s in (low, high)}
    lines = []
    for variant in ("skewless", "floor", "textbook query", "spark"):
        if variant not in results[low] or variant not in results[high]:
            continue
        t_low, t_high = results[low][variant]["best"], results[high][variant]["best"]
        per_row = (t_high - t_low) / (rows[high] - rows[low])
        fixed = t_low - per_row * rows[low]
        lines.append(
            f"- {variant}: {per_row * 1e9:.0f} ns per feature row "
            f"({1 / per_row / 1e6:.2f}M rows/s), fixed {fixed * 1e3:.0f} ms per query "
            f"(fitted on {low} and {high})"
        )
    return lines
