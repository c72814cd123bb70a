"""Random event streams for window-aggregation tests: value columns, aggregation specs, and
docs/semantics.md's equality with its float tolerances."""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Any

from hypothesis import strategies as st

from skewless.definitions import Aggregation
from skewless.types import Float64, Int64, String

FUNCTIONS = ("count", "count_distinct", "sum", "mean", "min", "max", "std", "last", "share_above")
COLUMNS = {"amount": Float64, "qty": Int64, "cat": String}
AggregationSpec = tuple[str, str, timedelta | None, float]

values = {
    "amount": st.one_of(
        st.none(),
        st.sampled_from([0.5, -2.25, 3.0]),
        st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False),
    ),
    "qty": st.one_of(st.none(), st.integers(-5, 5)),
    "cat": st.one_of(st.none(), st.sampled_from(["x", "y", "z"])),
}
"""One strategy per aggregated column (nulls included)."""


def aggregation_specs(windows: list[timedelta | None]) -> st.SearchStrategy[list[AggregationSpec]]:
    """Lists of distinct (function, column, window, threshold) a view may aggregate."""
    return st.lists(
        st.tuples(
            st.sampled_from(FUNCTIONS),
            st.sampled_from(sorted(COLUMNS)),
            st.sampled_from(windows),
            st.sampled_from([0.0, 1.5, -1.0, 0.5]),  # 0.5 and -1.0 equal some values
        ).filter(lambda a: a[1] != "cat" or a[0] in ("count", "count_distinct", "last")),
        min_size=1,
        max_size=6,
        unique_by=lambda a: a[:3],
    )


def make_aggregations(specs: list[AggregationSpec]) -> list[Aggregation]:
    """The aggregations of ``specs``, named ``f0``, ``f1``, ..."""
    return [
        Aggregation(
            column=c,
            function=f,
            time_window=w,
            name=f"f{i}",
            threshold=t if f == "share_above" else None,
        )
        for i, (f, c, w, t) in enumerate(specs)
    ]


def share_close(got: float, want: float) -> bool:
    """``share_above``'s tolerance: a relative ``1e-9`` of the value, plus ``1e-12``."""
    return abs(got - want) <= 1e-9 * abs(want) + 1e-12


def close(function: str, got: Any, want: Any, seen: list[Any]) -> bool:
    """docs/semantics.md's equality ("Window aggregations"): exact, but sum/mean/std within
    their tolerances (``seen``: the non-null values the window held) and share_above within a
    relative 1e-9 of the value (a ratio: its values' size does not matter)."""
    if got is None or want is None:
        return got is None and want is None
    if function == "share_above":
        return share_close(got, want)
    if function not in ("sum", "mean", "std"):
        return bool(got == want)
    xs = [float(v) for v in seen]
    if function == "sum":
        bound = 1e-9 * math.fsum(abs(x) for x in xs)
    elif function == "mean":
        bound = 1e-9 * math.fsum(abs(x) for x in xs) / len(xs)
    else:
        mean = math.fsum(xs) / len(xs)
        bound = 1e-7 * max(abs(x - mean) for x in xs)
    return abs(got - want) <= bound + 1e-12
