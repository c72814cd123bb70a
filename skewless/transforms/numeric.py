"""Numeric building blocks: ratios with safe division, the trend ratio, and bucketing.

Numbers are compared and divided as 64-bit floats in every shape (an int is first rounded to
the nearest float, as numpy does), so a list and a Series with the same values give the same
results. Results are null rather than NaN: None in lists, NaN in float Series (which Arrow and
the store read as null), ``<NA>`` in nullable-integer Series.

Example:
    >>> safe_ratio([3, 1, None, 4], [4, 0, 2, None])
    [0.75, None, None, None]
    >>> safe_ratio([1, 5], [0, None], default=0.0)
    [0.0, 0.0]
    >>> trend_ratio(12.0, 8.0)
    1.5
    >>> bucketize([18, 25, 30, 99, 120, None], [0, 25, 35, 50, 100],
    ...           labels=["young", "middle", "senior", "elder"])
    ['young', 'young', 'middle', 'elder', None, None]
    >>> import pandas as pd
    >>> safe_ratio(pd.Series([3.0, 1.0]), pd.Series([4.0, 0.0])).tolist()
    [0.75, nan]
    >>> bucketize(pd.Series([5.0, 30.0]), [0, 25, 35]).tolist()
    [0, 1]
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Sequence
from itertools import pairwise
from typing import Any

from skewless.errors import DefinitionError
from skewless.transforms._values import floats, is_null, shape_of, to_float

__all__ = ["bucketize", "safe_ratio", "trend_ratio"]


def safe_ratio(numerator: Any, denominator: Any, default: float | None = None) -> Any:
    """``numerator / denominator``, with ``default`` where the denominator is null or zero.

    Rules, per value: a null numerator gives null; otherwise a null (None, NaN) or zero
    denominator gives ``default`` (None: null); otherwise the float quotient, null if it is NaN
    (``inf / inf``).

    Args:
        numerator: a number, a list of numbers (None for null) or a numeric Series.
        denominator: the same; scalars broadcast against lists and Series.
        default: the value where the division is not defined (a float, or None for null).

    Returns:
        A float (or None) per row, in the input's shape; a Series is of dtype float64 with NaN
        for null.

    Raises:
        TypeError: a value is not a number.
    """
    fallback = _default(default)
    shape = shape_of("safe_ratio", numerator, denominator)
    if shape.kind == "series":
        import numpy as np
        import pandas as pd

        top = floats(shape.series(numerator), "safe_ratio numerator")
        bottom = floats(shape.series(denominator), "safe_ratio denominator")
        with np.errstate(all="ignore"):
            out = top / bottom
        undefined = np.isnan(bottom) | (bottom == 0)
        out[undefined] = np.nan if fallback is None else fallback
        out[np.isnan(top)] = np.nan
        return pd.Series(out, index=shape.index, dtype="float64")
    tops, bottoms = shape.lists(numerator, denominator)
    results = [_ratio(t, b, fallback) for t, b in zip(tops, bottoms, strict=True)]
    return shape.wrap(results)


def trend_ratio(short_mean: Any, long_mean: Any, default: float | None = None) -> Any:
    """The trend of a value: its short-window mean over its long-window mean (e.g. 7d / 30d).

    Above 1 the recent level is higher than the long-run level. A :func:`safe_ratio`: null
    when the short mean is null, ``default`` when the long mean is null or zero.

    Example:
        >>> trend_ratio([20.0, 5.0, 3.0], [10.0, 10.0, 0.0])
        [2.0, 0.5, None]
    """
    return safe_ratio(short_mean, long_mean, default)


def bucketize(value: Any, boundaries: Sequence[float], labels: Sequence[Any] | None = None) -> Any:
    """The bucket of each value among right-closed intervals, as ``pandas.cut(value, bins)``.

    ``boundaries`` ``[b0, b1, ..., bn]`` make the buckets ``(b0, b1], (b1, b2], ...,
    (bn-1, bn]``. A value at or below ``b0``, above ``bn``, or null gives null; use
    ``float("-inf")`` and ``float("inf")`` as the outer boundaries to give every number a
    bucket.

    Args:
        value: a number, a list of numbers (None for null) or a numeric Series.
        boundaries: at least two strictly increasing numbers.
        labels: one label per bucket (``len(boundaries) - 1``); by default the bucket's
            index 0 ... n-1.

    Returns:
        The label (or None) per value, in the input's shape; a Series is of dtype ``Int64``
        without labels, ``object`` with them.

    Raises:
        DefinitionError: fewer than two boundaries, boundaries not increasing or NaN, or a
            number of labels that does not match.
        TypeError: a value is not a number.
    """
    edges = _edges(boundaries, labels)
    names = None if labels is None else list(labels)
    shape = shape_of("bucketize", value)
    if shape.kind == "series":
        import numpy as np
        import pandas as pd

        numbers = floats(value, "bucketize value")
        slot = np.searchsorted(np.asarray(edges, dtype="float64"), numbers, side="left")
        inside = (slot >= 1) & (slot <= len(edges) - 1) & ~np.isnan(numbers)
        index = np.where(inside, slot - 1, 0)
        if names is None:
            codes = pd.array(index, dtype="Int64")
            codes[~inside] = pd.NA
            return pd.Series(codes, index=shape.index)
        picked = np.empty(len(numbers), dtype=object)
        for i, name in enumerate(names):
            picked[index == i] = name
        picked[~inside] = None
        return pd.Series(picked, index=shape.index, dtype=object)
    out = []
    for v in shape.lists(value)[0]:
        bucket = _bucket(v, edges)
        out.append(None if bucket is None else (bucket if names is None else names[bucket]))
    return shape.wrap(out)


def _default(default: float | None) -> float | None:
    if default is None:
        return None
    fallback = to_float(default, "safe_ratio default")
    return None if math.isnan(fallback) else fallback


def _ratio(top: Any, bottom: Any, fallback: float | None) -> float | None:
    if is_null(top):
        return None
    t = to_float(top, "safe_ratio numerator")
    if is_null(bottom):
        return fallback
    b = to_float(bottom, "safe_ratio denominator")
    if b == 0:
        return fallback
    quotient = t / b
    return None if math.isnan(quotient) else quotient


def _edges(boundaries: Sequence[float], labels: Sequence[Any] | None) -> list[float]:
    if isinstance(boundaries, str | bytes) or not isinstance(boundaries, Sequence):
        raise DefinitionError(
            f"bucketize: boundaries must be a list of numbers, got {boundaries!r}"
        )
    edges = [to_float(b, "bucketize boundary") for b in boundaries]
    if len(edges) < 2:
        raise DefinitionError(
            f"bucketize: boundaries {list(boundaries)} make no bucket; give at least two"
        )
    if any(math.isnan(e) for e in edges) or any(a >= b for a, b in pairwise(edges)):
        raise DefinitionError(
            f"bucketize: boundaries {list(boundaries)} must be strictly increasing numbers"
        )
    if labels is not None and (isinstance(labels, str | bytes) or len(labels) != len(edges) - 1):
        raise DefinitionError(
            f"bucketize: {len(edges) - 1} bucket(s) from boundaries {list(boundaries)} "
            f"need as many labels, got {labels!r}"
        )
    return edges


def _bucket(value: Any, edges: list[float]) -> int | None:
    if is_null(value):
        return None
    slot = bisect_left(edges, to_float(value, "bucketize value"))
    return slot - 1 if 1 <= slot <= len(edges) - 1 else None
