"""Reading what the lineage graph is built from: the registry, the saved datasets, MLflow's
model versions, the experiment records and the prediction logs on disk.

MLflow is optional: without a :class:`~skewless.models.tracking.Tracking` (or without MLflow
installed) the graph simply has no model versions.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from skewless.experiments.records import ExperimentStore
from skewless.lineage.graph import LineageInputs
from skewless.models.versions import ModelVersionInfo
from skewless.serving.log_files import logs_root

if TYPE_CHECKING:
    from skewless.datasets import DatasetCatalog
    from skewless.models.tracking import Tracking
    from skewless.registry import Registry

__all__ = ["lineage_inputs", "model_versions", "prediction_logs"]


def model_versions(tracking: Tracking | None) -> list[ModelVersionInfo]:
    """Every version of every registered model, by name then version (none without MLflow).

    Raises:
        ModelRegistryError: MLflow is missing or the tracking server cannot be reached.
    """
    if tracking is None:
        return []
    client = tracking.client()
    found: list[ModelVersionInfo] = []
    for registered in sorted(client.search_registered_models(), key=lambda r: r.name):
        held: dict[int, list[str]] = {}
        for alias, version in (registered.aliases or {}).items():
            held.setdefault(int(version), []).append(str(alias))
        quoted = registered.name.replace("'", "\\'")
        versions = client.search_model_versions(f"name = '{quoted}'")
        for mv in sorted(versions, key=lambda v: int(v.version)):
            found.append(ModelVersionInfo.from_mlflow(mv, held.get(int(mv.version), [])))
    return found


def prediction_logs(root: Path) -> list[str]:
    """The names of the prediction logs under ``root`` (``data/prediction_logs/<name>``)."""
    base = logs_root(root)
    if not base.is_dir():
        return []
    return sorted(p.name for p in base.iterdir() if p.is_dir() and not p.name.startswith("."))


def lineage_inputs(
    registry: Registry,
    datasets: DatasetCatalog,
    tracking: Tracking | None,
    root: Path,
) -> LineageInputs:
    """Everything :func:`~skewless.lineage.graph.build_graph` needs, read now.

    Raises:
        ModelRegistryError: ``tracking`` is given but MLflow cannot be reached.
    """
    return LineageInputs(
        snapshot=registry.snapshot(),
        datasets=tuple(datasets.all()),
        models=tuple(model_versions(tracking)),
        experiments=tuple(ExperimentStore(registry).list()),
        logs=tuple(prediction_logs(root)),
    )
