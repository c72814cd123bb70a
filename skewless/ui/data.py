"""What the web UI reads, and how long it keeps it.

The registry's definitions are read again only when the registry version moves (one
single-row query per request: :meth:`Registry.snapshot` keeps the snapshot of the version it
last read). Saved datasets, documents (experiments, pipeline runs, audits) and prediction-log
names have no version to poll, so they are kept for ``ttl_s`` seconds (2 by default); MLflow's
model versions, a slower read, for ``models_ttl_s`` (10). Once a value is that old, the next
request still gets it at once while a background thread reads the new one, so no page waits
for a re-read. The lineage graph and the search index are rebuilt only when one of their
inputs is a new object.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Generic, TypeVar

from skewless.audit_records import ViewAuditSummary, latest_audits
from skewless.datasets import DatasetCatalog, SavedDataset
from skewless.errors import SkewlessError
from skewless.experiments.records import ExperimentRecord, ExperimentStore
from skewless.lineage import LineageGraph, LineageInputs, build_graph, prediction_logs
from skewless.lineage.collect import model_versions
from skewless.models.tracking import MLFLOW_HINT, Tracking
from skewless.models.versions import ModelVersionInfo
from skewless.pipelines.records import PipelineRun, RunStore
from skewless.registry import Registry, RegistrySnapshot

__all__ = ["ModelListing", "UiData", "UiSources"]

T = TypeVar("T")


@dataclass(frozen=True)
class UiSources:
    """Everything the UI reads.

    Attributes:
        registry: definitions, history, watermarks, datasets and documents.
        datasets: the saved datasets.
        tracking: MLflow's tracking and registry (None: the UI shows no models).
        root: the repository (its prediction logs and source files).
        clock: "now" (UTC).
    """

    registry: Registry
    datasets: DatasetCatalog
    tracking: Tracking | None
    root: Path
    clock: Callable[[], datetime]


@dataclass(frozen=True)
class ModelListing:
    """The registered model versions, or why there are none to show."""

    versions: tuple[ModelVersionInfo, ...]
    problem: str | None = None

    def names(self) -> list[str]:
        return sorted({v.name for v in self.versions})

    def of(self, name: str) -> list[ModelVersionInfo]:
        return [v for v in self.versions if v.name == name]


class _Timed(Generic[T]):
    """A value read again once it is ``ttl_s`` seconds old: the first read waits, later ones
    get the held value at once while a background thread reads the new one."""

    def __init__(self, read: Callable[[], T], ttl_s: float) -> None:
        self._read = read
        self._ttl = ttl_s
        self._value: T | None = None
        self._at = -float("inf")
        self._lock = threading.Lock()
        self._refreshing = False

    def get(self) -> T:
        with self._lock:
            value, fresh = self._value, time.monotonic() - self._at < self._ttl
            if value is not None and (fresh or self._refreshing):
                return value
            if value is not None:
                self._refreshing = True
        if value is None:
            return self._store(self._read())
        threading.Thread(target=self._refresh, name="skewless-ui-refresh", daemon=True).start()
        return value

    def _store(self, value: T) -> T:
        with self._lock:
            self._value, self._at = value, time.monotonic()
        return value

    def _refresh(self) -> None:
        try:
            self._store(self._read())
        except Exception:  # the held value stays; the next request tries again
            pass
        finally:
            with self._lock:
                self._refreshing = False


class UiData:
    """Cached reads over :class:`UiSources` (see the module docstring).

    Args:
        sources: what to read.
        ttl_s: how long datasets, documents and log names are kept.
        models_ttl_s: how long MLflow's model versions are kept.
    """

    def __init__(self, sources: UiSources, ttl_s: float = 2.0, models_ttl_s: float = 10.0) -> None:
        self.sources = sources
        self._datasets = _Timed(self._read_datasets, ttl_s)
        self._models = _Timed(self._read_models, models_ttl_s)
        self._experiments = _Timed(lambda: ExperimentStore(sources.registry).list(), ttl_s)
        self._runs = _Timed(lambda: RunStore(sources.registry).list(), ttl_s)
        self._audits = _Timed(lambda: latest_audits(sources.registry), ttl_s)
        self._logs = _Timed(lambda: prediction_logs(sources.root), ttl_s)
        self._derived: dict[str, tuple[tuple[int, ...], Any]] = {}
        self._lock = threading.Lock()

    @property
    def root(self) -> Path:
        return self.sources.root

    def now(self) -> datetime:
        return self.sources.clock()

    def snapshot(self) -> RegistrySnapshot:
        """The registry's definitions (read again when its version moves)."""
        return self.sources.registry.snapshot()

    def datasets(self) -> dict[str, SavedDataset]:
        return self._datasets.get()

    def models(self) -> ModelListing:
        return self._models.get()

    def experiments(self) -> list[ExperimentRecord]:
        return self._experiments.get()

    def runs(self) -> list[PipelineRun]:
        return self._runs.get()

    def audits(self) -> dict[str, ViewAuditSummary]:
        return self._audits.get()

    def logs(self) -> list[str]:
        return self._logs.get()

    def derived(self, key: str, inputs: tuple[object, ...], build: Callable[[], T]) -> T:
        """``build()``, kept while every object of ``inputs`` is the same one."""
        identity = tuple(id(x) for x in inputs)
        with self._lock:
            held = self._derived.get(key)
            if held is not None and held[0] == identity:
                found: T = held[1]
                return found
        value = build()
        with self._lock:
            self._derived[key] = (identity, value)
        return value

    def graph(self) -> LineageGraph:
        """The lineage graph of everything read (rebuilt when an input changes)."""
        snapshot, datasets, models = self.snapshot(), self.datasets(), self.models()
        experiments, logs = self.experiments(), self.logs()

        def build() -> LineageGraph:
            inputs = LineageInputs(
                snapshot=snapshot,
                datasets=tuple(datasets.values()),
                models=models.versions,
                experiments=tuple(experiments),
                logs=tuple(logs),
            )
            return build_graph(inputs)

        return self.derived("graph", (snapshot, datasets, models, experiments, logs), build)

    def _read_datasets(self) -> dict[str, SavedDataset]:
        return {d.name: d for d in self.sources.datasets.all()}

    def _read_models(self) -> ModelListing:
        tracking = self.sources.tracking
        if tracking is None:
            return ModelListing((), f"MLflow is not set up, so no models are shown: {MLFLOW_HINT}")
        try:
            return ModelListing(tuple(model_versions(tracking)))
        except SkewlessError as exc:
            return ModelListing((), str(exc))
