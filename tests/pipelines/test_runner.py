"""The local runner on a repository of plain-function pipelines: bindings, records, the
cache, retries, failures and resume."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipelines.flow_repo import build_flow_repo, calls, rewrite
from skewless import FeatureStore
from skewless.errors import PipelineInputError
from skewless.pipelines import RunContext, RunStore, run_pipeline
from skewless.pipelines.outputs import OutputStore


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return build_flow_repo(tmp_path / "repo")


def _run(store: FeatureStore, name: str, **kwargs: object):  # type: ignore[no-untyped-def]
    return store.run_pipeline(name, tracking=False, progress=False, **kwargs)  # type: ignore[arg-type]


def test_steps_bind_by_name_and_by_inputs_and_every_step_is_recorded(repo: Path) -> None:
    with FeatureStore(repo_path=repo) as store:
        run = _run(store, "nightly")
        assert run.status == "succeeded" and run.failed_step is None
        assert calls(repo) == ["load", "double", "total"]
        assert [s.status for s in run.steps] == ["succeeded"] * 3
        total = run.step("total")
        assert total.output_preview == "12"  # (0+1+2+3) * 2
        assert OutputStore(repo).load(total.output_path) == 12
        assert run.step("load").output_path.endswith("load.parquet")
        assert run.step("double").params == {"factor": 2}
        assert all(s.attempts == 1 and s.code_hash and s.duration_s is not None for s in run.steps)
        stored = RunStore(store.registry).get(run.run_id)
        assert stored.to_dict() == run.to_dict()
        assert [r.run_id for r in RunStore(store.registry).list("nightly")] == [run.run_id]


def test_a_second_run_takes_every_step_from_the_cache_and_says_so(repo: Path) -> None:
    with FeatureStore(repo_path=repo) as store:
        first = _run(store, "nightly")
        calls(repo)
        second = _run(store, "nightly")
        assert calls(repo) == []
        assert [s.status for s in second.steps] == ["skipped-cached"] * 3
        assert {s.cached_from for s in second.steps} == {first.run_id}
        assert second.step("total").output_preview == "12"
        third = _run(store, "nightly")
        assert {s.cached_from for s in third.steps} == {first.run_id}


def test_a_changed_param_reruns_only_the_steps_that_read_it_and_what_follows(repo: Path) -> None:
    with FeatureStore(repo_path=repo) as store:
        _run(store, "nightly")
        calls(repo)
        run = _run(store, "nightly", params={"factor": "3"})
        assert calls(repo) == ["double", "total"]
        assert [s.status for s in run.steps] == ["skipped-cached", "succeeded", "succeeded"]
        assert run.params["factor"] == 3 and run.step("total").output_preview == "18"


def test_changed_code_is_refused_until_applied_then_reruns_what_depends_on_it(
    repo: Path,
) -> None:
    with FeatureStore(repo_path=repo) as store:
        _run(store, "nightly")
        calls(repo)
        rewrite(repo, "return sum(values) + offset", "return sum(values) + offset + 100")
        with pytest.raises(
            PipelineInputError, match=r"step 'total'.*changed since.*skewless apply"
        ):
            _run(store, "nightly")
        assert calls(repo) == []
    build_flow_repo(repo, (repo / "pipelines.py").read_text())
    with FeatureStore(repo_path=repo) as store:
        run = _run(store, "nightly")
        assert calls(repo) == ["total"]
        assert [s.status for s in run.steps] == ["skipped-cached", "skipped-cached", "succeeded"]
        assert run.step("total").output_preview == "112"


def test_a_failing_step_is_retried_with_doubling_waits(repo: Path) -> None:
    waits: list[float] = []
    with FeatureStore(repo_path=repo) as store:
        context = RunContext(store.registry, repo, {"store": store}, sleep=waits.append)
        run = run_pipeline(context, "retried")
    assert run.status == "succeeded"
    flaky = run.step("flaky")
    assert flaky.attempts == 3 and flaky.status == "succeeded" and flaky.error is None
    assert waits == [0.5, 1.0]
    assert "'attempt': 3" in flaky.output_preview


def test_a_failed_run_records_the_traceback_and_stops(repo: Path) -> None:
    (repo / "data" / "explode").touch()
    with FeatureStore(repo_path=repo) as store:
        run = _run(store, "publish")
        assert run.status == "failed" and run.failed_step == "explode"
        failed = run.step("explode")
        assert failed.error == "ValueError: cannot publish 10: the target is locked"
        assert failed.traceback is not None
        assert "Traceback (most recent call last)" in failed.traceback
        assert 'raise ValueError(f"cannot publish' in failed.traceback
        assert RunStore(store.registry).get(run.run_id).status == "failed"


def test_resume_reruns_from_the_failed_step_and_reuses_the_outputs_before_it(repo: Path) -> None:
    (repo / "data" / "explode").touch()
    with FeatureStore(repo_path=repo) as store:
        failed = _run(store, "publish")
        assert calls(repo) == ["load", "double", "total", "explode"]
        with pytest.raises(PipelineInputError, match="is a run of pipeline 'publish'"):
            _run(store, "nightly", resume=failed.run_id)
        (repo / "data" / "explode").unlink()
        resumed = _run(store, "publish", resume=failed.run_id)
        assert calls(repo) == ["explode"]
        assert resumed.run_id == failed.run_id and resumed.status == "succeeded"
        assert resumed.step("explode").output_preview == "100"
        assert resumed.step("load").started_at == failed.step("load").started_at
        assert len(resumed.resumes) == 1
        with pytest.raises(PipelineInputError, match="is succeeded, not failed"):
            _run(store, "publish", resume=failed.run_id)


def test_runs_that_cannot_start_say_why_in_one_line(repo: Path) -> None:
    with FeatureStore(repo_path=repo) as store:
        cases = [
            ({"name": "nope"}, "no pipeline named 'nope'"),
            ({"name": "nightly", "params": {"speed": "1"}}, "has no param 'speed'"),
            ({"name": "nightly", "params": {"rows": "many"}}, "is not a int like its default 4"),
            ({"name": "nightly", "resume": "r-1"}, "no pipeline run 'r-1'"),
        ]
        for kwargs, message in cases:
            with pytest.raises(PipelineInputError, match=message) as caught:
                _run(store, **kwargs)  # type: ignore[arg-type]
            assert "\n" not in str(caught.value)
        assert RunStore(store.registry).list() == []
