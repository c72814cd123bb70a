"""The parts of a column profile that merge: fixed-bin histograms, the pairwise mean and
variance update, extremes, sketches and capped counts (see :mod:`skewless.monitoring.profile`).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from datasketches import kll_doubles_sketch

from skewless.errors import ProfileError
from skewless.monitoring.profile_distinct import DistinctSketch

__all__ = [
    "TOP_K",
    "VALUE_COUNTS",
    "Histogram",
    "chan",
    "extreme",
    "merge_categories",
    "merge_distinct",
    "merge_histograms",
    "merge_sketches",
    "merge_values",
    "top_categories",
]

TOP_K = 1000
"""Categories counted one by one; the rest are summed in ``other``."""
VALUE_COUNTS = 100
"""A numeric column with at most this many distinct values keeps the count of each."""


@dataclass(frozen=True)
class Histogram:
    """Exact counts of a numeric column's finite values on fixed bin ``edges``.

    Bin ``i`` holds ``edges[i] <= x < edges[i + 1]``, the last bin closed on the right (as
    ``numpy.histogram``); ``below`` and ``above`` count the values outside the edges.
    """

    edges: tuple[float, ...]
    counts: tuple[int, ...]
    below: int = 0
    above: int = 0

    def merged(self, other: Histogram) -> Histogram:
        if self.edges != other.edges:
            raise ProfileError(
                "cannot merge histograms on different bins: profile both parts with the same "
                "bins= (the reference's edges)"
            )
        counts = tuple(a + b for a, b in zip(self.counts, other.counts, strict=True))
        return Histogram(self.edges, counts, self.below + other.below, self.above + other.above)

    def to_dict(self) -> dict[str, Any]:
        return {
            "edges": list(self.edges),
            "counts": list(self.counts),
            "below": self.below,
            "above": self.above,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Histogram:
        return cls(
            tuple(float(e) for e in data["edges"]),
            tuple(int(c) for c in data["counts"]),
            int(data.get("below", 0)),
            int(data.get("above", 0)),
        )


def chan(
    na: int, ma: float | None, m2a: float, nb: int, mb: float | None, m2b: float
) -> tuple[float | None, float]:
    """Mean and M2 of two parts (Chan, Golub and LeVeque's pairwise update)."""
    if nb == 0 or mb is None:
        return ma, m2a
    if na == 0 or ma is None:
        return mb, m2b
    n = na + nb
    delta = mb - ma
    return ma + delta * nb / n, m2a + m2b + delta * delta * na * nb / n


def extreme(pick: Any, a: Any, b: Any) -> Any:
    if a is None:
        return b
    if b is None:
        return a
    return pick(a, b)


def merge_sketches(
    a: kll_doubles_sketch | None, b: kll_doubles_sketch | None
) -> kll_doubles_sketch | None:
    if a is None or b is None:
        return a if b is None else b
    merged = copy.copy(a)
    merged.merge(b)
    return merged


def merge_histograms(a: Histogram | None, b: Histogram | None) -> Histogram | None:
    if a is None or b is None:
        return None
    return a.merged(b)


def merge_distinct(a: DistinctSketch | None, b: DistinctSketch | None) -> DistinctSketch | None:
    if a is None or b is None:
        return a if b is None else b
    return a.merged(b)


def _summed(a: dict[str, int] | None, b: dict[str, int] | None) -> dict[str, int] | None:
    if a is None or b is None:
        return a if b is None else b
    out = dict(a)
    for value, n in b.items():
        out[value] = out.get(value, 0) + n
    return out


def top_categories(counts: dict[str, int], k: int = TOP_K) -> tuple[dict[str, int], int]:
    """The ``k`` most frequent values (ties by value) and the sum of the rest."""
    if len(counts) <= k:
        return dict(sorted(counts.items(), key=lambda p: (-p[1], p[0]))), 0
    pairs = sorted(counts.items(), key=lambda p: (-p[1], p[0]))
    return dict(pairs[:k]), sum(n for _, n in pairs[k:])


def merge_values(a: dict[float, int] | None, b: dict[float, int] | None) -> dict[float, int] | None:
    if a is None or b is None:
        return None
    out = dict(a)
    for value, n in b.items():
        out[value] = out.get(value, 0) + n
    return dict(sorted(out.items())) if len(out) <= VALUE_COUNTS else None


def merge_categories(
    a: dict[str, int] | None, b: dict[str, int] | None
) -> tuple[dict[str, int] | None, int]:
    summed = _summed(a, b)
    return (None, 0) if summed is None else top_categories(summed)
