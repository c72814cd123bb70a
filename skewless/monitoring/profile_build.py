"""Building a :class:`~skewless.monitoring.profile.Profile` in one streaming pass.

The source is read as Arrow record batches (a Parquet file or directory batch by batch with
``pyarrow.dataset``; a frame or table sliced into batches) and never turned into a pandas
frame. Within a batch, the columns are profiled in parallel by a thread pool: the numpy and
Arrow kernels release the GIL.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
from datasketches import kll_doubles_sketch

from skewless.dataset_stats import type_name
from skewless.errors import ProfileError
from skewless.monitoring.profile import (
    SKETCH_K,
    TOP_K,
    VALUE_COUNTS,
    ColumnKind,
    ColumnProfile,
    Histogram,
    Profile,
    top_categories,
)
from skewless.monitoring.profile_distinct import DistinctSketch

__all__ = [
    "BATCH_ROWS",
    "DATASET_BINS",
    "Bins",
    "ProfileSource",
    "build_profile",
    "equal_width_bins",
]

BATCH_ROWS = 1 << 20
DATASET_BINS = 100
"""Equal-width bins between min and max whose exact counts a saved dataset's profile keeps."""
Bins = Mapping[str, Sequence[float]] | int | None
ProfileSource = Any
"""A ``pyarrow.Table``, ``RecordBatch``, ``RecordBatchReader`` or ``pyarrow.dataset.Dataset``,
a pandas or polars frame, or a Parquet path (file or directory) or a list of them."""


def build_profile(
    source: ProfileSource,
    columns: Sequence[str] | None = None,
    bins: Bins = None,
    batch_rows: int = BATCH_ROWS,
    *,
    threads: int | None = None,
    sketch_k: int = SKETCH_K,
    top_k: int = TOP_K,
) -> Profile:
    """The profile of ``source``'s ``columns`` (all by default), in one pass over its batches.

    Args:
        source: see :data:`ProfileSource`.
        columns: the columns to profile, in this order.
        bins: fixed bin edges per numeric column for exact histograms; an int asks for that many
            equal-width bins between each numeric column's min and max (found by a first,
            cheap pass: :func:`equal_width_bins`).
        batch_rows: rows per batch read.
        threads: the thread pool's size (default: the number of CPUs).
        sketch_k: the KLL sketch's ``k`` (larger: more accurate, bigger).
        top_k: categories counted one by one.

    >>> p = build_profile(pa.table({"x": [1.0, 2.0, None], "s": ["a", "b", "a"]}))
    >>> p.rows, p["x"].count, p["x"].nulls, p["x"].mean, p["s"].categories
    (3, 2, 1, 1.5, {'a': 2, 'b': 1})
    """
    dataset = _as_dataset(source)
    names = list(columns) if columns is not None else list(dataset.schema.names)
    missing = [c for c in names if c not in dataset.schema.names]
    if missing:
        raise ProfileError(
            f"cannot profile columns {missing}: the data has {', '.join(dataset.schema.names)}"
        )
    if isinstance(bins, int):
        if isinstance(dataset, _ReaderSource):
            raise ProfileError(
                "bins=<int> needs two passes over the data, and a RecordBatchReader gives one: "
                "pass the bin edges per column, or a table or Parquet path"
            )
        bins = equal_width_bins(dataset, names, bins, batch_rows)
    edges = {name: np.asarray(e, dtype=np.float64) for name, e in (bins or {}).items()}
    builders = {
        name: _ColumnBuilder.of(dataset.schema.field(name).type, edges.get(name), sketch_k, top_k)
        for name in names
    }
    rows = 0
    with ThreadPoolExecutor(max_workers=threads or os.cpu_count() or 1) as pool:
        for batch in _batches(dataset, names, batch_rows):
            rows += batch.num_rows
            done = [pool.submit(builders[n].update, batch.column(i)) for i, n in enumerate(names)]
            for future in done:
                future.result()
    return Profile(rows, {name: builders[name].result() for name in names})


def equal_width_bins(
    source: ProfileSource, columns: Sequence[str], bins: int, batch_rows: int = BATCH_ROWS
) -> dict[str, list[float]]:
    """``bins`` equal-width bins from min to max of each numeric column of ``columns`` (one
    bin around the value for a constant column; none for a column without finite values)."""
    dataset = _as_dataset(source)
    numeric = [c for c in columns if _kind(dataset.schema.field(c).type) == "numeric"]
    low = dict.fromkeys(numeric, math.inf)
    high = dict.fromkeys(numeric, -math.inf)
    for batch in _batches(dataset, numeric, batch_rows):
        for i, name in enumerate(numeric):
            values = _finite(batch.column(i))[0]
            if values.size:
                low[name] = min(low[name], float(values.min()))
                high[name] = max(high[name], float(values.max()))
    out: dict[str, list[float]] = {}
    for name in numeric:
        if low[name] > high[name]:
            continue
        if low[name] == high[name]:
            out[name] = [low[name] - 0.5, low[name] + 0.5]
            continue
        out[name] = [float(e) for e in np.linspace(low[name], high[name], bins + 1)]
    return out


# -- sources ----------------------------------------------------------------------------------
def _as_dataset(source: ProfileSource) -> ds.Dataset | _ReaderSource:
    if isinstance(source, ds.Dataset):
        return source
    if isinstance(source, str | Path):
        return ds.dataset(str(source), format="parquet")
    if isinstance(source, list | tuple) and source and isinstance(source[0], str | Path):
        return ds.dataset([str(p) for p in source], format="parquet")
    if isinstance(source, pa.RecordBatchReader):
        return _ReaderSource(source)
    if isinstance(source, pa.RecordBatch):
        return ds.dataset(pa.Table.from_batches([source]))
    if isinstance(source, pa.Table):
        return ds.dataset(source)
    if type(source).__module__.startswith("polars"):
        return ds.dataset(source.to_arrow())
    try:
        import pandas as pd
    except ImportError:  # pragma: no cover - pandas is a dependency
        pd = None  # type: ignore[assignment]
    if pd is not None and isinstance(source, pd.DataFrame):
        return ds.dataset(pa.Table.from_pandas(source, preserve_index=False))
    raise ProfileError(
        f"cannot profile a {type(source).__name__}: pass a pyarrow Table or RecordBatchReader, "
        "a pandas or polars frame, or a Parquet path"
    )


class _ReaderSource:
    """A record batch reader read once, batch by batch, as a dataset is."""

    def __init__(self, reader: pa.RecordBatchReader) -> None:
        self.reader = reader
        self.schema = reader.schema

    def to_batches(self, columns: list[str], batch_size: int) -> Iterator[pa.RecordBatch]:
        for batch in self.reader:
            for start in range(0, batch.num_rows, batch_size):
                yield batch.slice(start, batch_size).select(columns)


def _batches(
    dataset: ds.Dataset | _ReaderSource, names: Sequence[str], batch_rows: int
) -> Iterator[pa.RecordBatch]:
    for batch in dataset.to_batches(columns=list(names), batch_size=batch_rows):
        if batch.num_rows:
            yield batch


# -- one column -------------------------------------------------------------------------------
def _kind(kind: pa.DataType) -> ColumnKind:
    if pa.types.is_dictionary(kind):
        return _kind(kind.value_type)
    if pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_decimal(kind):
        return "numeric"
    if pa.types.is_boolean(kind):
        return "bool"
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return "categorical"
    if pa.types.is_timestamp(kind) or pa.types.is_date(kind):
        return "time"
    return "other"


def _finite(column: pa.Array) -> tuple[np.ndarray, int, int]:
    """The finite values of a numeric column as float64, its nulls (NaN too) and infinities."""
    nulls = column.null_count
    if nulls:
        column = column.drop_null()
    if pa.types.is_dictionary(column.type):
        column = column.dictionary_decode()
    if pa.types.is_integer(column.type):
        return column.to_numpy(zero_copy_only=False).astype(np.float64, copy=False), nulls, 0
    values = column.cast(pa.float64(), safe=False).to_numpy(zero_copy_only=False)
    ok = np.isfinite(values)
    if ok.all():
        return values, nulls, 0
    nan = int(np.isnan(values).sum())
    return values[ok], nulls + nan, int(values.size - ok.sum()) - nan


@dataclass
class _ColumnBuilder:
    kind: ColumnKind
    type: str
    edges: np.ndarray | None
    sketch_k: int
    top_k: int
    count: int = 0
    nulls: int = 0
    infinite: int = 0
    low: Any = None
    high: Any = None
    mean: float | None = None
    m2: float = 0.0
    sketch: kll_doubles_sketch | None = None
    bin_counts: np.ndarray | None = None
    distinct: DistinctSketch = field(default_factory=DistinctSketch)
    categories: dict[str, int] = field(default_factory=dict)
    other: int = 0
    values: dict[float, int] | None = field(default_factory=dict)

    @classmethod
    def of(
        cls, arrow_type: pa.DataType, edges: np.ndarray | None, sketch_k: int, top_k: int
    ) -> _ColumnBuilder:
        kind = _kind(arrow_type)
        builder = cls(
            kind, type_name(arrow_type), edges if kind == "numeric" else None, sketch_k, top_k
        )
        if kind == "numeric":
            builder.sketch = kll_doubles_sketch(sketch_k)
            if edges is not None:
                if edges.size < 2 or np.any(edges[:-1] >= edges[1:]):
                    raise ProfileError(
                        f"bin edges {edges.tolist()} must be at least two increasing numbers"
                    )
                builder.bin_counts = np.zeros(edges.size + 1, dtype=np.int64)
        return builder

    def update(self, column: pa.Array | pa.ChunkedArray) -> None:
        if isinstance(column, pa.ChunkedArray):
            column = column.combine_chunks()
        if self.kind == "numeric":
            self._numeric(column)
        elif self.kind in ("categorical", "bool"):
            self._categorical(column)
        else:
            self.nulls += column.null_count
            self.count += len(column) - column.null_count
            if self.kind == "time" and len(column) > column.null_count:
                bounds = pc.min_max(column)
                self.low = _extreme(min, self.low, bounds["min"].as_py())
                self.high = _extreme(max, self.high, bounds["max"].as_py())

    def _numeric(self, column: pa.Array) -> None:
        values, nulls, infinite = _finite(column)
        self.nulls += nulls
        self.infinite += infinite
        n = int(values.size)
        if n == 0:
            return
        mean = float(values.mean())
        deviations = values - mean
        m2 = float(np.dot(deviations, deviations))
        if self.mean is None:
            self.mean, self.m2 = mean, m2
        else:
            total = self.count + n
            delta = mean - self.mean
            self.mean += delta * n / total
            self.m2 += m2 + delta * delta * self.count * n / total
        self.count += n
        self.low = _extreme(min, self.low, float(values.min()))
        self.high = _extreme(max, self.high, float(values.max()))
        if self.bin_counts is not None and self.edges is not None:
            self._histogram(values, self.edges, self.bin_counts)
        self.distinct.update_numbers(values)
        if self.values is not None:
            self._count_values(values)
        # KLL's guarantee holds for any order; sorted input takes it about half the time.
        assert self.sketch is not None
        self.sketch.update(np.sort(values))

    def _count_values(self, values: np.ndarray) -> None:
        assert self.values is not None
        if not self.distinct.exact or self.distinct.estimate() > VALUE_COUNTS:
            self.values = None
            return
        counted = pc.value_counts(pa.array(values))
        found = self.values
        for v, n in zip(
            counted.field("values").to_pylist(), counted.field("counts").to_pylist(), strict=True
        ):
            key = v + 0.0  # -0.0 counts as 0.0
            found[key] = found.get(key, 0) + n

    @staticmethod
    def _histogram(values: np.ndarray, edges: np.ndarray, counts: np.ndarray) -> None:
        """counts[0]: below the first edge; counts[i]: bin i - 1; counts[-1]: above the last
        (``numpy.histogram``'s bins: the last one closed)."""
        counts[1:-1] += np.histogram(values, bins=edges)[0]
        counts[0] += np.count_nonzero(values < edges[0])
        counts[-1] += np.count_nonzero(values > edges[-1])

    def _categorical(self, column: pa.Array) -> None:
        self.nulls += column.null_count
        self.count += len(column) - column.null_count
        if pa.types.is_dictionary(column.type):
            column = column.dictionary_decode()
        counted = pc.value_counts(column.drop_null())
        values = counted.field("values").to_pylist()
        if self.kind == "bool":
            values = ["true" if v else "false" for v in values]
        self.distinct.update_strings(values)
        categories = self.categories
        for value, n in zip(values, counted.field("counts").to_pylist(), strict=True):
            categories[value] = categories.get(value, 0) + n
        if len(categories) > 2 * self.top_k:  # keep memory bounded on high-cardinality data
            self.categories, rest = top_categories(categories, self.top_k)
            self.other += rest

    def result(self) -> ColumnProfile:
        if self.kind == "numeric":
            histogram = None
            if self.bin_counts is not None and self.edges is not None:
                c = self.bin_counts
                histogram = Histogram(
                    tuple(float(e) for e in self.edges),
                    tuple(int(x) for x in c[1:-1]),
                    int(c[0]),
                    int(c[-1]),
                )
            return ColumnProfile(
                "numeric", self.type, self.count, self.nulls, self.infinite,
                self.low, self.high, self.mean, self.m2,
                sketch=self.sketch, histogram=histogram, distinct=self.distinct,
                value_counts=dict(sorted(self.values.items())) if self.values is not None else None,
            )  # fmt: skip
        if self.kind in ("categorical", "bool"):
            categories, rest = top_categories(self.categories, self.top_k)
            return ColumnProfile(
                self.kind, self.type, self.count, self.nulls,
                distinct=self.distinct, categories=categories, other=self.other + rest,
            )  # fmt: skip
        return ColumnProfile(
            self.kind, self.type, self.count, self.nulls, 0, _text(self.low), _text(self.high)
        )


def _extreme(pick: Any, a: Any, b: Any) -> Any:
    if a is None:
        return b
    if b is None:
        return a
    return pick(a, b)


def _text(value: Any) -> str | None:
    if value is None:
        return None
    return value.isoformat() if isinstance(value, datetime) else str(value)
