"""``FeatureStore``: the facade users hold. Every method delegates to a service module."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from skewless._time import parse_time, to_utc
from skewless.backends import make_offline_engine, make_online_store
from skewless.config import RepoConfig, load_config
from skewless.definitions import (
    Definition,
    Entity,
    FeatureService,
    FeatureView,
    OnDemandFeatureView,
)
from skewless.feature_refs import FeatureRequest
from skewless.registry import Registry, RegistrySnapshot

if TYPE_CHECKING:
    from skewless._contracts import OfflineEngine, OnlineStore
    from skewless.audit_report import AuditReport
    from skewless.compact import CompactReport
    from skewless.datasets import DatasetCatalog, SavedDataset
    from skewless.materialize import MaterializeReport
    from skewless.online_read import OnlineReader, OnlineResponse
    from skewless.pipelines.records import PipelineRun
    from skewless.planning import Plan
    from skewless.push import PushContext, PushReport
    from skewless.retrieval import EntityFrame, RetrievalJob

__all__ = ["FeatureStore"]


class FeatureStore:
    """Definitions, offline retrieval and online serving of one repository.

    Args:
        repo_path: the directory holding ``feature_store.yaml``.
        config: a configuration to use instead of reading ``feature_store.yaml``.
        clock: returns "now" (UTC); defaults to the wall clock. Online TTL checks and
            incremental materialization read this one clock.
        offline_engine: an engine to use instead of the one ``offline_store`` configures,
            e.g. ``SparkEngine.from_session(spark, repo_path)`` over an existing SparkSession.

    Example:
        >>> store = FeatureStore(repo_path=".")  # doctest: +SKIP
        >>> store.get_online_features(["user_stats:total_purchases"],
        ...     entity_rows=[{"user_id": 1001}]).to_dict()  # doctest: +SKIP
    """

    def __init__(
        self,
        repo_path: str | Path = ".",
        config: RepoConfig | None = None,
        clock: Callable[[], datetime] | None = None,
        offline_engine: OfflineEngine | None = None,
    ) -> None:
        self.config = config if config is not None else load_config(repo_path)
        self.repo_path = self.config.repo_path
        self._clock = clock or (lambda: datetime.now(UTC))
        self._given_clock = clock  # None: the wall clock, which reads can take in microseconds
        self.registry = Registry(self.config)
        self._snapshot: RegistrySnapshot | None = None
        self._offline: OfflineEngine | None = offline_engine
        self._online: OnlineStore | None = None
        self._reader: OnlineReader | None = None

    # -- plumbing --------------------------------------------------------------------------
    @property
    def project(self) -> str:
        return self.config.project

    def now(self) -> datetime:
        """The store's clock, as an aware UTC datetime."""
        return to_utc(self._clock())

    @property
    def offline_engine(self) -> OfflineEngine:
        if self._offline is None:
            self._offline = make_offline_engine(self.config)
        return self._offline

    @property
    def online_store(self) -> OnlineStore:
        if self._online is None:
            self._online = make_online_store(self.config)
        return self._online

    def snapshot(self) -> RegistrySnapshot:
        """The registry as this store last read it (see :meth:`refresh_registry`)."""
        if self._snapshot is None:
            self._snapshot = self.registry.snapshot()
        return self._snapshot

    def refresh_registry(self) -> None:
        """Re-read the registry (after another process applied changes)."""
        self._snapshot = self.registry.snapshot()

    def close(self) -> None:
        for backend in (self._offline, self._online):
            if backend is not None:
                backend.close()
        self._offline = self._online = None
        self._reader = None
        self.registry.close()

    def __enter__(self) -> FeatureStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- definitions -----------------------------------------------------------------------
    def plan(self, objects: Sequence[Definition], *, partial: bool = True) -> Plan:
        """The diff that :meth:`apply` would make. ``partial=False`` also removes objects
        that are not in ``objects`` (what ``skewless apply`` does for a repository)."""
        from skewless.planning import make_plan

        return make_plan(self.registry, self.offline_engine, objects, partial=partial)

    def apply(self, objects: Definition | Sequence[Definition], *, partial: bool = True) -> Plan:
        """Add or update the given objects (as Feast does); returns the applied plan."""
        from skewless.planning import apply_plan

        if not isinstance(objects, Sequence):
            objects = [objects]
        plan = self.plan(objects, partial=partial)
        apply_plan(self.registry, self.online_store, plan)
        self.refresh_registry()
        return plan

    def list_entities(self) -> list[Entity]:
        return list(self.snapshot().entities.values())

    def list_feature_views(self) -> list[FeatureView]:
        return list(self.snapshot().feature_views.values())

    def list_feature_services(self) -> list[FeatureService]:
        return list(self.snapshot().feature_services.values())

    def get_entity(self, name: str) -> Entity:
        return self.snapshot().get_entity(name)

    def get_feature_view(self, name: str) -> FeatureView:
        return self.snapshot().get_feature_view(name)

    def get_feature_service(self, name: str) -> FeatureService:
        return self.snapshot().get_feature_service(name)

    def list_on_demand_feature_views(self) -> list[OnDemandFeatureView]:
        return list(self.snapshot().on_demand_feature_views.values())

    def get_on_demand_feature_view(self, name: str) -> OnDemandFeatureView:
        return self.snapshot().get_on_demand_feature_view(name)

    # -- offline ---------------------------------------------------------------------------
    def get_historical_features(
        self,
        entity_df: EntityFrame,
        features: FeatureRequest,
        full_feature_names: bool = False,
    ) -> RetrievalJob:
        """Point-in-time correct features for every row of ``entity_df`` (see docs/semantics.md)."""
        from skewless.retrieval import get_historical_features

        return get_historical_features(
            self.offline_engine,
            self.snapshot(),
            entity_df,
            features,
            full_feature_names,
            datasets=self.datasets,
        )

    # -- online ----------------------------------------------------------------------------
    def materialize(
        self,
        start_date: datetime | str,
        end_date: datetime | str,
        feature_views: Sequence[str] | None = None,
    ) -> MaterializeReport:
        """Write the latest row per key with ``start <= ts <= end`` to the online store."""
        from skewless.materialize import materialize

        start, end = parse_time(start_date, "START"), parse_time(end_date, "END")
        return materialize(self._materialize_context(), start, end, feature_views)

    def materialize_incremental(
        self, end_date: datetime | str | None = None, feature_views: Sequence[str] | None = None
    ) -> MaterializeReport:
        """Materialize each view from its watermark (or ``end - ttl``) up to ``end_date``."""
        from skewless.materialize import materialize_incremental

        end = parse_time(end_date, "END") if end_date is not None else self.now()
        return materialize_incremental(self._materialize_context(), end, feature_views)

    def _materialize_context(self) -> Any:
        from skewless.materialize import MaterializeContext

        return MaterializeContext(
            engine=self.offline_engine,
            online=self.online_store,
            registry=self.registry,
            snapshot=self.snapshot(),
            now=self.now(),
        )

    def push(
        self,
        push_source_name: str,
        rows: Any,
        to: str = "online",
    ) -> PushReport:
        """Validate ``rows`` against the view(s) fed by a push source and write them.

        ``rows`` may be a pandas or polars DataFrame, an Arrow table or a list of dicts;
        ``to`` is ``online``, ``offline`` or ``online_and_offline`` (or ``PushMode.ONLINE``, ...;
        see docs/semantics.md "Push").
        """
        from skewless.push import push

        return push(self._push_context(), push_source_name, rows, to)

    def _push_context(self) -> PushContext:
        from skewless.push import PushContext

        return PushContext(
            engine=self.offline_engine,
            online=self.online_store,
            snapshot=self.snapshot(),
            repo_path=self.repo_path,
            now=self.now(),
            max_clock_skew=self.config.push.max_clock_skew,
        )

    def write_to_online_store(
        self, feature_view_name: str, df: Any, allow_registry_cache: bool = True
    ) -> int:
        """Write rows straight to one view's online store (Feast's method), checked like a
        push; the offline source is not touched (see docs/push.md). Returns the rows written.
        """
        from skewless.push import write_view_online

        return write_view_online(self._push_context(), feature_view_name, df)

    def compact(
        self, feature_views: Sequence[str] | None = None, stale_after: timedelta | None = None
    ) -> CompactReport:
        """Merge the small files offline pushes left in the batch sources of push-fed views
        (all of them, or those of ``feature_views``) without changing any answer, and remove
        temporary files of crashed writes older than ``stale_after`` (default one hour)."""
        from skewless.compact import STALE_AFTER, compact

        stale = STALE_AFTER if stale_after is None else stale_after
        return compact(self.snapshot(), self.repo_path, feature_views, stale_after=stale)

    def get_online_features(
        self,
        features: FeatureRequest,
        entity_rows: Sequence[Mapping[str, Any]] | Mapping[str, Sequence[Any]],
        full_feature_names: bool = False,
    ) -> OnlineResponse:
        """The latest values for ``entity_rows``, with a status per value (docs/semantics.md)."""
        if self._reader is None:
            from skewless.online_read import OnlineReader

            self._reader = OnlineReader(self.online_store, self.snapshot, self._given_clock)
        return self._reader.read(features, entity_rows, full_feature_names)

    def audit(
        self,
        features: FeatureRequest | None = None,
        sample: int = 100,
        seed: int = 0,
        at: datetime | str | None = None,
        request_data: Mapping[str, Any] | None = None,
    ) -> AuditReport:
        """Compare online values with offline recomputation for a sample of entities.

        Per view, at ``T = min(watermark, now, at)``: mismatches are skew; rows newer than
        the watermark are reported separately as lag. See docs/audit.md.
        """
        from skewless.audit import AuditContext, audit

        context = AuditContext(
            engine=self.offline_engine,
            online=self.online_store,
            registry=self.registry,
            snapshot=self.snapshot(),
            now=self.now(),
        )
        return audit(context, features, sample, seed, at, request_data)

    # -- batch inference -------------------------------------------------------------------
    def predict_batch(
        self, model: str, entities: Any, out: str | Path | None = None, **options: Any
    ) -> Any:
        """Score ``entities`` with a registered model (``NAME``, ``NAME@ALIAS``,
        ``NAME/VERSION``) on point-in-time features, as ``skewless predict-batch`` does;
        returns ``(report, table)`` (the table None when written to ``out``). Options and the
        time rule for rows without ``event_timestamp``: docs/batch-inference.md."""
        from skewless.serving.batch import batch_context, predict_batch

        return predict_batch(batch_context(self), model, entities, out, **options)

    # -- pipelines -------------------------------------------------------------------------
    def run_pipeline(
        self,
        name: str,
        params: Mapping[str, Any] | None = None,
        resume: str | None = None,
        *,
        progress: bool | None = None,
        tracking: bool | None = None,
    ) -> PipelineRun:
        """Run the registered pipeline ``name`` (or resume its failed run ``resume``), as
        ``skewless pipelines run`` does; returns the run's record (``status`` is ``failed``
        when a step failed). See docs/pipelines.md."""
        from skewless.pipelines.runner import pipeline_context, run_pipeline

        context = pipeline_context(
            self.config, self.registry, {"store": self}, progress=progress,
            tracking=tracking, clock=self.now,
        )  # fmt: skip
        return run_pipeline(context, name, params, resume)

    # -- saved datasets --------------------------------------------------------------------
    @property
    def datasets(self) -> DatasetCatalog:
        """The saved training datasets of this repository."""
        from skewless.datasets import DatasetCatalog

        return DatasetCatalog(self.registry, self.repo_path, self.now)

    def save_dataset(
        self, job: RetrievalJob, name: str, *, overwrite: bool = False, description: str = ""
    ) -> SavedDataset:
        """Save the rows of a retrieval ``job`` as the training dataset ``name`` (the same as
        ``job.save_dataset(name)`` for a job this store made)."""
        from skewless.retrieval import save_retrieval

        return save_retrieval(
            self.datasets, job, name, overwrite=overwrite, description=description
        )

    def get_dataset(self, name: str) -> SavedDataset:
        """The saved training dataset ``name`` (see ``RetrievalJob.save_dataset``)."""
        return self.datasets.get(name)

    def list_datasets(self) -> list[SavedDataset]:
        """Every saved training dataset of the project, by name."""
        return self.datasets.all()

    def split_dataset(
        self, name: str, at: datetime | str, *, names: Sequence[str] | None = None
    ) -> tuple[SavedDataset, SavedDataset]:
        """Split dataset ``name`` by time at ``at`` into two saved datasets (rows before,
        rows at or after); named ``{name}_train`` and ``{name}_holdout`` unless ``names``."""
        return self.datasets.split(name, at, names=names)
