"""Cron triggers and the worker on a fake clock: a week of schedules in seconds, missed times,
the cooldown, and the trigger commands' output and one-line errors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from pipelines.flow_repo import build_flow_repo, rewrite
from skewless import FeatureStore
from skewless.cli.main import app
from skewless.errors import PipelineInputError
from skewless.pipelines import RunStore
from skewless.pipelines.triggers import TriggerStore, schedule
from skewless.pipelines.worker import Evaluation, Worker

SUNDAY_NOON = datetime(2025, 3, 2, 12, 0, tzinfo=UTC)


class FakeClock:
    """A clock that moves only when told; ``advance`` is the worker's sleep."""

    def __init__(self, now: datetime) -> None:
        self.now = now
        self.slept: list[float] = []

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += timedelta(seconds=seconds)


def _cli(repo: Path, *args: str) -> Result:
    return CliRunner().invoke(app, ["-r", str(repo), *args])


@pytest.fixture
def flows(tmp_path: Path) -> Path:
    return build_flow_repo(tmp_path / "repo")


def _worker(store: FeatureStore, clock: FakeClock, seen: list[Evaluation]) -> Worker:
    return Worker(
        store, clock=clock, sleep=clock.advance, poll=timedelta(days=1), tracking=False,
        report=seen.append,
    )  # fmt: skip


def test_a_week_of_schedules_in_seconds(flows: Path) -> None:
    clock = FakeClock(SUNDAY_NOON)
    seen: list[Evaluation] = []
    with FeatureStore(repo_path=flows, clock=clock) as store:
        weekly = schedule(store.registry, "publish", clock(), cron="0 3 * * 1")
        hourly = schedule(store.registry, "nightly", clock(), cron="0 * * * *",
                          params={"factor": "3"})  # fmt: skip
        _worker(store, clock, seen).run(until=SUNDAY_NOON + timedelta(days=7))
        runs = RunStore(store.registry)
        published, nightly = runs.list("publish"), runs.list("nightly")
        stored = TriggerStore(store.registry).find("nightly", hourly.id)
    assert clock.now == SUNDAY_NOON + timedelta(days=7)
    assert sum(clock.slept) == 7 * 86400  # it slept to each cron time, never past the week
    assert len(published) == 1 and len(nightly) == 168
    monday = published[0]
    assert monday.status == "succeeded"
    assert monday.started_at == datetime(2025, 3, 3, 3, 0, tzinfo=UTC)
    assert monday.trigger is not None and monday.trigger.kind == "cron"
    assert monday.trigger.trigger_id == weekly.id
    assert monday.trigger.reason == "cron '0 3 * * 1' due at 2025-03-03 03:00 UTC"
    hours = [r.started_at for r in nightly]
    assert hours == [SUNDAY_NOON + timedelta(hours=h + 1) for h in range(168)]
    assert all(r.status == "succeeded" and r.params["factor"] == 3 for r in nightly)
    assert {r.trigger.kind for r in nightly if r.trigger} == {"cron"}
    assert stored is not None and stored.last_run == nightly[-1].run_id
    assert stored.fired_at == SUNDAY_NOON + timedelta(days=7)
    fired = [e for e in seen if e.action == "fired"]
    assert len(fired) == 169
    assert fired[0].message.startswith(f"trigger {hourly.id} of pipeline 'nightly' fired (cron")


def test_times_missed_while_no_worker_ran_fire_one_run(flows: Path) -> None:
    clock = FakeClock(SUNDAY_NOON)
    with FeatureStore(repo_path=flows, clock=clock) as store:
        schedule(store.registry, "nightly", clock(), cron="0 * * * *")
        clock.advance(5 * 3600 + 600)  # no worker from 12:00 to 17:10
        seen = _worker(store, clock, []).tick()
        assert [e.action for e in seen] == ["fired"]
        again = _worker(store, clock, []).tick()  # nothing new is due at 17:10
        runs = RunStore(store.registry).list("nightly")
    assert again == []
    assert len(runs) == 1 and runs[0].trigger is not None
    assert runs[0].trigger.reason == (
        "cron '0 * * * *' due at 2025-03-02 17:00 UTC (4 earlier time(s) missed while no "
        "worker ran)"
    )


def test_the_cooldown_holds_back_trigger_fired_runs(flows: Path) -> None:
    clock = FakeClock(SUNDAY_NOON)
    seen: list[Evaluation] = []
    with FeatureStore(repo_path=flows, clock=clock) as store:
        schedule(store.registry, "nightly", clock(), cron="0 * * * *",
                 cooldown=timedelta(days=1))  # fmt: skip
        store.run_pipeline("nightly", progress=False, tracking=False)  # by hand: no cooldown
        _worker(store, clock, seen).run(until=SUNDAY_NOON + timedelta(days=2))
        runs = RunStore(store.registry).list("nightly")
    fired = [r for r in runs if r.triggered]
    assert [r.trigger.kind for r in runs if r.trigger] == ["manual", "cron", "cron"]
    assert [r.started_at for r in fired] == [
        SUNDAY_NOON + timedelta(hours=1), SUNDAY_NOON + timedelta(hours=25)
    ]  # fmt: skip
    cooling = [e for e in seen if e.action == "cooldown"]
    assert len(cooling) == 2 * 24 - 2
    assert "is cooling down: run" in cooling[0].message
    assert "no trigger runs it before 2025-03-03 13:00 UTC (--cooldown)" in cooling[0].message


def test_a_pipeline_that_cannot_run_records_the_error_on_its_trigger(flows: Path) -> None:
    clock = FakeClock(SUNDAY_NOON)
    with FeatureStore(repo_path=flows, clock=clock) as store:
        trigger = schedule(store.registry, "nightly", clock(), cron="0 * * * *")
        rewrite(flows, "return sum(values) + offset", "return sum(values) + offset + 1")
        clock.advance(3600)
        seen = _worker(store, clock, []).tick()
        stored = TriggerStore(store.registry).find("nightly", trigger.id)
        runs = RunStore(store.registry).list("nightly")
    assert [e.action for e in seen] == ["error"] and runs == []
    assert stored is not None and "cannot run" in (stored.last_error or "")
    assert "changed since the pipeline was applied" in (stored.last_error or "")
    assert "\n" not in (stored.last_error or "")


def test_schedule_refuses_what_it_cannot_run(flows: Path) -> None:
    clock = FakeClock(SUNDAY_NOON)
    with FeatureStore(repo_path=flows, clock=clock) as store:
        with pytest.raises(PipelineInputError, match="is not a cron expression"):
            schedule(store.registry, "nightly", clock(), cron="0 3 * *")
        with pytest.raises(PipelineInputError, match="nightlyy"):
            schedule(store.registry, "nightlyy", clock(), cron="0 3 * * 1")
        with pytest.raises(PipelineInputError, match="exactly one of"):
            schedule(store.registry, "nightly", clock(), cron="0 3 * * 1", on_drift="churn")
        with pytest.raises(PipelineInputError, match="factr"):
            schedule(store.registry, "nightly", clock(), cron="0 3 * * 1", params={"factr": 1})


def test_schedule_triggers_and_unschedule_commands(flows: Path) -> None:
    bad = _cli(flows, "pipelines", "schedule", "nightly", "--cron", "61 * * * *")
    assert bad.exit_code == 1
    lines = bad.stderr.strip().splitlines()
    assert lines == [
        "error: --cron '61 * * * *' is not a cron expression: write five fields, minute hour "
        'day-of-month month day-of-week, in UTC, e.g. "0 3 * * 1" (Mondays at 03:00)'
    ]
    added = _cli(flows, "pipelines", "schedule", "nightly", "--cron", "0 3 * * 1", "-p", "factor=5")
    assert added.exit_code == 0, added.stderr
    assert "pipeline nightly runs on cron '0 3 * * 1', next at" in added.stdout
    drift = _cli(flows, "pipelines", "schedule", "nightly", "--on-drift", "churn", "--window", "2d")
    assert drift.exit_code == 0, drift.stderr
    listed = _cli(flows, "pipelines", "triggers")
    assert listed.exit_code == 0
    assert "cron '0 3 * * 1'" in listed.stdout
    assert "drift of churn (2d, --fail-on dataset, every 1h)" in listed.stdout
    assert "│ 1d " in listed.stdout  # the drift trigger's default cooldown
    cron_id = added.stdout.split()[1].rstrip(":")
    removed = _cli(flows, "pipelines", "unschedule", "nightly", "--trigger", cron_id)
    assert removed.exit_code == 0 and cron_id in removed.stdout
    gone = _cli(flows, "pipelines", "unschedule", "nightly", "--trigger", cron_id)
    assert gone.exit_code == 1
    assert gone.stderr.strip().startswith(f"error: pipeline 'nightly' has no trigger '{cron_id}'")
    assert _cli(flows, "pipelines", "unschedule", "nightly").exit_code == 0
    assert "No trigger" in _cli(flows, "pipelines", "triggers", "nightly").stdout
