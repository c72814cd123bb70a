"""Retention and compaction: every row stays exactly once, whatever stops a compaction."""

from __future__ import annotations

import os
import tempfile
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import skewless.serving.logs_compact as compact_module
from skewless.errors import PredictionLogError
from skewless.serving.log_files import log_dir, publish_parquet
from skewless.serving.logs import PredictionLogWriter, prediction_table
from skewless.serving.logs_compact import compact_prediction_logs
from skewless.serving.logs_read import read_prediction_logs

from .log_rows import prediction, visible_parquet

NOW = datetime(2024, 3, 10, 9, 30, tzinfo=UTC)


def _write_parts(root: Path, day_offsets: list[int], rows: int = 2) -> Counter[tuple[str, int]]:
    """One file per prediction (as many small flushes make); the (request, row) pairs."""
    written: Counter[tuple[str, int]] = Counter()
    for i, offset in enumerate(day_offsets):
        when = NOW - timedelta(days=offset, minutes=i)
        p = prediction(f"r{i}", when, entities={"user_id": list(range(rows))})
        publish_parquet(
            prediction_table([p]),
            log_dir(root, "churn") / f"date={when.date().isoformat()}",
            "part",
            when,
        )
        written.update((p.request_id, r) for r in range(rows))
    return written


def _read(root: Path) -> Counter[tuple[str, int]]:
    table = read_prediction_logs(root, "churn")
    ids, rows = table.column("request_id").to_pylist(), table.column("row").to_pylist()
    return Counter(zip(ids, rows, strict=True))


def _files_per_day(root: Path) -> dict[str, int]:
    return dict(Counter(p.parent.name for p in visible_parquet(log_dir(root, "churn"))))


def test_past_days_merge_into_one_file_and_today_is_untouched(tmp_path: Path) -> None:
    written = _write_parts(tmp_path, [0, 0, 1, 1, 1, 2, 2, 3])
    report = compact_prediction_logs(tmp_path, "churn", now=NOW)
    assert sorted(report.merged_days) == ["log/2024-03-08", "log/2024-03-09"]
    assert (report.files_merged, report.rows_merged) == (5, 10)
    assert _files_per_day(tmp_path) == {
        "date=2024-03-10": 2,
        "date=2024-03-09": 1,
        "date=2024-03-08": 1,
        "date=2024-03-07": 1,
    }
    assert _read(tmp_path) == written
    merged = visible_parquet(log_dir(tmp_path, "churn") / "date=2024-03-09")[0]
    assert merged.name.startswith("merged-")
    assert pq.read_table(merged).schema.field("timestamp").type.tz == "UTC"
    again = compact_prediction_logs(tmp_path, "churn", now=NOW)
    assert again.merged_days == [] and _read(tmp_path) == written


def test_retention_deletes_old_days(tmp_path: Path) -> None:
    written = _write_parts(tmp_path, [0, 3, 4, 40])
    feedback_day = log_dir(tmp_path, "churn") / "_feedback" / "date=2024-01-01"
    feedback_day.mkdir(parents=True)
    (feedback_day / "part-x.parquet").write_bytes(b"")
    report = compact_prediction_logs(tmp_path, "churn", retention=timedelta(days=4), now=NOW)
    assert sorted(report.deleted_days) == ["feedback/2024-01-01", "log/2024-01-30"]
    # 2024-03-06 ends after now - 4 days (2024-03-06 09:30): a day goes only once all of it is
    # older than the retention
    days = ["date=2024-03-06", "date=2024-03-07", "date=2024-03-10"]
    assert sorted(_files_per_day(tmp_path)) == days
    assert _read(tmp_path) == Counter({k: n for k, n in written.items() if k[0] != "r3"})
    assert not feedback_day.exists()
    assert not [p for p in log_dir(tmp_path, "churn").iterdir() if "deleting" in p.name]


def test_no_retention_keeps_every_day(tmp_path: Path) -> None:
    written = _write_parts(tmp_path, [400, 400])
    compact_prediction_logs(tmp_path, "churn", retention=None, now=NOW)
    assert _read(tmp_path) == written


def test_bad_retention_and_unknown_log(tmp_path: Path) -> None:
    _write_parts(tmp_path, [1])
    with pytest.raises(PredictionLogError, match="not positive"):
        compact_prediction_logs(tmp_path, "churn", retention=timedelta(0), now=NOW)
    with pytest.raises(PredictionLogError, match="no prediction log 'fraud'"):
        compact_prediction_logs(tmp_path, "fraud", now=NOW)


def test_stale_temporaries_go_and_fresh_ones_stay(tmp_path: Path) -> None:
    _write_parts(tmp_path, [0])
    today = log_dir(tmp_path, "churn") / "date=2024-03-10"
    stale, fresh = today / f".{uuid.uuid4().hex}.tmp", today / f".{uuid.uuid4().hex}.tmp"
    stale.write_bytes(b"torn")
    fresh.write_bytes(b"being written")
    old = time.time() - 7200
    os.utime(stale, (old, old))
    report = compact_prediction_logs(tmp_path, "churn", now=NOW)
    assert report.temporaries_removed == 1 and not stale.exists() and fresh.exists()


def test_a_crash_between_merge_and_removal_never_repeats_rows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    written = _write_parts(tmp_path, [1, 1, 1])
    real = compact_module.remove_replaced
    calls = []

    def crash_after_the_merge(partition: Path) -> int:
        calls.append(partition)
        if len(calls) == 2:  # the first call cleans up before merging; the second is after
            raise OSError("injected: the process died here")
        return real(partition)

    monkeypatch.setattr(compact_module, "remove_replaced", crash_after_the_merge)
    with pytest.raises(OSError, match="injected"):
        compact_prediction_logs(tmp_path, "churn", now=NOW)
    day = log_dir(tmp_path, "churn") / "date=2024-03-09"
    on_disk = sorted(p.name.split("-")[0] for p in day.glob("*.parquet"))
    assert on_disk == ["merged", "part", "part", "part"]
    assert _read(tmp_path) == written  # the merged file hides the parts it replaces
    monkeypatch.setattr(compact_module, "remove_replaced", real)
    compact_prediction_logs(tmp_path, "churn", now=NOW)
    assert [p.name.split("-")[0] for p in day.glob("*.parquet")] == ["merged"]
    assert _read(tmp_path) == written


def test_a_failed_merge_write_leaves_the_parts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    written = _write_parts(tmp_path, [1, 1])

    class DiskFull(OSError):
        pass

    def full(*args: object, **kwargs: object) -> None:
        raise DiskFull("injected: no space left on device")

    monkeypatch.setattr(compact_module.pq.ParquetWriter, "write_batch", full)
    with pytest.raises(DiskFull):
        compact_prediction_logs(tmp_path, "churn", now=NOW)
    monkeypatch.undo()
    day = log_dir(tmp_path, "churn") / "date=2024-03-09"
    assert sorted(p.name.split("-")[0] for p in day.iterdir()) == ["part", "part"]
    assert _read(tmp_path) == written


def test_late_parts_merge_with_an_earlier_merge(tmp_path: Path) -> None:
    written = _write_parts(tmp_path, [1, 1])
    compact_prediction_logs(tmp_path, "churn", now=NOW)
    with PredictionLogWriter(tmp_path, "churn") as writer:  # a late flush for yesterday
        late = prediction("late", NOW - timedelta(days=1), features={"extra": ["x", "y"]})
        writer.submit([late])
    written.update({("late", 0): 1, ("late", 1): 1})
    compact_prediction_logs(tmp_path, "churn", now=NOW)
    assert _files_per_day(tmp_path) == {"date=2024-03-09": 1}
    assert _read(tmp_path) == written
    table = read_prediction_logs(tmp_path, "churn")
    assert table.column("extra").to_pylist().count("x") == 1


def test_a_running_compaction_excludes_another(tmp_path: Path) -> None:
    _write_parts(tmp_path, [1])
    import fcntl

    with open(log_dir(tmp_path, "churn") / ".compact.lock", "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        with pytest.raises(PredictionLogError, match="another compaction"):
            compact_prediction_logs(tmp_path, "churn", now=NOW)


@settings(max_examples=25)
@given(
    days=st.lists(st.integers(min_value=0, max_value=6), max_size=12),
    rows=st.integers(min_value=1, max_value=3),
    retention_days=st.one_of(st.none(), st.integers(min_value=1, max_value=7)),
    rounds=st.integers(min_value=1, max_value=2),
)
def test_compaction_keeps_every_kept_row_exactly_once(
    days: list[int], rows: int, retention_days: int | None, rounds: int
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        log_dir(root, "churn").mkdir(parents=True)
        written = _write_parts(root, days, rows)
        retention = timedelta(days=retention_days) if retention_days is not None else None
        for _ in range(rounds):
            compact_prediction_logs(root, "churn", retention=retention, now=NOW)
        cutoff = (NOW - retention).date() if retention is not None else None
        kept = Counter(
            {
                (rid, r): n
                for (rid, r), n in written.items()
                if cutoff is None
                or (NOW - timedelta(days=days[int(rid[1:])], minutes=int(rid[1:]))).date() >= cutoff
            }
        )
        assert _read(root) == kept
        per_day = _files_per_day(root)
        today = f"date={NOW.date().isoformat()}"
        assert all(n == 1 for day, n in per_day.items() if day != today)
