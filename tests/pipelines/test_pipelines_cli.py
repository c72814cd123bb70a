"""``skewless pipelines run | runs | show | step``: output, one-line errors and exit codes."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner, Result

from pipelines.flow_repo import build_flow_repo, calls
from skewless.cli.main import app
from skewless.config import load_config
from skewless.pipelines import RunStore
from skewless.registry import Registry


def _cli(repo: Path, *args: str) -> Result:
    return CliRunner().invoke(app, ["-r", str(repo), *args])


def _runs(repo: Path) -> list:  # type: ignore[type-arg]
    return RunStore(Registry(load_config(repo))).list()


def _one_error(result: Result, code: int) -> str:
    assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


def test_run_then_runs_and_show(tmp_path: Path) -> None:
    repo = build_flow_repo(tmp_path / "repo")
    first = _cli(repo, "pipelines", "run", "nightly", "--params", "factor=3")
    assert first.exit_code == 0, first.stderr
    assert "run succeeded" in first.stdout and "18" in first.stdout
    again = _cli(repo, "pipelines", "run", "nightly", "-p", "factor=3")
    assert again.exit_code == 0
    run_id = _runs(repo)[0].run_id
    assert f"skipped-cached (cached from run {run_id})" in again.stdout
    listed = _cli(repo, "pipelines", "runs", "nightly")
    assert listed.exit_code == 0 and run_id in listed.stdout and "3 skipped-cached" in listed.stdout
    shown = _cli(repo, "pipelines", "show", run_id)
    assert (
        shown.exit_code == 0
        and "total" in shown.stdout
        and "{'factor': 3, 'rows': 4}" in shown.stdout
    )
    assert _cli(repo, "pipelines", "runs", "publish").stdout.startswith("No run of pipeline")


def test_a_failed_run_exits_1_and_show_prints_its_traceback(tmp_path: Path) -> None:
    repo = build_flow_repo(tmp_path / "repo")
    (repo / "data" / "explode").touch()
    result = _cli(repo, "pipelines", "run", "publish")
    line = _one_error(result, 1)
    run_id = _runs(repo)[0].run_id
    assert f"run {run_id} failed at step explode: ValueError: cannot publish 10" in line
    assert f"--resume {run_id}" in result.stdout
    shown = _cli(repo, "pipelines", "show", run_id)
    assert "Traceback (most recent call last)" in shown.stdout
    (repo / "data" / "explode").unlink()
    calls(repo)
    resumed = _cli(repo, "pipelines", "run", "publish", "--resume", run_id)
    assert resumed.exit_code == 0 and calls(repo) == ["explode"]


def test_a_pipeline_that_cannot_run_exits_2_with_one_line(tmp_path: Path) -> None:
    repo = build_flow_repo(tmp_path / "repo")
    assert "no pipeline named 'nope'" in _one_error(_cli(repo, "pipelines", "run", "nope"), 2)
    bad = _cli(repo, "pipelines", "run", "nightly", "--params", "factor")
    assert "is not KEY=VALUE" in _one_error(bad, 2)
    assert "has no param 'x'" in _one_error(
        _cli(repo, "pipelines", "run", "nightly", "-p", "x=1"), 2
    )
    missing = _cli(repo, "pipelines", "show", "r-0")
    assert missing.exit_code == 1 and "no pipeline run 'r-0'" in missing.stderr
    assert _runs(repo) == []


def test_step_runs_one_step_of_a_run_for_an_orchestrator(tmp_path: Path) -> None:
    repo = build_flow_repo(tmp_path / "repo")
    early = _cli(repo, "pipelines", "step", "nightly", "double", "--run-id", "r1")
    assert "reads the output of step 'load'" in _one_error(early, 2)
    for step in ("load", "double", "total"):
        result = _cli(repo, "pipelines", "step", "nightly", step, "--run-id", "r1")
        assert result.exit_code == 0, result.stderr
    assert calls(repo) == ["load", "double", "total"]
    (run,) = _runs(repo)
    assert run.run_id == "r1" and run.status == "succeeded"
    assert run.step("total").output_preview == "12"


def test_apply_plans_a_pipeline_and_describe_shows_its_steps(tmp_path: Path) -> None:
    repo = build_flow_repo(tmp_path / "repo")
    (repo / "pipelines.py").write_text(
        (repo / "pipelines.py").read_text().replace('"rows": 4', '"rows": 6')
    )
    planned = _cli(repo, "plan")
    assert planned.exit_code == 0 and "~ pipeline nightly: params" in planned.stdout
    assert _cli(repo, "apply").exit_code == 0
    described = _cli(repo, "describe", "nightly")
    assert described.exit_code == 0
    assert "step total" in described.stdout and "param rows" in described.stdout
    assert "version" in described.stdout
