"""Profile build: skewless's profile next to the exact per-column figures computed by hand.

Data (generated once into ``--data``, default bench/data/profile): ROWS rows x 50 columns as
one Parquet file in row groups of 1M rows: 40 numeric columns of mixed shapes (normal,
lognormal, gamma, uniform, integers of 5 to 1000 values, 2% nulls or NaN in some) and 10
string columns of 3 to 30 categories.

Measured over the same record batches read with ``pyarrow.dataset`` (``--batch-rows``), best
of ``--repeat`` runs:

- ``skewless``: ``build_profile(path, bins=edges)``: per column count, nulls, min/max,
  mean/variance, an exact histogram on 20 fixed bins, the KLL quantile sketch, the distinct
  estimate and category counts, columns in parallel on a thread pool;
- ``floor``: only the exact figures, hand-written over the same batches with the same thread
  pool: ``null_count``, ``pyarrow.compute.min_max``, numpy mean and sum of squared deviations
  merged per batch, ``numpy.histogram`` on the same edges, and
  ``pyarrow.compute.value_counts`` for the strings.

Before timing, the floor's figures are checked against the profile's: counts, nulls, min,
max, histogram and category counts exactly, mean and variance within a relative 1e-9; a
disagreement exits non-zero.

Run: ``.venv/bin/python bench/profile_build.py`` (10M rows); ``--quick`` for a tiny run (20k rows x
50 columns in a temporary directory) that only checks the variants agree.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq
from _agree import require_equal
from _results import conditions, replace_section

from skewless.monitoring.profile import Profile
from skewless.monitoring.profile_build import build_profile

NUMERIC, STRINGS, BINS = 40, 10, 20
SECTION = "## Profile build (`bench/profile_build.py`)"


def numeric_column(rng: np.random.Generator, i: int, rows: int) -> pa.Array:
    shape = i % 5
    if shape == 0:
        values = rng.normal(i, 1 + i % 3, rows)
    elif shape == 1:
        values = rng.lognormal(0, 1.5, rows)
    elif shape == 2:
        values = rng.gamma(2.0, 3.0, rows)
    elif shape == 3:
        values = rng.random(rows) * 100
    else:
        return pa.array(rng.integers(0, [5, 50, 1000][i % 3], rows))
    if i % 4 == 0:
        values[rng.random(rows) < 0.02] = np.nan
    return pa.array(values)


def generate(path: Path, rows: int, group: int = 1_000_000) -> None:
    """The data file (kept between runs: regenerated only when missing or of another size)."""
    if path.exists() and pq.ParquetFile(path).metadata.num_rows == rows:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(11)
    names = [f"n{i:02d}" for i in range(NUMERIC)] + [f"s{i}" for i in range(STRINGS)]
    writer = None
    temporary = path.with_name(path.name + ".tmp")
    for start in range(0, rows, group):
        n = min(group, rows - start)
        columns = [numeric_column(rng, i, n) for i in range(NUMERIC)]
        for i in range(STRINGS):
            pool = np.array([f"cat_{i}_{j}" for j in range(3 + 3 * i)])
            columns.append(pa.array(pool[rng.integers(0, len(pool), n)]))
        table = pa.table(dict(zip(names, columns, strict=True)))
        if writer is None:
            writer = pq.ParquetWriter(temporary, table.schema)
        writer.write_table(table)
    assert writer is not None
    writer.close()
    temporary.replace(path)


def fixed_edges(path: Path) -> dict[str, list[float]]:
    """20 equal-width bins per numeric column over the range of the first row group."""
    first = pq.ParquetFile(path).read_row_group(0)
    edges = {}
    for name in first.column_names[:NUMERIC]:
        bounds = pc.min_max(first.column(name))
        low, high = float(bounds["min"].as_py()), float(bounds["max"].as_py())
        edges[name] = [float(e) for e in np.linspace(low, high, BINS + 1)]
    return edges


# -- the floor --------------------------------------------------------------------------------
class Exact:
    """The exact figures of one column, batch by batch."""

    def __init__(self, edges: list[float] | None) -> None:
        self.edges = np.asarray(edges) if edges is not None else None
        self.count = self.nulls = 0
        self.low, self.high = math.inf, -math.inf
        self.mean, self.m2 = 0.0, 0.0
        self.bins = np.zeros(len(edges) + 1 if edges is not None else 0, dtype=np.int64)
        self.categories: dict[str, int] = {}

    def update(self, column: pa.Array) -> None:
        if self.edges is None:
            self.nulls += column.null_count
            counted = pc.value_counts(column.drop_null())
            values, counts = counted.field("values"), counted.field("counts")
            for v, c in zip(values.to_pylist(), counts.to_pylist(), strict=True):
                self.categories[v] = self.categories.get(v, 0) + c
            return
        values = column.drop_null().to_numpy(zero_copy_only=False).astype(np.float64, copy=False)
        nan = np.isnan(values)
        self.nulls += column.null_count + int(nan.sum())
        if nan.any():
            values = values[~nan]
        n = values.size
        bounds = pc.min_max(values)
        self.low = min(self.low, bounds["min"].as_py())
        self.high = max(self.high, bounds["max"].as_py())
        mean = float(values.mean())
        d = values - mean
        m2 = float(np.dot(d, d))
        total = self.count + n
        delta = mean - self.mean
        self.mean += delta * n / total
        self.m2 += m2 + delta * delta * self.count * n / total
        self.count = total
        self.bins[1:-1] += np.histogram(values, bins=self.edges)[0]
        self.bins[0] += np.count_nonzero(values < self.edges[0])
        self.bins[-1] += np.count_nonzero(values > self.edges[-1])


def floor(path: Path, edges: dict[str, list[float]], batch_rows: int) -> dict[str, Exact]:
    dataset = ds.dataset(str(path), format="parquet")
    names = dataset.schema.names
    out = {n: Exact(edges.get(n)) for n in names}
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        for batch in dataset.to_batches(batch_size=batch_rows):
            for f in [pool.submit(out[n].update, batch.column(i)) for i, n in enumerate(names)]:
                f.result()
    return out


def check(profile: Profile, exact: dict[str, Exact]) -> None:
    for name, want in exact.items():
        got = profile[name]
        if want.edges is None:
            require_equal(
                f"floor {name}",
                [want.nulls, want.categories],
                f"skewless {name}",
                [got.nulls, got.categories],
            )
            continue
        assert got.histogram is not None
        hist = [got.histogram.below, *got.histogram.counts, got.histogram.above]
        require_equal(
            f"floor {name}",
            [want.count, want.nulls, want.low, want.high, want.bins.tolist()],
            f"skewless {name}",
            [got.count, got.nulls, got.min, got.max, hist],
        )
        for label, a, b in (("mean", want.mean, got.mean), ("m2", want.m2, got.m2)):
            if b is None or not math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9):
                raise SystemExit(
                    f"bench: variants disagree: {name} {label}: floor {a}, skewless {b}"
                )


def best(run: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = run()
        times.append(time.perf_counter() - start)
    return min(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--batch-rows", type=int, default=1 << 20)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--data", type=Path, default=Path(__file__).parent / "data" / "profile")
    parser.add_argument("--quick", action="store_true", help="20k rows, one run, no RESULTS.md")
    args = parser.parse_args()
    if args.quick:
        args.rows, args.repeat, args.batch_rows = 20_000, 1, 4096
        if args.data == parser.get_default("data"):
            args.data = Path(tempfile.mkdtemp())
    path = args.data / f"profile-{args.rows}.parquet"
    generate(path, args.rows, min(1_000_000, args.rows))
    edges = fixed_edges(path)
    profile = build_profile(path, bins=edges, batch_rows=args.batch_rows)
    check(profile, floor(path, edges, args.batch_rows))
    print(
        "answers agree: floor and skewless (counts, nulls, min/max, histograms, categories; "
        "mean/variance within 1e-9)"
    )
    t_floor, _ = best(lambda: floor(path, edges, args.batch_rows), args.repeat)
    t_profile, _ = best(
        lambda: build_profile(path, bins=edges, batch_rows=args.batch_rows), args.repeat
    )
    rows = args.rows
    lines = [
        "| variant | best time | rows/s | vs floor |",
        "| --- | ---: | ---: | ---: |",
        f"| floor: exact figures only (pyarrow.compute / numpy per column) | {t_floor:.2f} s "
        f"| {rows / t_floor:,.0f} | 1.00x |",
        "| skewless build_profile (exact figures + KLL + distinct + categories) "
        f"| {t_profile:.2f} s | {rows / t_profile:,.0f} | {t_profile / t_floor:.2f}x |",
    ]
    size = f"{rows / 1e6:g}M rows x {NUMERIC + STRINGS} columns"
    print(f"{size}, batches of {args.batch_rows:,} rows")
    print("\n".join(lines))
    x = profile[f"n{0:02d}"]
    size_mb = len(profile.to_bytes()) / 1e6
    k = x.sketch.k if x.sketch else "-"
    print(f"KLL k={k}: rank error {x.rank_error:.4f}; profile {size_mb:.2f} MB")
    if args.quick:
        return
    replace_section(
        SECTION,
        [
            SECTION,
            "",
            f"Command: `.venv/bin/python bench/profile_build.py --rows {rows}` ({conditions()}).",
            "",
            f"{size} in one Parquet file (40 numeric of mixed shapes, 10 strings of 3-30 "
            f"categories), read in batches of {args.batch_rows:,} rows with `pyarrow.dataset`; "
            "best of "
            f"{args.repeat} runs. The floor computes only the exact figures (count, nulls, "
            "min/max, mean/variance, a 20-bin histogram, category counts) over the same batches "
            "on the same thread pool; the profile adds the KLL quantile sketch, the distinct "
            "estimate and the top-k cap. Both answers were checked equal before timing.",
            "",
            *lines,
            "",
            f"KLL k={k}, rank error ε = {x.rank_error:.4f}; the whole profile is "
            f"{size_mb:.2f} MB of JSON.",
        ],
    )


if __name__ == "__main__":
    sys.exit(main())
