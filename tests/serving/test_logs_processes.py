"""Several processes: a SIGKILLed writer leaves only whole files, and writers never collide."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pyarrow.parquet as pq

from skewless.serving.log_files import log_dir
from skewless.serving.logs_read import read_prediction_logs

from .log_rows import visible_parquet

REPO = Path(__file__).resolve().parents[2]

WRITER = textwrap.dedent(
    """
    import sys, time
    from datetime import UTC, datetime
    from pathlib import Path
    from skewless.serving.logs import PredictionLogWriter
    from skewless.serving.records import Prediction

    root, tag, count, flush_ms, rows = sys.argv[1], sys.argv[2], int(sys.argv[3]), \\
        int(sys.argv[4]), int(sys.argv[5])
    writer = PredictionLogWriter(Path(root), "churn", flush_ms=flush_ms)
    for i in range(count):
        keys = list(range(rows))
        writer.submit([Prediction(f"{tag}-{i}", datetime.now(UTC), "churn", 1,
                                  {"user_id": keys}, {"age": keys, "name": [str(k) for k in keys]},
                                  [k % 2 for k in keys], None, [], 1.0)])
        print(f"{tag}-{i} {time.time():.6f}", flush=True)
        time.sleep(0.002)
    writer.close()
    print("closed", flush=True)
    """
)


def _start(root: Path, tag: str, count: int, flush_ms: int, rows: int) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", WRITER, str(root), tag, str(count), str(flush_ms), str(rows)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )


def test_a_killed_writer_leaves_whole_files_and_loses_at_most_flush_ms(tmp_path: Path) -> None:
    flush_ms, margin = 100, 0.5
    process = _start(tmp_path, "k", 1_000_000, flush_ms, rows=200)
    submitted: list[tuple[str, float]] = []
    assert process.stdout is not None
    for line in process.stdout:  # the clock starts at the first submit, after the imports
        request_id, at = line.split()
        submitted.append((request_id, float(at)))
        if time.time() - submitted[0][1] > 2.0:
            break
    os.kill(process.pid, signal.SIGKILL)
    killed = time.time()
    process.wait()
    directory = log_dir(tmp_path, "churn")
    files = visible_parquet(directory)
    assert files, "nothing was written in two seconds"
    for path in files:  # every visible file is whole
        assert pq.read_table(path).num_rows % 200 == 0
    logged = set(read_prediction_logs(tmp_path, "churn").column("request_id").to_pylist())
    due = {rid for rid, at in submitted if at < killed - flush_ms / 1000 - margin}
    assert due, "the writer submitted nothing early enough"
    assert due <= logged, f"{len(due - logged)} rows submitted long before the kill are missing"


def test_concurrent_writer_processes_never_collide(tmp_path: Path) -> None:
    count = 150
    processes = [_start(tmp_path, f"p{n}", count, flush_ms=5, rows=3) for n in range(4)]
    for process in processes:
        out, _ = process.communicate(timeout=120)
        assert process.returncode == 0 and out.strip().endswith("closed")
    table = read_prediction_logs(tmp_path, "churn")
    ids = table.column("request_id").to_pylist()
    assert len(ids) == 4 * count * 3
    assert len(set(ids)) == 4 * count
    names = [p.name for p in visible_parquet(log_dir(tmp_path, "churn"))]
    assert len(names) == len(set(names)) and len({n.split("-")[2] for n in names}) == 4
