"""Profiles: a mergeable summary per column, the stored reference drift tests compare with.

A :class:`ColumnProfile` holds, for a numeric column, exact counts (rows, nulls, infinities),
min, max, mean and variance (merged by Chan's parallel formulas), a KLL quantile sketch
(Apache DataSketches, ``kll_doubles_sketch``), an exact histogram on fixed reference bins when
bins were given, and a distinct count estimate; for strings, category counts with a top-k cap
and an ``other`` count; for bools, the counts of each value. :meth:`Profile.merge` is
associative: merging the profiles of parts of the data gives the profile of the whole, exactly
for the counts, extremes, histograms and distinct sketches, within float rounding for mean and
variance, and within the sketch's rank error for quantiles. See docs/monitoring.md, "Profiles".

Format 2 is this one; format 1 is the per-column statistics datasets stored before
(:func:`skewless.dataset_stats.column_stats`: 9 quantiles, 20 bins, top 50 categories), read by
:meth:`Profile.from_dataset_stats`; what format 1 cannot answer raises :class:`ProfileError`
naming the command that re-profiles the dataset.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
import orjson
from datasketches import kll_doubles_sketch

from skewless.errors import ProfileError
from skewless.monitoring.profile_distinct import DistinctSketch
from skewless.monitoring.profile_parts import (
    TOP_K,
    VALUE_COUNTS,
    Histogram,
    chan,
    extreme,
    merge_categories,
    merge_distinct,
    merge_histograms,
    merge_sketches,
    merge_values,
    top_categories,
)

__all__ = [
    "FORMAT_VERSION",
    "OTHER",
    "SKETCH_K",
    "TOP_K",
    "VALUE_COUNTS",
    "ColumnKind",
    "ColumnProfile",
    "Histogram",
    "Profile",
    "profile_file",
    "top_categories",
]

FORMAT_VERSION = 2
SKETCH_K = 400
"""KLL's ``k``: single-query rank error about 0.7% at the 99th percentile of trials."""
OTHER = "__other__"

ColumnKind = Literal["numeric", "categorical", "bool", "time", "other"]


def profile_file(data_path: Path) -> Path:
    """Where the profile of a saved dataset's file lives: beside it, ``<stem>.profile.json``."""
    return data_path.with_name(data_path.stem + ".profile.json")


@dataclass(frozen=True)
class ColumnProfile:
    """The profile of one column (see the module docstring; fields unused by a kind are None).

    Attributes:
        kind: ``numeric``, ``categorical`` (strings), ``bool``, ``time`` or ``other``.
        type: the column's type name (``Float64``, ``String``, ...).
        count: non-null values (numeric: finite values).
        nulls: nulls (numeric: NaN too).
        infinite: ±inf values (numeric), left out of every other figure.
        min, max: of the finite values (time: ISO text).
        mean, m2: mean and sum of squared deviations of the finite values.
        sketch: the KLL quantile sketch (format 2, numeric).
        histogram: exact counts on fixed bins, when bins were given.
        distinct: the distinct-count sketch (format 2).
        categories: value -> count (strings, bools), at most ``TOP_K`` values.
        other: the count of the values beyond the top ``TOP_K``.
        value_counts: value -> count of a numeric column with at most ``VALUE_COUNTS``
            distinct values (None past that), exact: what a test of a column of few values
            (binary, or 5 values or fewer) compares.
        fixed_quantiles: q -> value, the quantiles format 1 stored (no sketch there).
        format_version: the format this column was read from.
    """

    kind: ColumnKind
    type: str
    count: int = 0
    nulls: int = 0
    infinite: int = 0
    min: float | str | None = None
    max: float | str | None = None
    mean: float | None = None
    m2: float = 0.0
    sketch: kll_doubles_sketch | None = field(default=None, compare=False, repr=False)
    histogram: Histogram | None = None
    distinct: DistinctSketch | None = field(default=None, compare=False, repr=False)
    categories: dict[str, int] | None = None
    other: int = 0
    value_counts: dict[float, int] | None = None
    fixed_quantiles: dict[float, float] | None = None
    format_version: int = FORMAT_VERSION

    # -- figures -----------------------------------------------------------------------------
    @property
    def rows(self) -> int:
        """All rows of the column, null or not."""
        return self.count + self.nulls + self.infinite

    def variance(self, ddof: int = 0) -> float | None:
        """The variance of the finite values (None with ``count <= ddof``)."""
        if self.count <= ddof:
            return None
        return self.m2 / (self.count - ddof)

    def std(self, ddof: int = 0) -> float | None:
        """The standard deviation of the finite values (None with ``count <= ddof``)."""
        var = self.variance(ddof)
        return None if var is None else math.sqrt(var)

    @property
    def distinct_count(self) -> int | None:
        """The number of distinct non-null values: exact up to 4096 of them, else an estimate
        (see :mod:`skewless.monitoring.profile_distinct`); None when the format lacks it."""
        if self.distinct is not None:
            return self.distinct.estimate()
        if self.categories is not None and self.other == 0:
            return len(self.categories)
        return None

    @property
    def rank_error(self) -> float:
        """The sketch's normalized rank error ε (single-sided, 99% of trials): a quantile
        ``q`` from :meth:`quantiles` has a true rank within ``q ± ε``."""
        sketch = self._require_sketch("quantiles")
        return float(sketch.normalized_rank_error(False)) if sketch.is_estimation_mode() else 0.0

    def quantiles(self, q: Sequence[float]) -> list[float]:
        """Quantiles of the finite values (from the sketch; format 1: only its 9 stored ones)."""
        if self.sketch is None and self.fixed_quantiles is not None:
            missing = [x for x in q if float(x) not in self.fixed_quantiles]
            if not missing:
                return [self.fixed_quantiles[float(x)] for x in q]
        sketch = self._require_sketch(f"quantiles {list(q)}")
        if sketch.is_empty():
            return [math.nan for _ in q]
        return [float(v) for v in sketch.get_quantiles(list(map(float, q)))]

    def cdf(self, points: Sequence[float]) -> list[float]:
        """The share of finite values ``<= x`` for each point (from the sketch)."""
        sketch = self._require_sketch("a CDF")
        return [float(sketch.get_rank(float(x), True)) for x in points]

    def bin_counts(self, edges: Sequence[float]) -> tuple[np.ndarray, bool]:
        """Counts of the finite values below ``edges[0]``, in each bin (the last one closed, as
        ``numpy.histogram``) and above ``edges[-1]``: ``len(edges) + 1`` numbers, and whether
        they are exact.

        On the stored histogram's edges the counts are exact; on other edges they come from the
        sketch, each bin's share within the sketch's double-sided rank error (``pmf_error``).
        """
        h = self.histogram
        if h is not None and tuple(float(e) for e in edges) == h.edges:
            return np.array([h.below, *h.counts, h.above], dtype=np.float64), True
        sketch = self._require_sketch("counts on other bins than the stored ones")
        if sketch.is_empty():
            return np.zeros(len(edges) + 1), True
        points = [float(e) for e in edges]
        below = np.array(sketch.get_cdf(points, False)[:-1])
        below[-1] = sketch.get_rank(points[-1], True)
        cumulative = np.concatenate([below, [1.0]])
        shares = np.diff(np.concatenate([[0.0], cumulative]))
        return shares * self.count, not sketch.is_estimation_mode()

    @property
    def pmf_error(self) -> float:
        """The sketch's double-sided normalized rank error: the bound on a bin's share from
        :meth:`bin_counts` on other than the stored edges."""
        sketch = self._require_sketch("bin shares")
        return float(sketch.normalized_rank_error(True)) if sketch.is_estimation_mode() else 0.0

    def weighted_sample(self) -> tuple[np.ndarray, np.ndarray]:
        """The sketch as a weighted sample: values and integer weights summing to ``count``.

        Its distribution is the sketch's estimate of the column's; a statistic computed on it
        (``scipy.stats.wasserstein_distance(values, other, weights)``) is bounded as
        docs/monitoring.md, "Profiles" says.
        """
        sketch = self._require_sketch("a weighted sample")
        pairs = list(sketch)
        values = np.array([v for v, _ in pairs], dtype=np.float64)
        weights = np.array([w for _, w in pairs], dtype=np.int64)
        order = np.argsort(values, kind="stable")
        return values[order], weights[order]

    def wasserstein_bound(self) -> float:
        """How far the Wasserstein-1 distance from :meth:`weighted_sample` may be from the
        exact one: ``ε · (max - min)`` (see docs/monitoring.md, "Profiles")."""
        self._require_sketch("a Wasserstein distance")
        if self.count == 0 or not isinstance(self.min, float) or not isinstance(self.max, float):
            return 0.0
        return self.rank_error * (self.max - self.min)

    def _require_sketch(self, what: str) -> kll_doubles_sketch:
        if self.sketch is not None:
            return self.sketch
        if self.kind != "numeric":
            raise ProfileError(f"a {self.kind} column has no {what}: it is not numeric")
        raise ProfileError(
            f"this profile (format {self.format_version}) has no quantile sketch for {what}: "
            "re-profile the dataset with `skewless datasets profile NAME`"
        )

    # -- merging -----------------------------------------------------------------------------
    def merge(self, other: ColumnProfile) -> ColumnProfile:
        """The profile of both columns' rows together."""
        if self.kind != other.kind:
            raise ProfileError(
                f"cannot merge a {self.kind} column ({self.type}) with a {other.kind} one "
                f"({other.type}): the parts hold different types under one name"
            )
        if self.format_version != FORMAT_VERSION or other.format_version != FORMAT_VERSION:
            raise ProfileError(
                "cannot merge a format 1 profile: re-profile the dataset with "
                "`skewless datasets profile NAME`"
            )
        count = self.count + other.count
        mean, m2 = chan(self.count, self.mean, self.m2, other.count, other.mean, other.m2)
        categories, overflow = merge_categories(self.categories, other.categories)
        return replace(
            self,
            count=count,
            nulls=self.nulls + other.nulls,
            infinite=self.infinite + other.infinite,
            min=extreme(min, self.min, other.min),
            max=extreme(max, self.max, other.max),
            mean=mean,
            m2=m2,
            sketch=merge_sketches(self.sketch, other.sketch),
            histogram=merge_histograms(self.histogram, other.histogram),
            distinct=merge_distinct(self.distinct, other.distinct),
            categories=categories,
            other=self.other + other.other + overflow,
            value_counts=merge_values(self.value_counts, other.value_counts),
        )

    def with_extra_nulls(self, rows: int) -> ColumnProfile:
        """This column with ``rows`` more null rows (a part of the data that lacked it)."""
        return replace(self, nulls=self.nulls + rows)

    # -- serialization -----------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        sketch = self.sketch
        return {
            "kind": self.kind,
            "type": self.type,
            "count": self.count,
            "nulls": self.nulls,
            "infinite": self.infinite,
            "min": self.min,
            "max": self.max,
            "mean": self.mean,
            "m2": self.m2,
            "sketch": base64.b64encode(sketch.serialize()).decode() if sketch else None,
            "histogram": self.histogram.to_dict() if self.histogram else None,
            "distinct": self.distinct.to_dict() if self.distinct else None,
            "categories": self.categories,
            "other": self.other,
            "value_counts": (
                [[v, n] for v, n in self.value_counts.items()]
                if self.value_counts is not None
                else None
            ),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ColumnProfile:
        sketch = data.get("sketch")
        histogram = data.get("histogram")
        distinct = data.get("distinct")
        return cls(
            kind=data["kind"],
            type=data["type"],
            count=int(data["count"]),
            nulls=int(data["nulls"]),
            infinite=int(data.get("infinite", 0)),
            min=data.get("min"),
            max=data.get("max"),
            mean=data.get("mean"),
            m2=float(data.get("m2", 0.0)),
            sketch=kll_doubles_sketch.deserialize(base64.b64decode(sketch)) if sketch else None,
            histogram=Histogram.from_dict(histogram) if histogram else None,
            distinct=DistinctSketch.from_dict(distinct) if distinct else None,
            categories=data.get("categories"),
            other=int(data.get("other", 0)),
            value_counts=(
                {float(v): int(n) for v, n in data["value_counts"]}
                if data.get("value_counts") is not None
                else None
            ),
        )

    @classmethod
    def from_column_stats(cls, stats: Mapping[str, Any], type_name: str) -> ColumnProfile:
        """A column of format 1 (the statistics of :func:`skewless.dataset_stats.column_stats`)."""
        kind = stats.get("kind", "other")
        count, nulls = int(stats.get("count", 0)), int(stats.get("nulls", 0))
        if kind == "numeric":
            std = stats.get("std")
            edges, counts = stats["histogram"]["edges"], stats["histogram"]["counts"]
            quantiles = stats.get("quantiles") or {}
            return cls(
                kind="numeric",
                type=type_name,
                count=count,
                nulls=nulls,
                infinite=int(stats.get("infinite", 0)),
                min=_float(stats.get("min")),
                max=_float(stats.get("max")),
                mean=stats.get("mean"),
                m2=(std**2) * (count - 1) if std is not None else 0.0,
                histogram=Histogram(tuple(edges), tuple(counts)) if edges else None,
                fixed_quantiles={float(q): v for q, v in quantiles.items() if v is not None},
                format_version=1,
            )
        if kind == "categorical":
            categories = dict(stats.get("categories", {}))
            other = int(categories.pop(OTHER, 0))
            is_bool = type_name == "Bool"
            return cls(
                kind="bool" if is_bool else "categorical",
                type=type_name,
                count=count,
                nulls=nulls,
                categories=categories,
                other=other,
                format_version=1,
            )
        if kind == "time":
            return cls(
                "time", type_name, count, nulls, 0, stats.get("min"), stats.get("max"),
                format_version=1,
            )  # fmt: skip
        return cls("other", type_name, count, nulls, format_version=1)


@dataclass(frozen=True)
class Profile:
    """The profiles of a table's columns, and its row count.

    Attributes:
        rows: the rows profiled.
        columns: column name -> its :class:`ColumnProfile`, in the table's order.
        format_version: 2, or 1 for statistics stored before profiles had sketches.
    """

    rows: int
    columns: dict[str, ColumnProfile]
    format_version: int = FORMAT_VERSION

    def __getitem__(self, name: str) -> ColumnProfile:
        try:
            return self.columns[name]
        except KeyError:
            raise ProfileError(
                f"the profile has no column {name!r} (it has: {', '.join(self.columns)})"
            ) from None

    def merge(self, other: Profile) -> Profile:
        """The profile of both profiles' rows together (a column one side lacks counts as
        null there)."""
        columns: dict[str, ColumnProfile] = {}
        for name in dict.fromkeys([*self.columns, *other.columns]):
            mine, theirs = self.columns.get(name), other.columns.get(name)
            if mine is not None and theirs is not None:
                columns[name] = mine.merge(theirs)
            elif mine is not None:
                columns[name] = mine.with_extra_nulls(other.rows)
            elif theirs is not None:
                columns[name] = theirs.with_extra_nulls(self.rows)
        return Profile(self.rows + other.rows, columns, min(self.format_version, FORMAT_VERSION))

    @classmethod
    def merge_all(cls, profiles: Sequence[Profile]) -> Profile:
        """The merge of every profile (an empty profile when there is none)."""
        merged = Profile(0, {})
        for profile in profiles:
            merged = merged.merge(profile)
        return merged

    def to_dict(self) -> dict[str, Any]:
        return {
            "format_version": self.format_version,
            "rows": self.rows,
            "columns": {name: c.to_dict() for name, c in self.columns.items()},
        }

    def to_bytes(self) -> bytes:
        """The profile as JSON (its ``format_version`` first)."""
        return orjson.dumps(self.to_dict())

    @classmethod
    def from_bytes(cls, raw: bytes) -> Profile:
        """A profile written by :meth:`to_bytes`."""
        data = orjson.loads(raw)
        version = data.get("format_version")
        if version != FORMAT_VERSION:
            raise ProfileError(
                f"profile format {version!r} is not readable by this skewless (it reads format "
                f"{FORMAT_VERSION}): re-profile with `skewless datasets profile NAME`"
            )
        columns = {n: ColumnProfile.from_dict(c) for n, c in data["columns"].items()}
        return cls(int(data["rows"]), columns)

    def save(self, path: Path) -> Path:
        """Write the profile to ``path`` (a temporary file renamed over it); the path."""
        temporary = path.with_name(f".{path.name}.tmp")
        temporary.write_bytes(self.to_bytes())
        temporary.replace(path)
        return path

    @classmethod
    def load(cls, path: Path) -> Profile:
        return cls.from_bytes(Path(path).read_bytes())

    @classmethod
    def from_dataset_stats(
        cls, rows: int, stats: Mapping[str, Mapping[str, Any]], types: Mapping[str, str]
    ) -> Profile:
        """Format 1: the statistics a dataset record holds (``SavedDataset.stats``)."""
        columns = {
            name: ColumnProfile.from_column_stats(s, types.get(name, "?"))
            for name, s in stats.items()
        }
        return cls(rows, columns, format_version=1)


def _float(value: Any) -> float | None:
    return None if value is None else float(value)
