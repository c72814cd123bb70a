"""Two real ``skewless pipelines worker`` processes on one pipeline: its lease lets one run at a
time, the other says so in one line and waits; a worker killed mid-run leaves a lease that
lapses, after which another worker records the orphaned run as interrupted and goes on."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from pipelines.flow_repo import PIPELINES_PY, build_flow_repo
from skewless import FeatureStore
from skewless.pipelines import PipelineRun, RunStore
from skewless.pipelines.triggers import schedule

SCRIPT = Path(sys.executable).with_name("skewless")

SLOW_PY = """

import os
import time


def slow(seconds: float) -> int:
    with (DATA / "slow.txt").open("a") as out:
        out.write(f"start {os.getpid()} {time.time()}\\n")
    time.sleep(seconds)
    with (DATA / "slow.txt").open("a") as out:
        out.write(f"end {os.getpid()} {time.time()}\\n")
    return os.getpid()


slow_pipeline = Pipeline("slow", steps=[Step("slow", slow, cache=False)], params={"seconds": 3.0})
"""


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = build_flow_repo(tmp_path / "repo", PIPELINES_PY + SLOW_PY)
    with FeatureStore(repo_path=root) as store:
        an_hour_ago = datetime.now(UTC) - timedelta(hours=1, minutes=5)
        for _ in range(2):  # two triggers of one pipeline, both due at once
            schedule(store.registry, "slow", an_hour_ago, cron="0 * * * *")
    return root


class Workers:
    """Worker processes, each stopped by its pid."""

    def __init__(self, root: Path, logs: Path) -> None:
        self.root = root
        self.logs = logs
        self.started: list[subprocess.Popen[bytes]] = []

    def start(self, name: str, lease: str = "2s") -> subprocess.Popen[bytes]:
        out = (self.logs / f"{name}.log").open("wb")
        process = subprocess.Popen(
            [str(SCRIPT), "-r", str(self.root), "pipelines", "worker", "--poll", "0.2s",
             "--lease", lease],
            stdout=out, stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )  # fmt: skip
        self.started.append(process)
        return process

    def stop(self, process: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
        if process.poll() is None:
            os.kill(process.pid, sig)
        process.wait(timeout=30)

    def output(self, name: str) -> str:
        return (self.logs / f"{name}.log").read_text()


@pytest.fixture
def workers(repo: Path, tmp_path: Path) -> Iterator[Workers]:
    found = Workers(repo, tmp_path)
    yield found
    for process in found.started:
        found.stop(process, signal.SIGKILL)


def _runs(root: Path) -> list[PipelineRun]:
    with FeatureStore(repo_path=root) as store:
        return RunStore(store.registry).list("slow")


def _wait(what: Callable[[], bool], timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while not what():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)


def _intervals(root: Path) -> list[tuple[float, float]]:
    starts: dict[str, list[float]] = {}
    spans = []
    for line in (root / "data" / "slow.txt").read_text().splitlines():
        kind, pid, at = line.split()
        if kind == "start":
            starts.setdefault(pid, []).append(float(at))
        else:
            spans.append((starts[pid].pop(0), float(at)))
    return sorted(spans)


def test_two_workers_never_run_one_pipeline_at_once(repo: Path, workers: Workers) -> None:
    first, second = workers.start("a"), workers.start("b")
    _wait(lambda: sum(r.status == "succeeded" for r in _runs(repo)) == 2)
    workers.stop(first)
    workers.stop(second)
    spans = _intervals(repo)
    assert len(spans) == 2
    (_, end_1), (start_2, _) = spans
    assert end_1 <= start_2, spans  # the second run began after the first ended
    runs = _runs(repo)
    assert {r.trigger.kind for r in runs if r.trigger} == {"cron"}
    assert len({r.trigger.trigger_id for r in runs if r.trigger}) == 2
    said = workers.output("a") + workers.output("b")
    busy = [line for line in said.splitlines() if "is busy" in line]
    assert busy, said
    assert "pipeline 'slow' is busy: worker " in busy[0]
    assert "a pipeline runs one run at a time; trigger cron-" in busy[0]
    assert "waits for it to end" in busy[0]
    assert "stopped" in workers.output("a") and first.returncode == 0


def test_a_killed_workers_lease_lapses_and_its_run_is_recorded_interrupted(
    repo: Path, workers: Workers
) -> None:
    doomed = workers.start("doomed")
    _wait(lambda: (repo / "data" / "slow.txt").exists())
    workers.stop(doomed, signal.SIGKILL)  # no chance to give the lease back
    orphan = next(r for r in _runs(repo) if r.status == "running")
    heir = workers.start("heir")
    _wait(lambda: any(r.status == "succeeded" for r in _runs(repo)))
    workers.stop(heir)
    runs = {r.run_id: r for r in _runs(repo)}
    left = runs[orphan.run_id]
    assert left.status == "failed" and left.failed_step == "slow"
    assert (left.error or "").startswith(f"interrupted: worker {doomed_owner(workers)}")
    assert f"resume with --resume {orphan.run_id}" in (left.error or "")
    assert [r.status for r in runs.values()].count("succeeded") == 1


def doomed_owner(workers: Workers) -> str:
    """The owner name the killed worker announced when it started."""
    first = workers.output("doomed").splitlines()[0]
    assert first.startswith("worker ") and first.endswith(" started"), first
    return first.split()[1]
