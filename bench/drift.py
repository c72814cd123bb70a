"""Drift report throughput: 1M reference + 1M current rows x 50 columns.

The data: 40 numerical columns of mixed shapes (normal, lognormal, uniform, exponential,
integers with many values, a four-valued column, Student t, a mixture; 1% nulls in some) and
10 categorical text columns of 3 to 30 categories; drift is injected into 14 of them (10
numerical, 4 categorical). It is generated once into ``bench/data/`` and reused.

Timed in the same run, on the same frames:

- ``skewless``: ``drift_report(reference, current)`` from pandas frames, end to end, with
  its peak RSS above the loaded data (sampled every 10 ms);
- ``skewless, stored profile``: ``drift_report(profile, current)``, the reference being its
  stored profile (built once from the reference file with a saved dataset's 100 bins and read
  back from its bytes, outside the timing), the current data the same frame;
- ``floor``: a plain numpy/scipy loop over the columns computing the same statistics
  (``scipy.stats.wasserstein_distance``, ``scipy.spatial.distance.jensenshannon``, ...);
- ``Evidently 0.7``: ``DataDriftPreset`` in a cached side virtualenv (``bench/.venvs/evidently``,
  pandas < 3), skipped with the reason when it does not install.

The floor's statistics must equal the report's to 1e-9 relative and give the same drifted
columns; the run from the stored profile and Evidently must give the same drifted columns. A
disagreement exits non-zero. Targets: ``drift_report`` <= 5 s and <= 1 GiB peak above the
data; from a stored reference profile <= 3 s.

Run: ``.venv/bin/python bench/drift.py`` (``--rows 1000000``); ``--quick`` for a small run
that checks the answers agree; ``--no-evidently`` to leave Evidently out.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import psutil
import pyarrow.parquet as pq
from _agree import Disagreement
from _results import conditions, replace_section
from scipy import stats
from scipy.spatial import distance

from skewless.monitoring import DriftReport, Profile, build_profile, drift_report
from skewless.monitoring.profile_build import DATASET_BINS

BENCH = Path(__file__).resolve().parent
DATA = BENCH / "data"
EVIDENTLY_VENV = BENCH / ".venvs" / "evidently"
SHAPES = ("normal", "lognormal", "uniform", "exponential", "int_many", "four", "t", "mixture")
TARGET_SECONDS = 5.0
TARGET_PROFILE_SECONDS = 3.0
TARGET_PEAK = 1 << 30
SECTION = "## Drift report (bench/drift.py)"


# -- data ----------------------------------------------------------------------------------------
def numeric(rng: np.random.Generator, shape: str, n: int, drift: bool) -> np.ndarray:
    s = 0.3 if drift else 0.0
    if shape == "normal":
        x = rng.normal(10 + s, 2.0, n)
    elif shape == "lognormal":
        x = rng.lognormal(s, 0.8, n)
    elif shape == "uniform":
        x = rng.uniform(s * 30, 100, n)
    elif shape == "exponential":
        x = rng.exponential(1.0 + s, n)
    elif shape == "int_many":
        x = rng.integers(0, 1000 + int(s * 1000), n).astype(np.float64)
    elif shape == "four":
        x = rng.choice([0.0, 1.0, 2.0, 3.0], n, p=[0.4, 0.3, 0.2, 0.1] if not drift else None)
    elif shape == "t":
        x = rng.standard_t(4, n) * (1.5 if drift else 1.0)
    else:
        x = np.where(rng.random(n) < (0.3 + s), rng.normal(-2, 1, n), rng.normal(3, 1, n))
    return x


def frames(rows: int) -> tuple[pd.DataFrame, pd.DataFrame, list[str], list[str], list[str]]:
    """(reference, current, numerical names, categorical names, drifted names), cached."""
    folder = DATA / f"drift_{rows}"
    numerical = [f"n{i:02d}_{SHAPES[i % len(SHAPES)]}" for i in range(40)]
    categorical = [f"c{i}" for i in range(10)]
    drifted = numerical[:10] + categorical[:4]
    if not (folder / "_complete").exists():
        folder.mkdir(parents=True, exist_ok=True)
        rng = np.random.default_rng(11)
        for side in ("reference", "current"):
            columns: dict[str, Any] = {}
            for i, name in enumerate(numerical):
                x = numeric(rng, SHAPES[i % len(SHAPES)], rows, side == "current" and i < 10)
                if i % 7 == 3:
                    x[rng.random(rows) < 0.01] = np.nan
                columns[name] = x
            for i, name in enumerate(categorical):
                k = 3 + (27 * i) // 9
                names = np.array([f"{name}_v{j}" for j in range(k)])
                w = np.linspace(1.0, 3.0, k)
                if side == "current" and i < 4:
                    w = w[::-1] ** 2
                columns[name] = names[rng.choice(k, rows, p=w / w.sum())]
            pd.DataFrame(columns).to_parquet(folder / f"{side}.parquet", index=False)
        (folder / "_complete").touch()
    ref = pq.read_table(folder / "reference.parquet").to_pandas()
    cur = pq.read_table(folder / "current.parquet").to_pandas()
    return ref, cur, numerical, categorical, drifted


# -- measuring -----------------------------------------------------------------------------------
def timed(fn: Callable[[], Any]) -> tuple[Any, float, int]:
    """fn's result, its seconds, and its peak RSS above the RSS before it."""
    process = psutil.Process()
    base = process.memory_info().rss
    peak = [base]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.01):
            peak[0] = max(peak[0], process.memory_info().rss)

    watcher = threading.Thread(target=sample, daemon=True)
    watcher.start()
    start = time.perf_counter()
    result = fn()
    seconds = time.perf_counter() - start
    done.set()
    watcher.join()
    return result, seconds, max(peak[0], process.memory_info().rss) - base


def floor(ref: pd.DataFrame, cur: pd.DataFrame, report: DriftReport) -> dict[str, float]:
    """The report's tests, column by column, as plain numpy/scipy calls."""
    out: dict[str, float] = {}
    for name, column in report.columns.items():
        r, c = ref[name].dropna(), cur[name].dropna()
        if column.test == "wasserstein":
            rv, cv = r.to_numpy(np.float64), c.to_numpy(np.float64)
            out[name] = stats.wasserstein_distance(rv, cv) / max(np.std(rv), 0.001)
        elif column.test == "ks":
            out[name] = stats.ks_2samp(r.to_numpy(), c.to_numpy()).statistic
        elif column.test == "jensenshannon":
            rc, cc = r.value_counts(), c.value_counts()
            keys = rc.index.union(cc.index)
            rp = rc.reindex(keys, fill_value=0).to_numpy() / len(r)
            cp = cc.reindex(keys, fill_value=0).to_numpy() / len(c)
            out[name] = float(distance.jensenshannon(rp, cp))
        else:
            raise Disagreement(f"the floor has no {column.test!r}: extend it")
    return out


def check_floor(report: DriftReport, statistics: dict[str, float]) -> None:
    for name, value in statistics.items():
        got = report.columns[name].statistic
        if not np.isclose(got, value, rtol=1e-9, atol=1e-12):
            raise Disagreement(f"{name}: drift_report says {got!r}, the floor {value!r}")
    floor_drifted = [n for n, v in statistics.items() if v >= report.columns[n].threshold]
    if floor_drifted != report.drifted_columns:
        raise Disagreement(f"drifted: floor {floor_drifted}, drift_report {report.drifted_columns}")


def stored_profile(rows: int) -> Profile:
    """The reference's profile as a saved dataset stores it (100 bins), read back."""
    profile = build_profile(DATA / f"drift_{rows}" / "reference.parquet", bins=DATASET_BINS)
    return Profile.from_bytes(profile.to_bytes())


def check_profile_run(report: DriftReport, from_profile: DriftReport) -> None:
    if from_profile.drifted_columns != report.drifted_columns:
        raise Disagreement(
            f"drifted: from the stored profile {from_profile.drifted_columns}, from the frames "
            f"{report.drifted_columns}"
        )


def ensure_evidently() -> Path | str:
    """The side virtualenv's python, or why there is none."""
    python = EVIDENTLY_VENV / "bin" / "python"
    probe = [str(python), "-c", "import evidently, psutil"]
    if python.exists() and subprocess.run(probe, capture_output=True).returncode == 0:
        return python
    steps = [
        [sys.executable, "-m", "venv", str(EVIDENTLY_VENV)],
        [str(python), "-m", "pip", "install", "-q", "evidently>=0.7,<0.8", "pandas<3", "psutil"],
    ]
    for step in steps:
        done = subprocess.run(step, capture_output=True, text=True)
        if done.returncode != 0:
            lines = (done.stderr or done.stdout).strip().splitlines()
            return f"Evidently 0.7 did not install: {lines[-1] if lines else 'no output'}"
    return python


def run_evidently(python: Path, rows: int, numerical: list[str], categorical: list[str]) -> Any:
    folder = DATA / f"drift_{rows}"
    args = [str(folder / "reference.parquet"), str(folder / "current.parquet")]
    cmd = [str(python), str(BENCH / "_drift_evidently.py"), *args]
    done = subprocess.run(
        [*cmd, ",".join(numerical), ",".join(categorical)], capture_output=True, text=True
    )
    if done.returncode != 0:
        raise Disagreement(f"Evidently failed: {done.stderr.strip().splitlines()[-1:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--quick", action="store_true", help="20k rows; check the answers")
    parser.add_argument("--no-evidently", action="store_true")
    args = parser.parse_args()
    rows = 20_000 if args.quick else args.rows
    ref, cur, numerical, categorical, injected = frames(rows)
    drift_report(ref.head(2000), cur.head(2000))  # warm the imports and thread pool
    report, seconds, peak = timed(lambda: drift_report(ref, cur))
    statistics, floor_seconds, floor_peak = timed(lambda: floor(ref, cur, report))
    check_floor(report, statistics)
    profile = stored_profile(rows)
    from_profile, profile_seconds, profile_peak = timed(lambda: drift_report(profile, cur))
    check_profile_run(report, from_profile)
    missed = sorted(set(injected) - set(report.drifted_columns))
    print(f"answers agree: drift_report and the floor ({len(report.drifted_columns)} drifted)")
    print("answers agree: drift_report from the stored profile drifts the same columns")
    print(f"injected drift not found: {missed or 'none'}")
    evidently: Any = None if args.no_evidently else ensure_evidently()
    if isinstance(evidently, Path):
        evidently = run_evidently(evidently, rows, numerical, categorical)
        theirs = [n for n, c in evidently["columns"].items() if c["drifted"]]
        if sorted(theirs) != sorted(report.drifted_columns):
            raise Disagreement(
                f"drifted: Evidently {theirs}, drift_report {report.drifted_columns}"
            )
        print("answers agree: drift_report and Evidently 0.7 drift the same columns")
    elif isinstance(evidently, str):
        print(evidently)
    label = f"{rows / 1e6:g}M + {rows / 1e6:g}M rows x 50 columns"
    body = [
        SECTION,
        "",
        f"`.venv/bin/python bench/drift.py{' --quick' if args.quick else ''}`: {label}, "
        f"{conditions()}.",
        "",
        "| variant | seconds | peak RSS above the data | vs floor |",
        "| --- | ---: | ---: | ---: |",
        f"| floor: numpy/scipy per-column loop | {floor_seconds:.2f} | "
        f"{floor_peak / 2**20:,.0f} MiB | 1.00x |",
        f"| skewless drift_report (pandas frames) | {seconds:.2f} | {peak / 2**20:,.0f} MiB | "
        f"{seconds / floor_seconds:.2f}x |",
        f"| skewless drift_report (stored reference profile, current frame) | "
        f"{profile_seconds:.2f} | {profile_peak / 2**20:,.0f} MiB | "
        f"{profile_seconds / floor_seconds:.2f}x |",
    ]
    if isinstance(evidently, dict):
        body.append(
            f"| Evidently 0.7 DataDriftPreset | {evidently['seconds']:.2f} | "
            f"{evidently['peak_bytes'] / 2**20:,.0f} MiB | "
            f"{evidently['seconds'] / floor_seconds:.2f}x |"
        )
    elif isinstance(evidently, str):
        body.append(f"| Evidently 0.7 DataDriftPreset | skipped: {evidently} | | |")
    met = seconds <= TARGET_SECONDS and peak <= TARGET_PEAK
    body += [
        "",
        f"Drifted: {len(report.drifted_columns)} of {len(report.columns)} columns "
        f"({', '.join(report.drifted_columns)}); injected drift not found: {missed or 'none'}. "
        f"Target <= {TARGET_SECONDS:g} s and <= 1 GiB: {'met' if met else 'not met'}. "
        f"From the stored profile: the same {len(from_profile.drifted_columns)} columns "
        f"drifted; target <= {TARGET_PROFILE_SECONDS:g} s: "
        f"{'met' if profile_seconds <= TARGET_PROFILE_SECONDS else 'not met'}."
        + (" Evidently drifted the same columns." if isinstance(evidently, dict) else ""),
        "",
    ]
    print("\n".join(body))
    if not args.quick:
        replace_section(SECTION, body)


if __name__ == "__main__":
    try:
        main()
    except Disagreement as problem:
        print(problem.code, file=sys.stderr)
        sys.exit(1)
