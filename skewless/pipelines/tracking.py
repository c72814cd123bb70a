"""Pipeline runs in MLflow: a parent run per pipeline run, a nested run per step.

MLflow is optional: :func:`tracking_hook` gives a hook only when MLflow is installed and the
repository uses it (``mlflow.tracking_uri`` is set in ``feature_store.yaml``, or the default
store ``data/mlflow.db`` exists). The hook talks through an ``MlflowClient`` bound to the
repository's URIs, so it never moves MLflow's process-wide active run or URIs, and the model
functions a step calls (``log_model``) keep working as they do outside a pipeline.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from skewless.models.tracking import Tracking, mlflow_available, tracking_for
from skewless.pipelines.hooks import RunHook

if TYPE_CHECKING:
    from skewless.config import RepoConfig
    from skewless.pipelines.records import PipelineRun, StepRecord

__all__ = ["MlflowHook", "tracking_hook", "uses_mlflow"]

_STATUS = {"succeeded": "FINISHED", "skipped-cached": "FINISHED", "failed": "FAILED"}


def uses_mlflow(config: RepoConfig) -> bool:
    """Whether MLflow is installed and the repository uses it."""
    if not mlflow_available():
        return False
    if config.mlflow.tracking_uri:
        return True
    return (Path(config.repo_path) / "data" / "mlflow.db").is_file()


def tracking_hook(config: RepoConfig, enabled: bool | None = None) -> MlflowHook | None:
    """The MLflow hook of a repository; None when ``enabled`` is False, or None and the
    repository does not use MLflow."""
    if enabled is False or (enabled is None and not uses_mlflow(config)):
        return None
    return MlflowHook(tracking_for(config))


def _params(values: dict[str, Any]) -> dict[str, str]:
    return {k: str(v)[:500] for k, v in values.items()}


class MlflowHook(RunHook):
    """Records a pipeline run as an MLflow parent run with a nested run per step.

    Args:
        tracking: the repository's MLflow URIs and experiment.
    """

    def __init__(self, tracking: Tracking) -> None:
        self.tracking = tracking
        self._client: Any = None
        self._experiment: str | None = None

    def _ready(self) -> tuple[Any, str]:
        if self._client is None:
            self._client = self.tracking.client()
            self._experiment = self.tracking.experiment_id(self._client)
        assert self._experiment is not None
        return self._client, self._experiment

    def run_started(self, run: PipelineRun) -> PipelineRun:
        from dataclasses import replace

        client, experiment = self._ready()
        if run.mlflow_run_id:
            client.update_run(run.mlflow_run_id, status="RUNNING")
            return run
        parent = client.create_run(
            experiment,
            run_name=f"{run.pipeline} {run.run_id}",
            tags={"skewless.pipeline": run.pipeline, "skewless.pipeline_run": run.run_id},
        )
        parent_id = parent.info.run_id
        for key, value in _params(run.params).items():
            client.log_param(parent_id, key, value)
        return replace(run, mlflow_run_id=parent_id)

    def step_ended(self, run: PipelineRun, step: StepRecord) -> None:
        if not run.mlflow_run_id:
            return
        client, experiment = self._ready()
        tags = {
            "mlflow.parentRunId": run.mlflow_run_id,
            "skewless.pipeline": run.pipeline,
            "skewless.pipeline_run": run.run_id,
            "skewless.step": step.name,
            "skewless.step_status": step.status,
            "skewless.code_hash": step.code_hash,
            "skewless.cache_key": step.cache_key,
        }
        if step.cached_from:
            tags["skewless.cached_from"] = step.cached_from
        if step.error:
            tags["skewless.error"] = step.error[:5000]
        child = client.create_run(experiment, run_name=step.name, tags=tags)
        child_id = child.info.run_id
        for key, value in _params(step.params).items():
            client.log_param(child_id, key, value)
        client.log_metric(child_id, "duration_s", float(step.duration_s or 0.0))
        client.log_metric(child_id, "attempts", float(step.attempts))
        client.set_terminated(child_id, status=_STATUS.get(step.status, "FINISHED"))

    def run_ended(self, run: PipelineRun) -> None:
        if not run.mlflow_run_id:
            return
        client, _ = self._ready()
        client.set_tag(run.mlflow_run_id, "skewless.run_status", run.status)
        client.set_terminated(
            run.mlflow_run_id, status="FINISHED" if run.status == "succeeded" else "FAILED"
        )
