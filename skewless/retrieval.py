"""Point-in-time retrieval: ``get_historical_features`` and the job it returns.

The entity frame (pandas, polars, Arrow or a Parquet path) is converted to Arrow once and
checked before any work; the offline engine does the join (see docs/semantics.md).

``event_timestamp`` must hold timestamps (any unit, naive meaning UTC) or dates. ISO-8601
strings are parsed too, when all of them carry an offset (``Z``, ``+02:00``) or none does
(naive text means UTC).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from skewless import on_demand
from skewless._contracts import OfflineEngine, OfflineResult, ViewRequest
from skewless._time import to_utc
from skewless._types import parse_document_columns
from skewless.datasets import DatasetCatalog, SavedDataset
from skewless.definitions import FeatureService
from skewless.errors import ConfigError, EntityFrameError, SkewlessError
from skewless.feature_refs import FeatureRequest
from skewless.offline.entity import ENTITY_TIME
from skewless.registry.snapshot import RegistrySnapshot

if TYPE_CHECKING:
    import pandas as pd
    import polars as pl

__all__ = [
    "EntityFrame",
    "RetrievalJob",
    "RetrievalMetadata",
    "entity_table",
    "get_historical_features",
    "save_retrieval",
]

EntityFrame: TypeAlias = "pd.DataFrame | pa.Table | pl.DataFrame | str | Path"
"""What ``entity_df`` may be: a pandas or polars DataFrame, an Arrow table, or the path of a
Parquet file."""


def get_historical_features(
    engine: OfflineEngine,
    snapshot: RegistrySnapshot,
    entity_df: EntityFrame,
    features: FeatureRequest,
    full_feature_names: bool = False,
    *,
    datasets: DatasetCatalog | None = None,
) -> RetrievalJob:
    """Point-in-time correct features for every row of ``entity_df``.

    Args:
        engine: the offline engine that runs the join.
        snapshot: the registry's definitions.
        entity_df: the entity keys and ``event_timestamp`` of each wanted row, plus any other
            columns (passed through unchanged).
        features: ``["view:feature", ...]``, a FeatureService or a service name.
        full_feature_names: name output columns ``view__feature``.
        datasets: where :meth:`RetrievalJob.save_dataset` saves (the FeatureStore's catalog).

    Raises:
        FeatureNotFoundError: an unknown view or feature, or a name clash without full names.
        EntityFrameError: a missing column, a null or non-time ``event_timestamp``.

    Example:
        >>> job = get_historical_features(engine, snapshot, df, ["stats:score"])  # doctest: +SKIP
        >>> job.to_df()  # doctest: +SKIP
    """
    resolved = on_demand.resolve(features, snapshot, full_feature_names)
    requests = resolved.views
    table = check_entity_frame(entity_table(entity_df), requests)
    if resolved.on_demand:
        on_demand.check_request_columns(table.column_names, resolved, "the entity frame")
    refs = resolved.refs
    metadata = RetrievalMetadata(
        feature_refs=refs,
        feature_views=tuple(dict.fromkeys(ref.split(":")[0] for ref in refs)),
        full_feature_names=full_feature_names,
        join_keys=tuple(dict.fromkeys(k for r in requests for k in r.view.join_keys)),
        entity_columns=tuple(table.column_names),
        feature_service=_service_name(features, snapshot),
        _times=table.column(ENTITY_TIME),
    )
    result: OfflineResult = engine.historical(table, requests)
    if resolved.on_demand:
        result = on_demand.OnDemandResult(result, resolved, table.column_names)
    return RetrievalJob(result, metadata, datasets=datasets)


def _service_name(features: FeatureRequest, snapshot: RegistrySnapshot) -> str | None:
    if isinstance(features, FeatureService):
        return features.name
    if isinstance(features, str) and features in snapshot.feature_services:
        return features
    return None


def entity_table(entity_df: EntityFrame) -> pa.Table:
    """The entity frame as an Arrow table (a pandas or polars frame is converted once)."""
    if isinstance(entity_df, pa.Table):
        return entity_df
    if isinstance(entity_df, pa.RecordBatch):
        return pa.Table.from_batches([entity_df])
    if isinstance(entity_df, (str, Path)):
        path = Path(entity_df).expanduser()
        if not path.exists():
            raise EntityFrameError(
                f"entity frame {str(entity_df)!r} does not exist (looked at {path.resolve()}); "
                "pass a DataFrame, an Arrow table or the path of a Parquet file"
            )
        return pq.read_table(path)
    module = type(entity_df).__module__.split(".")[0]
    if module == "pandas":
        _refuse_duplicates([str(c) for c in entity_df.columns])  # pyarrow would raise first
        return pa.Table.from_pandas(entity_df, preserve_index=False)
    if module == "polars":
        import polars as pl

        if isinstance(entity_df, pl.DataFrame):
            return entity_df.to_arrow()
    raise EntityFrameError(
        f"entity_df is a {type(entity_df).__name__}: pass a pandas or polars DataFrame, an "
        "Arrow table or the path of a Parquet file"
    )


def _refuse_duplicates(names: Sequence[str]) -> None:
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
        raise EntityFrameError(
            f"the entity frame has duplicate column(s) {duplicated}: rename them or drop the "
            "copies, e.g. df.loc[:, ~df.columns.duplicated()]"
        )


def check_entity_frame(table: pa.Table, requests: Sequence[ViewRequest]) -> pa.Table:
    """Check the frame has what the requests need; returns it with times parsed if needed.

    Raises:
        EntityFrameError: naming the missing column (and what the frame has), the count of
            null ``event_timestamp`` rows, or a column that is not a time.
    """
    names = table.column_names
    _refuse_duplicates(names)
    has = ", ".join(names) or "no columns"
    if ENTITY_TIME not in names:
        raise EntityFrameError(
            f"the entity frame has no {ENTITY_TIME!r} column (it has: {has}); add the time of "
            f"each row as {ENTITY_TIME!r}, e.g. df.rename(columns={{'ts': '{ENTITY_TIME}'}})"
        )
    for request in requests:
        for key in request.view.join_keys:
            if key not in names:
                raise EntityFrameError(
                    f"the entity frame has no column {key!r}, a join key of feature view "
                    f"{request.view.name!r} (it has: {has}); add it"
                )
        clash = sorted(set(request.output_names) & set(names))
        if clash:
            raise EntityFrameError(
                f"entity frame column(s) {clash} have the name of requested feature(s) of "
                f"{request.view.name!r}: rename the column(s) or pass full_feature_names=True"
            )
    times = _times(table.column(ENTITY_TIME))
    nulls = times.null_count
    if nulls:
        first = pc.index(pc.is_null(times), True).as_py()
        raise EntityFrameError(
            f"{ENTITY_TIME!r} is null in {nulls} of {table.num_rows} entity rows (first at row "
            f"{first}); drop those rows or fill in their time"
        )
    if times is not table.column(ENTITY_TIME):
        table = table.set_column(names.index(ENTITY_TIME), ENTITY_TIME, times)
    return table


def _times(column: pa.ChunkedArray) -> pa.ChunkedArray:
    kind = column.type
    if pa.types.is_timestamp(kind) or pa.types.is_date(kind):
        return column
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        for target in (pa.timestamp("us", tz="UTC"), pa.timestamp("us")):
            try:
                return column.cast(target)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                continue
        raise EntityFrameError(
            f"{ENTITY_TIME!r} holds text that is not ISO-8601 timestamps all with or all "
            "without an offset; convert it, e.g. pandas.to_datetime(df['event_timestamp'], "
            "utc=True)"
        )
    raise EntityFrameError(
        f"{ENTITY_TIME!r} holds {kind}, not timestamps; convert it, e.g. "
        "pandas.to_datetime(df['event_timestamp'], utc=True)"
    )


@dataclass(frozen=True)
class RetrievalMetadata:
    """What a retrieval asked for.

    Attributes:
        feature_refs: ``view:feature`` in output order.
        feature_views: the views, in order of first appearance.
        full_feature_names: whether columns are named ``view__feature``.
        join_keys: every join key used, each once.
        entity_columns: the entity frame's columns (they come first in the output).
        feature_service: the FeatureService's name when the features were asked through one.
    """

    feature_refs: tuple[str, ...]
    feature_views: tuple[str, ...]
    full_feature_names: bool
    join_keys: tuple[str, ...]
    entity_columns: tuple[str, ...]
    feature_service: str | None = None
    _times: pa.ChunkedArray | None = field(default=None, compare=False, repr=False)

    @cached_property
    def _bounds(self) -> tuple[datetime | None, datetime | None]:
        if self._times is None or len(self._times) == 0:
            return None, None
        bounds = pc.min_max(self._times.cast(pa.timestamp("us", tz="UTC")))
        low, high = bounds["min"].as_py(), bounds["max"].as_py()
        return to_utc(low), to_utc(high)

    @property
    def min_event_timestamp(self) -> datetime | None:
        """The earliest entity time (UTC), None for an empty frame."""
        return self._bounds[0]

    @property
    def max_event_timestamp(self) -> datetime | None:
        """The latest entity time (UTC), None for an empty frame."""
        return self._bounds[1]


class RetrievalJob:
    """A point-in-time retrieval; it runs on the first ``to_*`` call and keeps the result.

    ``to_arrow`` keeps the declared types exactly (an int with nulls stays int);
    ``to_df`` gives Feast's pandas types (an int column with nulls becomes float64).
    """

    def __init__(
        self,
        result: OfflineResult,
        metadata: RetrievalMetadata,
        datasets: DatasetCatalog | None = None,
    ) -> None:
        self._result = result
        self._table: pa.Table | None = None
        self.metadata = metadata
        self.datasets = datasets

    @property
    def full_feature_names(self) -> bool:
        return self.metadata.full_feature_names

    @property
    def features(self) -> list[str]:
        """The ``view:feature`` references, as Feast's job lists them."""
        return list(self.metadata.feature_refs)

    def to_arrow(self) -> pa.Table:
        """The result as an Arrow table with the declared feature types."""
        if self._table is None:
            self._table = self._result.to_arrow()
        return self._table

    def to_df(self) -> pd.DataFrame:
        """The result as a pandas DataFrame (int columns with nulls become float64; ``Map``
        and ``Json`` values parsed into Python objects)."""
        table = self.to_arrow()
        return parse_document_columns(table.to_pandas(), table)

    def to_polars(self) -> pl.DataFrame:
        """The result as a polars DataFrame."""
        import polars as pl

        frame = pl.from_arrow(self.to_arrow())
        assert isinstance(frame, pl.DataFrame)
        return frame

    def to_parquet(self, path: str | Path) -> None:
        """Write the result to one Parquet file (by the engine, unless already computed)."""
        if self._table is not None:
            pq.write_table(self._table, path)
        else:
            self._result.to_parquet(path)

    def to_spark_df(self) -> Any:
        """The result as a lazy Spark DataFrame, in entity order (offline engine ``spark``).

        Raises:
            ConfigError: the engine is not Spark, or the request has on-demand features
                (they run in Python: use :meth:`to_arrow` or :meth:`to_parquet`).
        """
        to_spark = getattr(self._result, "to_spark_df", None)
        if to_spark is None:
            raise ConfigError(
                "to_spark_df() needs offline_store type spark and a request without on-demand "
                "features; use to_arrow() or to_parquet(path) otherwise"
            )
        return to_spark()

    def save_dataset(
        self, name: str, *, overwrite: bool = False, description: str = ""
    ) -> SavedDataset:
        """Save the result as the training dataset ``name`` (see docs/datasets.md).

        Raises:
            SkewlessError: the job was not made by a FeatureStore (use ``store.save_dataset``).
        """
        if self.datasets is None:
            raise SkewlessError(
                "this retrieval job was not made by a FeatureStore: get it from "
                "store.get_historical_features(...), or call store.save_dataset(job, name)"
            )
        return save_retrieval(
            self.datasets, self, name, overwrite=overwrite, description=description
        )

    def __repr__(self) -> str:
        refs = ", ".join(self.metadata.feature_refs)
        return f"RetrievalJob(features=[{refs}])"


def save_retrieval(
    datasets: DatasetCatalog,
    job: RetrievalJob,
    name: str,
    *,
    overwrite: bool = False,
    description: str = "",
) -> SavedDataset:
    """Save ``job``'s rows as the dataset ``name`` of ``datasets``, with what it retrieved."""
    meta = job.metadata
    return datasets.save(
        job.to_arrow(),
        name,
        feature_refs=meta.feature_refs,
        feature_views=meta.feature_views,
        feature_service=meta.feature_service,
        entity_columns=meta.entity_columns,
        overwrite=overwrite,
        description=description,
    )
