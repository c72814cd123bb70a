"""``compact`` merges pushed files without changing any point-in-time answer."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from push_repo import USER, events_view, h, history_table, open_store, write_history

from skewless.compact import is_pushed_file, pushed_runs
from skewless.errors import UnknownObjectError
from skewless.offline.sources import resolve_files

REFS = ["events:score", "events:label", "events:amount"]

rows = st.fixed_dictionaries(
    {
        "user_id": st.integers(1, 3),
        "ts": st.integers(0, 3).map(h),
        "created": st.none() | st.integers(0, 1).map(h),
        "score": st.integers(0, 1000),
        "label": st.sampled_from(["a", "b", None]),
        "amount": st.none() | st.floats(-5, 5),
    }
)
# A step is a push of some rows, or a plain history file that sorts after earlier pushes.
steps = st.lists(
    st.tuples(
        st.sampled_from(["push", "push", "push", "file"]), st.lists(rows, min_size=1, max_size=4)
    ),
    min_size=1,
    max_size=8,
)


def pushed(row: dict[str, Any]) -> dict[str, Any]:
    out = {
        "user_id": row["user_id"],
        "event_timestamp": row["ts"],
        "score": row["score"],
        "label": row["label"],
        "amount": row["amount"],
    }
    if row["created"] is not None:
        out["created"] = row["created"]
    return out


def answers(store: Any) -> dict[str, list[Any]]:
    users, hours = zip(*[(u, t) for u in (1, 2, 3, 4) for t in (0, 0.5, 1, 2, 3, 9)], strict=True)
    entity = pd.DataFrame({"user_id": users, "event_timestamp": [h(t) for t in hours]})
    table = store.get_historical_features(entity, REFS).to_arrow()
    return table.to_pydict()


@settings(max_examples=30)
@given(history=st.lists(rows, max_size=4), plan=steps)
def test_compaction_changes_no_answer(history: list[dict[str, Any]], plan: list[Any]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        write_history(root, history or [{"user_id": 9, "ts": h(0)}])
        store = open_store(root)
        store.apply([USER, events_view()])
        for i, (kind, batch) in enumerate(plan):
            if kind == "push":
                store.push("events_push", [pushed(r) for r in batch], to="offline")
            else:
                write_history(root, batch, name=f"q-{i:02d}.parquet")
        before = answers(store)
        files_before = resolve_files(store.get_feature_view("events").source, root)
        report = store.compact()
        after = answers(store)
        files_after = resolve_files(store.get_feature_view("events").source, root)
        assert after == before
        assert pushed_runs(files_after) == []
        merged = sum(len(run) - 1 for run in pushed_runs(files_before))
        assert len(files_after) == len(files_before) - merged
        (source,) = report.sources
        assert source.files_before - source.files_after == merged
        assert store.compact().sources[0].rows == 0  # nothing left to merge
        store.close()


def test_compaction_keeps_full_ties_in_order(tmp_path: Path) -> None:
    write_history(tmp_path, [{"user_id": 1, "ts": h(0), "score": 1}])
    store = open_store(tmp_path)
    store.apply([USER, events_view()])
    for score in (5, 6, 7):
        store.push(
            "events_push",
            [
                {
                    "user_id": 1,
                    "event_timestamp": h(1),
                    "created": h(1),
                    "score": score,
                    "label": None,
                    "amount": None,
                }
            ],
            to="offline",
        )
    before = answers(store)
    assert before["score"][2] == 7
    report = store.compact(["events"])
    assert "3 -> 1 pushed files, 3 rows rewritten" in report.render()
    assert answers(store) == before
    names = sorted(
        p.name for p in (tmp_path / "data" / "events").iterdir() if p.suffix == ".parquet"
    )
    assert len(names) == 2 and is_pushed_file(names[1])
    store.close()


def test_compact_names_only_push_fed_views(tmp_path: Path) -> None:
    write_history(tmp_path, [{"user_id": 1, "ts": h(0), "score": 1}])
    store = open_store(tmp_path)
    plain = events_view(name="plain", source=events_view().batch_source)
    store.apply([USER, events_view(), plain])
    with pytest.raises(UnknownObjectError, match="'plain' are not fed by a push source"):
        store.compact(["plain"])
    assert history_table([]).num_rows == 0
    store.close()


_CRASHING_PUSH = """
import os, signal, sys
from pathlib import Path
sys.path[:0] = [sys.argv[2], str(Path(sys.argv[2]).parent)]
from push_repo import h, open_store
store = open_store(Path(sys.argv[1]))
# The process dies between writing its temporary file and renaming it, as in a power cut.
os.replace = lambda *a, **k: os.kill(os.getpid(), signal.SIGKILL)
store.push("events_push", [{"user_id": 1, "event_timestamp": h(2), "score": 3,
                            "label": None, "amount": None}], to="offline")
"""


def _crash_a_push(root: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", _CRASHING_PUSH, str(root), str(Path(__file__).parent)],
        capture_output=True,
        timeout=120,
    )
    assert done.returncode == -signal.SIGKILL, done.stderr.decode()


def test_compact_removes_temporary_files_of_crashed_pushes(tmp_path: Path) -> None:
    write_history(tmp_path, [{"user_id": 1, "ts": h(0), "score": 1}])
    store = open_store(tmp_path)
    store.apply([USER, events_view()])
    store.close()
    directory = tmp_path / "data" / "events"
    _crash_a_push(tmp_path)
    (old,) = [p for p in directory.iterdir() if p.name.endswith(".tmp")]
    hours_ago = time.time() - 2 * 3600
    os.utime(old, (hours_ago, hours_ago))
    _crash_a_push(tmp_path)  # a second one, as fresh as a push still being written
    (fresh,) = [p for p in directory.iterdir() if p.name.endswith(".tmp") and p != old]
    store = open_store(tmp_path)
    before = answers(store)
    report = store.compact()
    assert report.sources[0].temporaries_removed == 1
    assert "1 stale temporary file removed" in report.render()
    assert not old.exists() and fresh.exists()
    assert answers(store) == before
    store.close()
