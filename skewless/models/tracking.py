"""Where MLflow lives for a repository, and a client bound to it.

The tracking URI comes from the ``mlflow:`` block of ``feature_store.yaml``; by default it is
``sqlite:///<repo>/data/mlflow.db``, an absolute path, with artifacts beside it in
``<repo>/data/mlartifacts``. A server URI (``http://...``) is checked for reachability first
so that a server that is down is one clear error within seconds, not minutes of retries.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from skewless.errors import ModelRegistryError, TrackingServerError

if TYPE_CHECKING:
    from skewless.config import RepoConfig

__all__ = ["MLFLOW_HINT", "Tracking", "mlflow_available", "tracking_for"]

MLFLOW_HINT = "install it with: pip install 'skewless[mlflow]'"
_CONNECT_TIMEOUT_S = 3.0
_PROGRESS_ENV = "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"


def mlflow_available() -> bool:
    """Whether MLflow can be imported."""
    import importlib.util

    try:
        return importlib.util.find_spec("mlflow") is not None
    except (ImportError, ValueError):
        return False


def _resolve_uri(uri: str, repo: Path) -> str:
    if uri.startswith("sqlite:///") and not uri.startswith("sqlite:////"):
        return f"sqlite:///{(repo / uri.removeprefix('sqlite:///')).resolve()}"
    return uri


@dataclass(frozen=True)
class Tracking:
    """The MLflow tracking and registry URIs of a repository, and its experiment.

    Attributes:
        tracking_uri: where runs are recorded.
        registry_uri: where models are registered.
        experiment: the experiment runs are logged to.
        artifact_location: where a new experiment keeps artifacts (local stores only).
        keep_versions: the retention rule (latest N versions kept).
    """

    tracking_uri: str
    registry_uri: str
    experiment: str
    artifact_location: str | None
    keep_versions: int = 3

    @property
    def is_remote(self) -> bool:
        return urlparse(self.tracking_uri).scheme in ("http", "https")

    def check_reachable(self) -> None:
        """Raise :class:`TrackingServerError` when an HTTP server does not accept connections."""
        for uri in {self.tracking_uri, self.registry_uri}:
            parsed = urlparse(uri)
            if parsed.scheme not in ("http", "https"):
                continue
            port = parsed.port or (443 if parsed.scheme == "https" else 80)
            try:
                with socket.create_connection(
                    (parsed.hostname or "localhost", port), timeout=_CONNECT_TIMEOUT_S
                ):
                    pass
            except OSError as exc:
                reason = exc.strerror or type(exc).__name__
                raise TrackingServerError(
                    f"cannot reach the MLflow tracking server at {uri} ({reason}): start it "
                    "(mlflow server ...) or fix mlflow.tracking_uri in feature_store.yaml"
                ) from None

    def client(self) -> Any:
        """An ``MlflowClient`` on this repository's URIs that leaves MLflow's process-wide
        URIs alone, so a thread (a server's watcher) may use it while others use
        :meth:`active`."""
        if not mlflow_available():
            raise ModelRegistryError(f"the model registry needs MLflow: {MLFLOW_HINT}")
        self.check_reachable()
        from mlflow import MlflowClient

        return MlflowClient(tracking_uri=self.tracking_uri, registry_uri=self.registry_uri)

    @contextmanager
    def active(self) -> Iterator[Any]:
        """MLflow pointed at this repository for the duration; yields an ``MlflowClient``.

        MLflow keeps its URIs in process-wide state; the previous ones are restored after.
        """
        if not mlflow_available():
            raise ModelRegistryError(f"the model registry needs MLflow: {MLFLOW_HINT}")
        self.check_reachable()
        import mlflow
        from mlflow import MlflowClient

        if self.is_remote:
            os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
            os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "30")
        previous = _uri_state()
        quiet = os.environ.get(_PROGRESS_ENV)
        os.environ[_PROGRESS_ENV] = "false"
        mlflow.set_tracking_uri(self.tracking_uri)
        mlflow.set_registry_uri(self.registry_uri)
        try:
            yield MlflowClient(tracking_uri=self.tracking_uri, registry_uri=self.registry_uri)
        finally:
            _restore_uri_state(previous)
            if quiet is None:
                os.environ.pop(_PROGRESS_ENV, None)
            else:
                os.environ[_PROGRESS_ENV] = quiet

    def experiment_id(self, client: Any) -> str:
        """The id of :attr:`experiment`, created on first use."""
        found = client.get_experiment_by_name(self.experiment)
        if found is not None:
            return str(found.experiment_id)
        try:
            return str(
                client.create_experiment(self.experiment, artifact_location=self.artifact_location)
            )
        except Exception:  # another process created it first
            found = client.get_experiment_by_name(self.experiment)
            if found is None:
                raise
            return str(found.experiment_id)


_URI_ENV = ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")


def _uri_state() -> tuple[Any, Any, dict[str, str | None]]:
    """MLflow's process-wide URIs exactly as set (unset stays unset), and their env vars."""
    from mlflow.tracking._model_registry import utils as registry_utils
    from mlflow.tracking._tracking_service import utils as tracking_utils

    env = {key: os.environ.get(key) for key in _URI_ENV}
    return tracking_utils._tracking_uri, registry_utils._registry_uri, env


def _restore_uri_state(state: tuple[Any, Any, dict[str, str | None]]) -> None:
    from mlflow.tracking._model_registry import utils as registry_utils
    from mlflow.tracking._tracking_service import utils as tracking_utils

    tracking_utils._tracking_uri, registry_utils._registry_uri, env = state
    for key, value in env.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


def tracking_for(config: RepoConfig) -> Tracking:
    """The :class:`Tracking` a repository's configuration describes."""
    repo = Path(config.repo_path).resolve()
    block = config.mlflow
    if block.keep_versions < 1:
        raise ModelRegistryError(
            f"mlflow.keep_versions is {block.keep_versions}: keep at least 1 version"
        )
    if block.tracking_uri:
        tracking = _resolve_uri(block.tracking_uri, repo)
    else:
        tracking = f"sqlite:///{repo / 'data' / 'mlflow.db'}"
    registry = _resolve_uri(block.registry_uri, repo) if block.registry_uri else tracking
    local = tracking.startswith("sqlite:") or urlparse(tracking).scheme in ("", "file")
    if local:
        (repo / "data").mkdir(parents=True, exist_ok=True)
    return Tracking(
        tracking_uri=tracking,
        registry_uri=registry,
        experiment=block.experiment or f"skewless-{config.project}",
        artifact_location=str(repo / "data" / "mlartifacts") if local else None,
        keep_versions=block.keep_versions,
    )
