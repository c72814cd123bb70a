"""Saved training datasets: a retrieval's output as Parquet, its lineage and its statistics.

``job.save_dataset(name)`` writes the rows to ``<repo>/data/datasets/`` (a temporary file,
flushed, then renamed) and only then records the metadata in the registry; if recording
fails the file is removed, so a failed save leaves nothing behind. The metadata holds the
feature references with the definition hash of each view at save time, a fingerprint of the
entity rows, the time range and per-column statistics: the reference later compared with
live data to detect drift. See docs/datasets.md.
"""

from __future__ import annotations

import hashlib
import math
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from skewless._files import write_parquet_atomically
from skewless._time import parse_time, to_utc
from skewless._types import dtype_from_arrow
from skewless.errors import (
    DefinitionError,
    RegistryConflictError,
    SkewlessError,
    SourceNotFoundError,
    TimeRangeError,
    UnknownObjectError,
)
from skewless.offline.entity import ENTITY_TIME

if TYPE_CHECKING:
    import pandas as pd

    from skewless.retrieval import RetrievalJob
    from skewless.store import FeatureStore

__all__ = [
    "DATASETS_DIR",
    "HISTOGRAM_BINS",
    "OTHER",
    "QUANTILES",
    "TOP_CATEGORIES",
    "SavedDataset",
    "column_stats",
    "entity_fingerprint",
    "get_dataset",
    "list_datasets",
    "save_dataset",
    "split_dataset",
]

DATASETS_DIR = Path("data") / "datasets"
"""Where dataset files live, relative to the repository."""
QUANTILES = (0.01, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99)
"""The quantiles kept per numeric column (numpy's ``linear`` method)."""
HISTOGRAM_BINS = 20
"""Equal-width bins between a numeric column's min and max."""
TOP_CATEGORIES = 50
"""Categories counted one by one; the rest are summed under :data:`OTHER`."""
OTHER = "__other__"

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")
_US_UTC = pa.timestamp("us", tz="UTC")


@dataclass(frozen=True)
class SavedDataset:
    """A saved training dataset: where its rows are and what they are.

    Attributes:
        name: the dataset's name, unique in the project.
        path: the Parquet file (absolute), under ``<repo>/data/datasets/``.
        feature_refs: ``view:feature`` as retrieved (on-demand refs too).
        feature_versions: view (or on-demand view) name -> its definition hash in the
            registry at save time.
        feature_service: the FeatureService the features were retrieved through, if any.
        entity_fingerprint: sha256 of the rows' entity columns (see :func:`entity_fingerprint`).
        rows: the number of rows.
        start: the earliest ``event_timestamp`` (UTC), None when there are no rows.
        end: the latest ``event_timestamp`` (UTC), None when there are no rows.
        columns: column -> skewless type name (``Float64``, ``Int64``, ``String``, ...).
        stats: column -> statistics (see :func:`column_stats`).
        created_at: when it was saved (UTC).
        parent: for a split, the dataset it was split from.
        split: for a split, ``{"at": ISO time, "side": "before" | "after"}``.
        description: free text given when saving.
        entity_columns: the entity frame's columns (the first columns of the rows).
    """

    name: str
    path: Path
    feature_refs: tuple[str, ...]
    feature_versions: dict[str, str]
    feature_service: str | None
    entity_fingerprint: str
    rows: int
    start: datetime | None
    end: datetime | None
    columns: dict[str, str]
    stats: dict[str, dict[str, Any]]
    created_at: datetime
    parent: str | None = None
    split: dict[str, Any] | None = None
    description: str = ""
    entity_columns: tuple[str, ...] = field(default=())

    def to_arrow(self) -> pa.Table:
        """The rows, as saved."""
        if not self.path.exists():
            raise SourceNotFoundError(
                f"the file of dataset {self.name!r} is missing ({self.path}): save the dataset "
                "again, or restore the file"
            )
        return pq.read_table(self.path)

    def to_df(self) -> pd.DataFrame:
        """The rows as a pandas DataFrame."""
        return self.to_arrow().to_pandas()

    def to_spec(self, repo_path: Path) -> dict[str, Any]:
        """The metadata as the registry stores it (the path relative to the repository)."""
        path = self.path.relative_to(repo_path) if self.path.is_relative_to(repo_path) else None
        return {
            "name": self.name,
            "path": str(path if path is not None else self.path),
            "feature_refs": list(self.feature_refs),
            "feature_versions": self.feature_versions,
            "feature_service": self.feature_service,
            "entity_fingerprint": self.entity_fingerprint,
            "entity_columns": list(self.entity_columns),
            "rows": self.rows,
            "start": _iso(self.start),
            "end": _iso(self.end),
            "columns": self.columns,
            "stats": self.stats,
            "created_at": _iso(self.created_at),
            "parent": self.parent,
            "split": self.split,
            "description": self.description,
        }

    @classmethod
    def from_spec(cls, spec: dict[str, Any], repo_path: Path) -> SavedDataset:
        """The dataset a registry spec describes (a relative path is under ``repo_path``)."""
        return cls(
            name=spec["name"],
            path=(repo_path / spec["path"]).resolve(),
            feature_refs=tuple(spec["feature_refs"]),
            feature_versions=dict(spec["feature_versions"]),
            feature_service=spec.get("feature_service"),
            entity_fingerprint=spec["entity_fingerprint"],
            rows=int(spec["rows"]),
            start=_from_iso(spec.get("start")),
            end=_from_iso(spec.get("end")),
            columns=dict(spec["columns"]),
            stats=dict(spec["stats"]),
            created_at=_from_iso(spec["created_at"]) or datetime.now(UTC),
            parent=spec.get("parent"),
            split=spec.get("split"),
            description=spec.get("description", ""),
            entity_columns=tuple(spec.get("entity_columns", ())),
        )


# -- saving -----------------------------------------------------------------------------------
def save_dataset(
    store: FeatureStore | None,
    job: RetrievalJob,
    name: str,
    *,
    overwrite: bool = False,
    description: str = "",
) -> SavedDataset:
    """Save a retrieval's rows as the dataset ``name``: file first, then the registry record.

    Raises:
        DefinitionError: ``name`` is not a valid dataset name.
        RegistryConflictError: the dataset exists and ``overwrite`` is false.
        SkewlessError: the job was not made by a FeatureStore.
    """
    if store is None:
        raise SkewlessError(
            "this retrieval job was not made by a FeatureStore: get it from "
            "store.get_historical_features(...), or call "
            "skewless.datasets.save_dataset(store, job, name)"
        )
    _check_new(store, name, overwrite)
    meta = job.metadata
    table = job.to_arrow()
    entity = [c for c in meta.entity_columns if c in table.column_names]
    return _save(
        store,
        table,
        name,
        overwrite=overwrite,
        feature_refs=tuple(meta.feature_refs),
        feature_versions=_feature_versions(store, meta.feature_views),
        feature_service=meta.feature_service,
        entity_columns=tuple(entity),
        description=description,
    )


def _check_new(
    store: FeatureStore,
    name: str,
    overwrite: bool,
    fix: str = "pass overwrite=True to replace it, or choose another name",
) -> None:
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise DefinitionError(
            f"dataset name {name!r} is not valid: use letters, digits, '_', '-' and '.', "
            "starting with a letter or digit (at most 128 characters)"
        )
    if not overwrite and store.registry.get_dataset_spec(name) is not None:
        raise RegistryConflictError(f"dataset {name!r} already exists: {fix}")


def _feature_versions(store: FeatureStore, views: Sequence[str]) -> dict[str, str]:
    _, records = store.registry.records()
    versions: dict[str, str] = {}
    for view in views:
        for kind in ("feature_view", "on_demand_feature_view"):
            record = records.get((kind, view))
            if record is not None:
                versions[view] = record.hash
                break
    return versions


def _save(
    store: FeatureStore,
    table: pa.Table,
    name: str,
    *,
    overwrite: bool,
    feature_refs: tuple[str, ...],
    feature_versions: dict[str, str],
    feature_service: str | None,
    entity_columns: tuple[str, ...],
    description: str = "",
    parent: str | None = None,
    split: dict[str, Any] | None = None,
) -> SavedDataset:
    repo = Path(store.repo_path).resolve()
    start, end = _time_range(table)
    directory = repo / DATASETS_DIR
    target = directory / f"{name}-{uuid.uuid4().hex[:12]}.parquet"
    dataset = SavedDataset(
        name=name,
        path=target,
        feature_refs=feature_refs,
        feature_versions=feature_versions,
        feature_service=feature_service,
        entity_fingerprint=entity_fingerprint(table.select(list(entity_columns))),
        rows=table.num_rows,
        start=start,
        end=end,
        columns={c: _type_name(table.schema.field(c).type) for c in table.column_names},
        stats={c: column_stats(table.column(c)) for c in table.column_names},
        created_at=store.now(),
        parent=parent,
        split=split,
        description=description,
        entity_columns=entity_columns,
    )
    text = orjson.dumps(dataset.to_spec(repo)).decode()
    write_parquet_atomically(table, target)
    try:
        replaced = store.registry.put_dataset(name, text, overwrite)
    except BaseException:
        target.unlink(missing_ok=True)
        raise
    if replaced is not None:
        old = SavedDataset.from_spec(orjson.loads(replaced), repo).path
        if old != target and old.is_relative_to(directory):
            old.unlink(missing_ok=True)
    return dataset


# -- reading ----------------------------------------------------------------------------------
def get_dataset(store: FeatureStore, name: str) -> SavedDataset:
    """The saved dataset ``name``.

    Raises:
        UnknownObjectError: no such dataset (the message lists the known ones).
    """
    text = store.registry.get_dataset_spec(name)
    if text is None:
        known = [n for n, _ in store.registry.list_dataset_specs()]
        raise UnknownObjectError(
            f"no dataset named {name!r} (known: "
            f"{', '.join(known) or 'none yet; save one with job.save_dataset(name)'})"
        )
    return SavedDataset.from_spec(orjson.loads(text), Path(store.repo_path).resolve())


def list_datasets(store: FeatureStore) -> list[SavedDataset]:
    """Every saved dataset of the project, by name."""
    repo = Path(store.repo_path).resolve()
    return [
        SavedDataset.from_spec(orjson.loads(text), repo)
        for _, text in store.registry.list_dataset_specs()
    ]


# -- splitting --------------------------------------------------------------------------------
def split_dataset(
    store: FeatureStore,
    name: str,
    at: datetime | str,
    *,
    names: Sequence[str] | None = None,
) -> tuple[SavedDataset, SavedDataset]:
    """Split dataset ``name`` by time: rows with ``event_timestamp < at`` and the others.

    Each side is saved as its own dataset whose ``parent`` is ``name``; they are named
    ``{name}_train`` and ``{name}_holdout`` unless ``names`` gives two names. The sides keep
    the parent's feature references and versions.

    Raises:
        UnknownObjectError: no dataset ``name``.
        TimeRangeError: ``at`` is not a time, or leaves one side empty.
        RegistryConflictError: a dataset of either target name exists already.
    """
    parent = get_dataset(store, name)
    cut = parse_time(at, "split time")
    first, second = _split_names(name, names)
    for target in (first, second):
        _check_new(store, target, False, "choose other names for the split (names=A,B)")
    table = parent.to_arrow()
    times = _utc_times(table)
    before = pc.fill_null(pc.less(times, pa.scalar(cut, _US_UTC)), False)
    sides = (table.filter(before), table.filter(pc.invert(before)))
    for side, rows in zip(("before", "after"), sides, strict=True):
        if rows.num_rows == 0:
            raise TimeRangeError(
                f"splitting dataset {name!r} at {cut.isoformat()} leaves no rows {side} it "
                f"(its rows span {_iso(parent.start)} to {_iso(parent.end)}): pick a time "
                "inside that range"
            )
    saved: list[SavedDataset] = []
    try:
        for target, side, rows in zip((first, second), ("before", "after"), sides, strict=True):
            saved.append(
                _save(
                    store,
                    rows,
                    target,
                    overwrite=False,
                    feature_refs=parent.feature_refs,
                    feature_versions=parent.feature_versions,
                    feature_service=parent.feature_service,
                    entity_columns=parent.entity_columns,
                    description=f"rows of {name!r} {side} {cut.isoformat()}",
                    parent=name,
                    split={"at": cut.isoformat(), "side": side},
                )
            )
    except BaseException:
        for done in saved:  # all or nothing
            store.registry.delete_dataset(done.name)
            done.path.unlink(missing_ok=True)
        raise
    return saved[0], saved[1]


def _split_names(name: str, names: Sequence[str] | None) -> tuple[str, str]:
    if names is None:
        return f"{name}_train", f"{name}_holdout"
    if isinstance(names, str):
        names = [n.strip() for n in names.split(",")]
    if len(names) != 2 or names[0] == names[1]:
        raise DefinitionError(
            f"names must be two different dataset names (before, after), not {list(names)!r}"
        )
    return names[0], names[1]


# -- statistics -------------------------------------------------------------------------------
def column_stats(column: pa.ChunkedArray | pa.Array) -> dict[str, Any]:
    """Statistics of one column, computed once when a dataset is saved.

    Numbers (ints, floats, decimals): ``{"kind": "numeric", "count", "nulls", "infinite",
    "mean", "std", "min", "max", "quantiles": {"0.01": ..., "0.99": ...}, "histogram":
    {"edges": [...], "counts": [...]}}`` over the finite values; NaN counts as null, ±inf is
    counted in ``infinite`` and left out of the rest (see :func:`_histogram` for the bins).
    ``mean`` is from an exactly rounded sum; ``std`` is the sample standard deviation
    (ddof=1), None with fewer than two values. Strings and bools: ``{"kind": "categorical",
    "count", "nulls", "categories": {value: count}}`` with the :data:`TOP_CATEGORIES` most
    frequent values (ties by value) and, when there are more, the rest under :data:`OTHER`.
    Times: ``{"kind": "time", "count", "nulls", "min", "max"}`` (ISO text). Anything else:
    ``{"kind": "other", "count", "nulls"}``.

    >>> column_stats(pa.array([1, 2, None]))["mean"]
    1.5
    """
    if isinstance(column, pa.Array):
        column = pa.chunked_array([column], column.type)
    kind = column.type
    nulls = column.null_count
    if pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_decimal(kind):
        return _numeric_stats(column, nulls)
    if pa.types.is_boolean(kind) or pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return _categorical_stats(column, nulls)
    count = len(column) - nulls
    if pa.types.is_timestamp(kind) or pa.types.is_date(kind):
        bounds = pc.min_max(column)
        low, high = bounds["min"].as_py(), bounds["max"].as_py()
        return {
            "kind": "time",
            "count": count,
            "nulls": nulls,
            "min": _time_text(low),
            "max": _time_text(high),
        }
    return {"kind": "other", "count": count, "nulls": nulls}


def _numeric_stats(column: pa.ChunkedArray, nulls: int) -> dict[str, Any]:
    values = pc.drop_null(column).cast(pa.float64(), safe=False).to_numpy()
    nan = np.isnan(values)
    infinite = np.isinf(values)
    finite = values[~nan & ~infinite]
    count = int(finite.size)
    out: dict[str, Any] = {
        "kind": "numeric",
        "count": count,
        "nulls": nulls + int(nan.sum()),
        "infinite": int(infinite.sum()),
    }
    if count == 0:
        none = dict.fromkeys(("mean", "std", "min", "max"))
        quantiles = {_q(q): None for q in QUANTILES}
        return {**out, **none, "quantiles": quantiles, "histogram": {"edges": [], "counts": []}}
    if pa.types.is_integer(column.type):
        bounds = pc.min_max(column)
        low, high = bounds["min"].as_py(), bounds["max"].as_py()
    else:
        low, high = float(finite.min()), float(finite.max())
    qs = np.quantile(finite, QUANTILES, method="linear")
    return {
        **out,
        "mean": math.fsum(finite) / count,
        "std": float(np.std(finite, ddof=1)) if count > 1 else None,
        "min": low,
        "max": high,
        "quantiles": {_q(q): float(v) for q, v in zip(QUANTILES, qs, strict=True)},
        "histogram": _histogram(finite),
    }


def _histogram(finite: np.ndarray) -> dict[str, list[Any]]:
    """Equal-width bins from min to max (the last one closed); one bin when the values are
    all equal or too close for :data:`HISTOGRAM_BINS` distinct edges."""
    low, high = float(finite.min()), float(finite.max())
    edges = np.linspace(low, high, HISTOGRAM_BINS + 1)
    if low == high or not np.all(np.isfinite(edges)) or np.any(edges[:-1] >= edges[1:]):
        return {"edges": [low, high], "counts": [int(finite.size)]}
    counts, edges = np.histogram(finite, bins=edges)
    return {"edges": [float(e) for e in edges], "counts": [int(c) for c in counts]}


def _categorical_stats(column: pa.ChunkedArray, nulls: int) -> dict[str, Any]:
    counted = pc.value_counts(pc.drop_null(column))
    pairs = [
        (_category(v), int(c))
        for v, c in zip(
            counted.field("values").to_pylist(), counted.field("counts").to_pylist(), strict=True
        )
    ]
    pairs.sort(key=lambda pair: (-pair[1], pair[0]))
    categories = dict(pairs[:TOP_CATEGORIES])
    rest = sum(c for _, c in pairs[TOP_CATEGORIES:])
    if len(pairs) > TOP_CATEGORIES:
        categories[OTHER] = rest
    return {
        "kind": "categorical",
        "count": len(column) - nulls,
        "nulls": nulls,
        "categories": categories,
    }


def _category(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _q(q: float) -> str:
    return f"{q:g}"


# -- fingerprints, times, types ---------------------------------------------------------------
def entity_fingerprint(table: pa.Table) -> str:
    """sha256 of the Arrow IPC stream of ``table``'s columns in sorted name order.

    Row order matters; column order, chunking and schema metadata do not. Times are taken
    as microseconds UTC and large strings as strings first, so a pandas frame and the
    retrieval output that copied it give the same fingerprint.

    >>> a = pa.table({"id": [1, 2], "x": ["a", "b"]})
    >>> entity_fingerprint(a) == entity_fingerprint(a.select(["x", "id"]))
    True
    >>> entity_fingerprint(a) == entity_fingerprint(a.take([1, 0]))
    False
    """
    names = sorted(table.column_names)
    arrays = []
    fields = []
    for name in names:
        column = table.column(name)
        if pa.types.is_timestamp(column.type):
            column = _as_utc(column)
        elif pa.types.is_large_string(column.type):
            column = column.cast(pa.string())
        elif pa.types.is_large_binary(column.type):
            column = column.cast(pa.binary())
        arrays.append(column.combine_chunks())
        fields.append(pa.field(name, column.type))
    schema = pa.schema(fields)
    canonical = pa.Table.from_arrays(arrays, schema=schema)
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, schema) as writer:
        writer.write_table(canonical)
    return hashlib.sha256(sink.getvalue().to_pybytes()).hexdigest()


def _utc_times(table: pa.Table) -> pa.ChunkedArray:
    if ENTITY_TIME not in table.column_names:
        raise SkewlessError(
            f"the dataset has no {ENTITY_TIME!r} column: it was not made by a retrieval"
        )
    column = table.column(ENTITY_TIME)
    if pa.types.is_date(column.type):
        column = column.cast(pa.timestamp("us"))
    return _as_utc(column)


def _as_utc(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """Timestamps as microseconds UTC (naive ones mean UTC)."""
    if column.type.tz is None:
        column = column.cast(pa.timestamp("us")).cast(pa.int64()).cast(_US_UTC)
    return column.cast(_US_UTC)


def _time_range(table: pa.Table) -> tuple[datetime | None, datetime | None]:
    if ENTITY_TIME not in table.column_names or table.num_rows == 0:
        return None, None
    bounds = pc.min_max(_utc_times(table))
    low, high = bounds["min"].as_py(), bounds["max"].as_py()
    return (to_utc(low) if low else None), (to_utc(high) if high else None)


def _type_name(kind: pa.DataType) -> str:
    try:
        return str(dtype_from_arrow(kind))
    except ValueError:
        return str(kind)


def _time_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return to_utc(value).isoformat()
    return str(value.isoformat())


def _iso(value: datetime | None) -> str | None:
    return None if value is None else to_utc(value).isoformat()


def _from_iso(text: str | None) -> datetime | None:
    return None if text is None else to_utc(datetime.fromisoformat(text))
