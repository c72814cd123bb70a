"""``compact`` removes the temporary files crashed writes left, never one a live writer holds."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from push_repo import h, yaml_repo
from typer.testing import CliRunner

from skewless import FeatureStore
from skewless._files import is_temporary, remove_stale_temporaries
from skewless.cli.main import app
from skewless.errors import SkewlessError

ROW = {"user_id": 1, "score": 50, "label": None, "amount": None}

# A push in its own process that dies (os._exit: no cleanup runs) right before the rename.
CRASHING_PUSH = """
import os, sys
from datetime import datetime
from skewless import FeatureStore
os.replace = lambda *args: os._exit(9)
store = FeatureStore(repo_path=sys.argv[1])
row = dict(eval(sys.argv[2]), event_timestamp=datetime.fromisoformat(sys.argv[3]))
store.push("events_push", [row], to="offline")
"""

# A writer that stops right before its rename until told to go on.
PAUSED_WRITER = """
import os, sys
import pyarrow as pa
from skewless._files import write_parquet_atomically
real = os.replace
def paused(*args):
    print("writing", flush=True)
    sys.stdin.readline()
    real(*args)
os.replace = paused
write_parquet_atomically(pa.table({"x": [1, 2, 3]}), __import__("pathlib").Path(sys.argv[1]))
"""


def temporaries(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if is_temporary(p.name))


def age(path: Path, seconds: float) -> None:
    then = time.time() - seconds
    os.utime(path, (then, then))


def crash_a_push(root: Path) -> Path:
    done = subprocess.run(
        [sys.executable, "-c", CRASHING_PUSH, str(root), repr(ROW), h(5).isoformat()],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 9, done.stderr
    (left,) = temporaries(root / "data" / "events")
    return left


def answer(store: FeatureStore) -> list[object]:
    import pandas as pd

    entity = pd.DataFrame({"user_id": [1, 2], "event_timestamp": [h(9), h(9)]})
    return list(store.get_historical_features(entity, ["events:score"]).to_df()["score"])


def test_a_crashed_push_leaves_a_temporary_that_compact_removes_once_stale(
    tmp_path: Path,
) -> None:
    store = yaml_repo(tmp_path)
    before = answer(store)
    left = crash_a_push(tmp_path)
    assert pq.read_table(left).num_rows == 1  # written, never renamed into place
    fresh = store.compact()
    assert fresh.temporaries_removed == 0 and left.exists()  # younger than the safe age
    age(left, 2 * 3600)
    report = store.compact()
    assert report.temporaries_removed == 1 and not left.exists()
    assert "0 -> 0 pushed files, 0 rows rewritten, 1 stale temporary file removed" in str(report)
    assert answer(store) == before  # the crashed push never counted
    store.close()


def test_a_live_writer_keeps_its_temporary_whatever_its_age(tmp_path: Path) -> None:
    store = yaml_repo(tmp_path)
    folder = tmp_path / "data" / "events"
    target = folder / "written.parquet"
    writer = subprocess.Popen(
        [sys.executable, "-c", PAUSED_WRITER, str(target)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert writer.stdout is not None and writer.stdin is not None
        assert writer.stdout.readline().strip() == "writing"
        (busy,) = temporaries(folder)
        age(busy, 10 * 3600)
        assert store.compact(stale_after=timedelta(0)).temporaries_removed == 0
        assert remove_stale_temporaries(folder, 0) == 0
        assert busy.exists()
        writer.stdin.write("go\n")
        writer.stdin.flush()
        assert writer.wait(timeout=60) == 0
    finally:
        writer.kill()
        writer.wait()
    assert pq.read_table(target).num_rows == 3
    assert temporaries(folder) == []
    store.close()


def test_only_the_writers_temporary_names_are_removed(tmp_path: Path) -> None:
    mine = tmp_path / ".0123456789abcdef0123456789abcdef.tmp"
    others = [tmp_path / "notes.tmp", tmp_path / ".skewless-compact.lock", tmp_path / "a.parquet"]
    for path in [mine, *others]:
        path.write_bytes(b"x")
        age(path, 7200)
    assert remove_stale_temporaries(tmp_path, 3600) == 1
    assert not mine.exists() and all(p.exists() for p in others)
    assert remove_stale_temporaries(tmp_path / "missing", 0) == 0


def test_a_negative_safe_age_is_refused(tmp_path: Path) -> None:
    store = yaml_repo(tmp_path)
    with pytest.raises(SkewlessError, match="stale_after must be a non-negative timedelta"):
        store.compact(stale_after=timedelta(seconds=-1))
    store.close()


def test_the_command_reports_the_temporaries_it_removed(tmp_path: Path) -> None:
    yaml_repo(tmp_path).close()
    left = crash_a_push(tmp_path)
    result = CliRunner().invoke(app, ["-r", str(tmp_path), "compact", "--stale-after", "0"])
    assert result.exit_code == 0, result.stderr
    assert result.stdout.strip() == (
        "data/events (events): 0 -> 0 pushed files, 0 rows rewritten, "
        "1 stale temporary file removed"
    )
    assert not left.exists()
    refused = CliRunner().invoke(app, ["-r", str(tmp_path), "compact", "--stale-after", "-5"])
    assert refused.exit_code != 0
