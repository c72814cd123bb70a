"""Evidently 0.7's DataDriftPreset on the benchmark's Parquet files; run in its own virtualenv.

Prints one JSON line: seconds, peak RSS above the loaded data, and per column the method,
score, threshold and verdict.
"""

from __future__ import annotations

import json
import sys
import threading
import time

import pandas as pd
import psutil
from evidently import DataDefinition, Dataset, Report
from evidently.presets import DataDriftPreset


def main(ref_path: str, cur_path: str, numerical: str, categorical: str) -> None:
    ref, cur = pd.read_parquet(ref_path), pd.read_parquet(cur_path)
    process = psutil.Process()
    base = process.memory_info().rss
    peak = [base]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.05):
            peak[0] = max(peak[0], process.memory_info().rss)

    watcher = threading.Thread(target=sample, daemon=True)
    watcher.start()
    definition = DataDefinition(
        numerical_columns=numerical.split(","), categorical_columns=categorical.split(",")
    )
    start = time.perf_counter()
    snapshot = Report([DataDriftPreset()]).run(
        Dataset.from_pandas(cur, data_definition=definition),
        Dataset.from_pandas(ref, data_definition=definition),
    )
    seconds = time.perf_counter() - start
    done.set()
    columns = {}
    for metric in snapshot.dict()["metrics"]:
        config = metric["config"]
        if not config["type"].endswith("ValueDrift"):
            continue
        method, score, threshold = config["method"], float(metric["value"]), config["threshold"]
        if "p_value" in method:
            drifted = score <= threshold if method.startswith("K-S") else score < threshold
        else:
            drifted = score >= threshold
        columns[config["column"]] = {"method": method, "score": score, "drifted": drifted}
    out = {"seconds": seconds, "peak_bytes": peak[0] - base, "columns": columns}
    print(json.dumps(out))


if __name__ == "__main__":
    main(*sys.argv[1:5])
